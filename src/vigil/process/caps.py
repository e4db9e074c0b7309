"""Capability bit -> name, as Tetragon's CapabilitiesType enum spells it.

The bits are the kernel's (include/uapi/linux/capability.h); the names are
Tetragon's (src/vigil/api/proto/tetragon/capabilities.proto), which are the
kernel's except bit 1: "DAC_OVERRIDE", not "CAP_DAC_OVERRIDE". A reader that
parses events with Tetragon's protobuf definitions rejects any other spelling.
A bit Tetragon has no name for is written as its number, as protobuf's JSON
writes an enum value its definition lacks.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["CAP_NAMES", "cap_names"]

CAP_NAMES: tuple[str, ...] = (
    "CAP_CHOWN",
    "DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)


@lru_cache(maxsize=256)
def cap_names(mask: int) -> tuple[str | int, ...]:
    """The bits set in a 64-bit capability mask, lowest first: Tetragon's name
    for each, or the bit number for one it has not named. Cached: a host has
    few distinct masks, and every event names some."""
    names: list[str | int] = []
    bit = 0
    while mask:
        if mask & 1:
            names.append(CAP_NAMES[bit] if bit < len(CAP_NAMES) else bit)
        mask >>= 1
        bit += 1
    return tuple(names)
