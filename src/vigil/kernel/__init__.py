"""What the running kernel offers BPF, found by trying (``vigil probe``).

- ``vigil.kernel.probe``: ``probe_all() -> ProbeReport`` (cached per process);
- ``vigil.kernel.report``: ``Feature``, ``KernelInfo``, ``ProbeReport``;
- ``vigil.kernel.mounts``: ``ensure_tracefs()``, ``ensure_bpffs()``, ``ensure_securityfs()``;
- ``vigil.kernel.cli``: the ``vigil probe`` subcommand;
- ``vigil.kernel.tracefs_format``: ``read_format(system, event) -> TracepointFormat``;
- ``vigil.kernel.tracepoint_args``: Tetragon's index and type rules over a format;
- ``vigil.kernel.raw_tracepoint``: ``raw_tracepoint(event)``, TP_PROTO from BTF.

Nothing is imported here, so ``vigil.kernel.mounts`` stays usable without libbpf.
"""
