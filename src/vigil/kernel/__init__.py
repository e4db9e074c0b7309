"""What the running kernel offers BPF, found by trying (``vigil probe``).

- ``vigil.kernel.probe``: ``probe_all() -> ProbeReport`` (cached per process);
- ``vigil.kernel.report``: ``Feature``, ``KernelInfo``, ``ProbeReport``;
- ``vigil.kernel.mounts``: ``ensure_tracefs()``, ``ensure_bpffs()``, ``ensure_securityfs()``;
- ``vigil.kernel.cli``: the ``vigil probe`` subcommand.

Nothing is imported here, so ``vigil.kernel.mounts`` stays usable without libbpf.
"""
