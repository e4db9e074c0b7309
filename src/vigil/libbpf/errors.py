"""Exceptions raised by vigil's libbpf binding.

Every error says what failed, on what, and what a person can do about it::

    BpfError                      anything the binding raises on purpose
    ├── LibbpfMissingError        libbpf.so.1 is not installed
    ├── ObjectOpenError           a .bpf.o could not be opened (path, errno)
    ├── LoadError                 the kernel (often the verifier) refused the object
    ├── AttachError               a program could not be attached to its hook
    └── MapError                  a map operation failed, or sizes do not match

Lookups of names that do not exist (a program, a map, a ``const volatile``
knob, a map key) raise ``KeyError`` instead, as a mapping would.

This module is pure Python: it formats messages and parses libbpf's output,
so it is unit-tested without a kernel.
"""

from __future__ import annotations

import errno as _errno
import os
import re
from collections.abc import Sequence

__all__ = [
    "AttachError",
    "BpfError",
    "LibbpfMissingError",
    "LoadError",
    "MapError",
    "ObjectOpenError",
    "describe_errno",
]

# libbpf's own error codes (enum libbpf_errno in libbpf.h); os.strerror knows none of them.
_LIBBPF_ERRNOS = {
    4000: ("LIBBPF_ERRNO__LIBELF", "something went wrong in libelf"),
    4001: ("LIBBPF_ERRNO__FORMAT", "BPF object format invalid"),
    4002: ("LIBBPF_ERRNO__KVERSION", "incorrect or no 'version' section"),
    4003: ("LIBBPF_ERRNO__ENDIAN", "endian mismatch"),
    4004: ("LIBBPF_ERRNO__INTERNAL", "internal error in libbpf"),
    4005: ("LIBBPF_ERRNO__RELOC", "relocation failed"),
    4006: ("LIBBPF_ERRNO__LOAD", "load program failure for unknown reason"),
    4007: ("LIBBPF_ERRNO__VERIFY", "kernel verifier blocks program loading"),
    4008: ("LIBBPF_ERRNO__PROG2BIG", "program too big"),
    4009: ("LIBBPF_ERRNO__KVER", "incorrect kernel version"),
    4010: ("LIBBPF_ERRNO__PROGTYPE", "kernel doesn't support this program type"),
    4011: ("LIBBPF_ERRNO__WRNGPID", "wrong pid in netlink message"),
    4012: ("LIBBPF_ERRNO__INVSEQ", "invalid netlink sequence"),
    4013: ("LIBBPF_ERRNO__NLPARSE", "netlink parsing error"),
}

# How many verifier lines str(LoadError) shows: the verdict is at the end.
LOG_TAIL_LINES = 30

_BEGIN_LOG = "-- BEGIN PROG LOAD LOG --"
_END_LOG = "-- END PROG LOAD LOG --"
# "prog 'x': BPF program load failed", "prog 'x': failed to resolve CO-RE relocation ..."
_FAILED_PROG = re.compile(r"prog '([^']+)':.*\bfail")


def describe_errno(err: int) -> str:
    """'EACCES (Permission denied)' for an errno, including libbpf's 4000+ codes."""
    err = abs(err)
    if err in _LIBBPF_ERRNOS:
        name, text = _LIBBPF_ERRNOS[err]
        return f"{name} ({text})"
    name = _errno.errorcode.get(err, f"errno {err}")
    return f"{name} ({os.strerror(err)})"


class BpfError(Exception):
    """Base class of every error the binding raises on purpose."""


class LibbpfMissingError(BpfError):
    """libbpf.so.1 could not be loaded."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(
            f"libbpf.so.1 could not be loaded ({detail}); "
            "install it with `apt-get install libbpf1` (Debian/Ubuntu)"
        )


class ObjectOpenError(BpfError):
    """bpf_object__open_file failed: the file is missing or is not a BPF ELF object."""

    def __init__(self, path: str, errno: int) -> None:
        self.path = path
        self.errno = abs(errno)
        super().__init__(
            f"cannot open BPF object {path}: {describe_errno(self.errno)}; {_open_hint(self.errno)}"
        )


def _open_hint(err: int) -> str:
    if err == _errno.ENOENT:
        return "the file does not exist: build the BPF objects with `make build`"
    if err in (_errno.EACCES, _errno.EPERM):
        return "the file is not readable by this user"
    if err in (4000, 4001, 4003, _errno.EINVAL, _errno.ENOEXEC):
        return (
            "it is not a valid BPF ELF object: rebuild it with `make build` "
            "(clang -target bpf -g; BTF is required)"
        )
    return "see the libbpf messages logged under 'vigil.libbpf'"


class LoadError(BpfError):
    """bpf_object__load failed; carries the verifier log when the kernel produced one.

    ``verifier_log`` is the kernel's log for the rejected program. When the
    failure happened before any program reached the verifier (a map could not
    be created, a CO-RE relocation failed) it holds libbpf's own messages
    instead, since those are what explain the failure.
    """

    def __init__(
        self,
        errno: int,
        verifier_log: str,
        program: str | None = None,
        path: str | None = None,
    ) -> None:
        self.errno = abs(errno)
        self.verifier_log = verifier_log
        self.program = program
        self.path = path
        super().__init__(self._message())

    @classmethod
    def from_libbpf_output(
        cls, errno: int, output: Sequence[str], path: str | None = None
    ) -> LoadError:
        """Build the error from the messages libbpf printed during the load."""
        program, log = parse_load_output(output)
        return cls(errno, log, program=program, path=path)

    def _message(self) -> str:
        what = f"program '{self.program}'" if self.program else "object"
        where = f" in {self.path}" if self.path else ""
        head = f"cannot load {what}{where}: {describe_errno(self.errno)}"
        lines = self.verifier_log.rstrip("\n").splitlines()
        tail = lines[-LOG_TAIL_LINES:]
        parts = [head]
        if tail:
            skipped = len(lines) - len(tail)
            label = "verifier log" if self.program else "libbpf log"
            label += f" (last {len(tail)} of {len(lines)} lines)" if skipped else ""
            parts.append(f"{label}:")
            parts.extend(f"  {line}" for line in tail)
        parts.append(f"hint: {_load_hint(self.errno, self.verifier_log)}")
        return "\n".join(parts)


def parse_load_output(output: Sequence[str]) -> tuple[str | None, str]:
    """Split libbpf's load messages into (failed program, verifier log).

    libbpf prints the kernel's log between BEGIN/END PROG LOAD LOG markers;
    when there is none, all of libbpf's messages are returned as the log.
    """
    text = "".join(m if m.endswith("\n") else m + "\n" for m in output)
    program = None
    for message in output:
        found = _FAILED_PROG.search(message)
        if found:
            program = found.group(1)
            break
    begin = text.find(_BEGIN_LOG)
    if begin >= 0:
        start = begin + len(_BEGIN_LOG)
        end = text.find(_END_LOG, start)
        return program, text[start : end if end >= 0 else len(text)].strip("\n") + "\n"
    return program, text


def _load_hint(err: int, log: str) -> str:
    if "stack size" in log or "stack limit" in log or "combined stack" in log:
        return (
            "the program (with the functions it calls) uses more than 512 bytes of "
            "stack: move large structs into a per-CPU array 'heap' map"
        )
    if "unbounded" in log or "out of bounds" in log or "invalid access" in log:
        return (
            "an access is not proven to stay in bounds: compare the index or offset with "
            "the size (or mask it) before the access, so the verifier can see the bound"
        )
    if err == _errno.EPERM:
        return (
            "run as root (CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN). If already root, this "
            "kernel refuses the program type (lockdown, or fentry/fexit/lsm unavailable): "
            "use the hook's fallback"
        )
    if err in (_errno.EACCES, _errno.EINVAL, 4007) and log.strip():
        return "the verifier rejected the program; its last lines above say why"
    if err == _errno.E2BIG or err == 4008:
        return "the program is too large or too complex: split it or bound its loops"
    if err in (_errno.ENOENT, _errno.ESRCH, 4005):
        return (
            "a CO-RE relocation, helper, kfunc or attach target this object needs is "
            "missing on this kernel; the libbpf log names it"
        )
    if err == _errno.ENOMEM:
        return "a map could not be allocated: lower its max_entries or raise RLIMIT_MEMLOCK"
    return "see the log above and the messages logged under 'vigil.libbpf'"


class AttachError(BpfError):
    """A program could not be attached to its hook."""

    def __init__(self, program: str, target: str, errno: int, kind: str = "") -> None:
        self.program = program
        self.target = target
        self.errno = abs(errno)
        self.kind = kind
        super().__init__(
            f"cannot attach program '{program}' to {target}: {describe_errno(self.errno)}; "
            f"{_attach_hint(self.errno, kind)}"
        )


def _attach_hint(err: int, kind: str) -> str:
    if err == _errno.ENOENT:
        if kind in ("uprobe", "usdt"):
            return "the binary, symbol or USDT probe was not found: check the path and name"
        if kind in ("tracepoint", "raw_tracepoint"):
            return (
                "this tracepoint does not exist on this kernel (see "
                "/sys/kernel/tracing/events; is tracefs mounted at /sys/kernel/tracing?)"
            )
        return "the hook does not exist on this kernel"
    if err in (_errno.EPERM, _errno.EACCES):
        return (
            "attaching needs root (CAP_BPF + CAP_PERFMON); if already root, kernel lockdown "
            "or this hook type is refused here: use its fallback hook"
        )
    if err in (_errno.EOPNOTSUPP, _errno.ENOTSUP) and kind == "auto":
        return (
            "libbpf cannot auto-attach this section: it names no target (e.g. a bare "
            "'uprobe'), or this kind of hook is unavailable here; call the matching "
            "attach_* method with an explicit target"
        )
    if err in (_errno.EOPNOTSUPP, _errno.ENOTSUP):
        return (
            "this kernel cannot attach this kind of program (e.g. kprobes disabled): "
            "use a fallback hook such as a tracepoint"
        )
    if err == _errno.EINVAL:
        return (
            "the program type does not match the hook, or its section name gives libbpf "
            "no target: use an explicit attach_* method"
        )
    if err == _errno.ESRCH:
        return "no such process: check the pid"
    if err == _errno.EEXIST or err == _errno.EBUSY:
        return "something is already attached there exclusively"
    return "see the messages logged under 'vigil.libbpf'"


class MapError(BpfError):
    """A map operation failed, or a key/value does not match the map's sizes."""

    def __init__(self, message: str, errno: int = 0) -> None:
        self.errno = abs(errno)
        if errno:
            message = f"{message}: {describe_errno(errno)}"
        super().__init__(message)
