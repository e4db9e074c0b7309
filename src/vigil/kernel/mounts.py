"""The pseudo file systems BPF tooling needs, mounted on demand.

- tracefs at /sys/kernel/tracing: tracepoint ids, legacy kprobe/uprobe events;
- bpffs at /sys/fs/bpf: pinning maps, programs and links;
- securityfs at /sys/kernel/security: the active LSM list and lockdown mode.

``ensure_*`` mount the file system when it is absent (mount(2) through libc)
and raise ``MountError`` saying what failed and what to do when that is
impossible. ``mounted()`` only looks, for the probe's report.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno as _errno
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BPFFS",
    "SECURITYFS",
    "TRACEFS",
    "MountError",
    "PseudoFs",
    "cgroup2_mount",
    "ensure_bpffs",
    "ensure_securityfs",
    "ensure_tracefs",
    "fs_type_at",
    "mounted",
]


@dataclass(frozen=True)
class PseudoFs:
    """A pseudo file system: its type for mount(2), where it lives, what needs it."""

    fstype: str
    path: str
    config: str
    mode: int = 0o755


TRACEFS = PseudoFs("tracefs", "/sys/kernel/tracing", "CONFIG_TRACING")
BPFFS = PseudoFs("bpf", "/sys/fs/bpf", "CONFIG_BPF_SYSCALL", 0o700)
SECURITYFS = PseudoFs("securityfs", "/sys/kernel/security", "CONFIG_SECURITYFS")


class MountError(OSError):
    """A pseudo file system is absent and could not be mounted."""


def _unescape(field: str) -> str:
    """/proc/self/mounts escapes space, tab, newline and backslash as octal."""
    return (
        field.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
    )


def fs_type_at(path: str, mounts_text: str | None = None) -> str | None:
    """The type of the file system mounted exactly at ``path`` (last mount wins)."""
    if mounts_text is None:
        try:
            mounts_text = Path("/proc/self/mounts").read_text()
        except OSError:
            return None
    found = None
    for line in mounts_text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and _unescape(parts[1]) == path:
            found = parts[2]
    return found


def cgroup2_mount(mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """Where the cgroup v2 hierarchy's root is mounted (a hybrid host mounts
    it at /sys/fs/cgroup/unified), or None."""
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if sep and right.split()[:1] == ["cgroup2"] and len(fields) >= 5 and fields[3] == "/":
            return _unescape(fields[4])
    return None


def mounted(fs: PseudoFs, mounts_text: str | None = None) -> bool:
    return fs_type_at(fs.path, mounts_text) == fs.fstype


def _libc_mount(source: str, target: str, fstype: str) -> int:
    """mount(2); returns 0 or the errno."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    mount = libc.mount
    mount.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_void_p,
    ]
    mount.restype = ctypes.c_int
    if mount(source.encode(), target.encode(), fstype.encode(), 0, None) == 0:
        return 0
    return ctypes.get_errno()


def _fstype_known(fstype: str) -> bool:
    try:
        text = Path("/proc/filesystems").read_text()
    except OSError:
        return True  # cannot tell: let mount(2) decide
    return any(line.split()[-1] == fstype for line in text.splitlines() if line.strip())


def _ensure(fs: PseudoFs) -> str:
    if mounted(fs):
        return fs.path
    if not _fstype_known(fs.fstype):
        raise MountError(
            _errno.ENODEV,
            f"cannot mount {fs.fstype} at {fs.path}: this kernel has no {fs.fstype} "
            f"file system (built without {fs.config}); use a kernel that has it",
        )
    try:
        os.makedirs(fs.path, mode=fs.mode, exist_ok=True)
    except OSError as e:
        raise MountError(
            e.errno,
            f"cannot create mount point {fs.path} for {fs.fstype}: {e.strerror}; "
            "run as root, or create and mount it yourself: "
            f"`mount -t {fs.fstype} {fs.fstype} {fs.path}`",
        ) from e
    err = _libc_mount(fs.fstype, fs.path, fs.fstype)
    if err == _errno.EBUSY and mounted(fs):
        return fs.path  # someone else mounted it meanwhile
    if err:
        name = _errno.errorcode.get(err, str(err))
        if err == _errno.EPERM:
            hint = (
                "mounting needs root (CAP_SYS_ADMIN in the initial mount namespace); "
                "run vigil as root, or in a container bind-mount it from the host "
                f"(-v {fs.path}:{fs.path})"
            )
        else:
            hint = f"mount it yourself: `mount -t {fs.fstype} {fs.fstype} {fs.path}`"
        raise MountError(
            err, f"cannot mount {fs.fstype} at {fs.path}: {name} ({os.strerror(err)}); {hint}"
        )
    return fs.path


def ensure_tracefs() -> str:
    """Mount tracefs at /sys/kernel/tracing if absent; returns the path."""
    return _ensure(TRACEFS)


def ensure_bpffs() -> str:
    """Mount bpffs at /sys/fs/bpf if absent; returns the path."""
    return _ensure(BPFFS)


def ensure_securityfs() -> str:
    """Mount securityfs at /sys/kernel/security if absent; returns the path."""
    return _ensure(SECURITYFS)
