"""Turn the errno of a failed load or attach into words a person can act on.

The kernel answers "no" with a bare errno; what it means depends on the step
(load or attach) and on the kind of hook. ``explain`` holds that knowledge;
the probe adds facts it measured (a missing tracefs file, the LSM list) on top.
Pure Python: unit-tested without a kernel.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import Literal

__all__ = ["ENOTSUPP", "Step", "errno_name", "explain"]

# The kernel's internal "operation not supported" (include/linux/errno.h). It leaks
# to user space from BPF syscalls, but Python's errno module does not know it.
ENOTSUPP = 524

Step = Literal["load", "attach", "run"]

_EXTRA_NAMES = {ENOTSUPP: ("ENOTSUPP", "Operation not supported by this kernel")}

# (step, errno) -> meaning, for any kind of hook.
_GENERIC: dict[tuple[Step, int], str] = {
    ("load", _errno.EPERM): (
        "the kernel refuses this program type for this caller "
        "(needs CAP_BPF/CAP_SYS_ADMIN, or a lockdown/LSM policy forbids it)"
    ),
    ("load", _errno.EACCES): "the verifier rejected the program",
    ("load", _errno.EINVAL): ("the kernel does not know this program type, attach type or helper"),
    ("load", _errno.E2BIG): "the program or its BTF is too big for this kernel",
    ("load", _errno.ENOENT): "a kernel symbol, BTF type or kfunc the program needs is missing",
    ("load", _errno.ESRCH): "the target function has no BTF in this kernel",
    ("load", _errno.EOPNOTSUPP): "this kernel does not support the program type",
    ("load", ENOTSUPP): "this kernel does not support the program type on this architecture",
    ("load", _errno.ENOMEM): "the kernel ran out of memory (or RLIMIT_MEMLOCK is too low)",
    ("attach", _errno.ENOENT): "the hook point does not exist in this kernel",
    ("attach", _errno.EPERM): "the kernel refuses to attach this kind of program",
    ("attach", _errno.EACCES): "attaching is forbidden by a lockdown or LSM policy",
    ("attach", _errno.EINVAL): "the kernel cannot attach this program to that hook",
    ("attach", _errno.EOPNOTSUPP): "this attach type is not supported by this kernel",
    ("attach", ENOTSUPP): "this attach type is not supported by this kernel",
    ("attach", _errno.ESRCH): "the target symbol or probe could not be found",
    ("attach", _errno.EBUSY): "another program already holds this hook exclusively",
    ("attach", _errno.ENODEV): "the event source for this hook is not available",
    ("attach", _errno.EEXIST): "the probe point is already registered",
}

# Hook-specific meanings that beat the generic ones.
_BY_KIND: dict[tuple[str, Step, int], str] = {
    ("kprobe", "attach", _errno.ENOENT): (
        "no kprobe PMU and no tracefs kprobe_events: kernel built without CONFIG_KPROBES"
    ),
    ("kprobe", "attach", _errno.EOPNOTSUPP): (
        "kernel built without CONFIG_KPROBES (or the symbol is not probeable)"
    ),
    ("kprobe", "attach", _errno.EINVAL): "the symbol is not probeable (blacklisted or inlined)",
    ("trampoline", "load", _errno.EPERM): (
        "this kernel refuses BPF trampoline programs (fentry/fexit/fmod_ret/lsm) "
        "even to root: a security policy or the kernel build forbids them"
    ),
    ("trampoline", "load", _errno.EINVAL): (
        "the target is not allowed for this attach type "
        "(fmod_ret needs an ALLOW_ERROR_INJECTION or security_* function)"
    ),
    ("trampoline", "load", ENOTSUPP): (
        "BPF trampolines are not implemented for this architecture or kernel"
    ),
    ("trampoline", "attach", ENOTSUPP): (
        "BPF trampolines are not implemented for this architecture or kernel"
    ),
    ("lsm", "load", _errno.EINVAL): "kernel built without CONFIG_BPF_LSM",
    ("uprobe", "attach", _errno.ENOENT): (
        "no uprobe PMU and no tracefs uprobe_events: kernel built without CONFIG_UPROBES"
    ),
    ("usdt", "attach", _errno.ENOENT): "the USDT note or its library was not found",
    ("usdt", "attach", _errno.ESRCH): (
        "libbpf's USDT maps are missing from the probe object (it was built without bpf/usdt.bpf.h)"
    ),
    ("tracepoint", "attach", _errno.ENOENT): (
        "the tracepoint does not exist (or tracefs is not mounted)"
    ),
    ("helper", "load", _errno.EINVAL): "the helper is unknown to this kernel or this program type",
}

# Which group a probed feature belongs to for _BY_KIND.
_KIND_GROUP = {
    "kretprobe": "kprobe",
    "override_return": "kprobe",
    "fentry": "trampoline",
    "fexit": "trampoline",
    "fmod_ret": "trampoline",
    "uretprobe": "uprobe",
    "raw_tracepoint": "tracepoint",
    "send_signal": "helper",
    "bpf_loop": "helper",
    "task_under_cgroup": "helper",
}


def errno_name(err: int) -> str:
    """'EPERM' for 1, 'ENOTSUPP' for 524, 'errno 9999' when nobody knows it."""
    err = abs(err)
    if err in _EXTRA_NAMES:
        return _EXTRA_NAMES[err][0]
    return _errno.errorcode.get(err, f"errno {err}")


def _strerror(err: int) -> str:
    if err in _EXTRA_NAMES:
        return _EXTRA_NAMES[err][1]
    return os.strerror(err)


def explain(kind: str, step: Step, err: int) -> str:
    """The meaning of ``err`` when ``step`` of hook ``kind`` failed.

    >>> explain("kprobe", "attach", 2)
    'ENOENT: no kprobe PMU and no tracefs kprobe_events: kernel built without CONFIG_KPROBES'
    """
    err = abs(err)
    name = errno_name(err)
    for key in (kind, _KIND_GROUP.get(kind, "")):
        meaning = _BY_KIND.get((key, step, err))
        if meaning is None and key == "lsm":
            meaning = _BY_KIND.get(("trampoline", step, err))
        if meaning:
            return f"{name}: {meaning}"
    generic = _GENERIC.get((step, err))
    if generic:
        return f"{name}: {generic}"
    return f"{name}: {_strerror(err)}"
