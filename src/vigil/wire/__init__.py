"""Wire records: the Python mirrors of bpf/events.h and the decoders keyed by op.

The bottom layer above the binding: it imports nothing else of vigil."""
