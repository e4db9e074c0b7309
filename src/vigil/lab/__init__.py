"""The lab: the Tetragon kernel-side guide's demos as lessons that run, are
tested and explain themselves (`vigil lab list | run N | explain N`)."""
