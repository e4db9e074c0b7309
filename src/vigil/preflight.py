"""Checks before loading anything, each failing with what to do about it."""

from __future__ import annotations

import os

__all__ = ["PreflightError", "preflight"]


class PreflightError(Exception):
    pass


def preflight() -> None:
    if os.geteuid() != 0:
        raise PreflightError(
            "vigil needs root to load BPF programs (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN): "
            "run it with sudo"
        )
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        raise PreflightError(
            "this kernel exposes no BTF at /sys/kernel/btf/vmlinux, which CO-RE needs: "
            "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (every Debian kernel since 5.10 is)"
        )
    from vigil.kernel.mounts import ensure_bpffs, ensure_tracefs

    ensure_tracefs()
    ensure_bpffs()
