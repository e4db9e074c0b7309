"""Syscall names and ids as Tetragon's syscall lists and syscall64 arguments
read them (pkg/sensors/tracing/syscall_list.go, pkg/arch/arch.go,
pkg/syscallinfo; v1.7.0). The numbers are vigil.kernel.syscall_table's,
generated from Debian's kernel headers.

A list value names a syscall in one of these spellings:

- ``sys_dup`` or ``dup``: the machine's own ABI (x64 on x86_64, arm64 on aarch64);
- ``__x64_sys_dup``, ``__arm64_sys_dup``, ``__ia32_sys_dup``: the ABI its prefix
  names (arch.CutSyscallPrefix), whatever the machine;
- ``i386/sys_dup``, ``x64/__x64_sys_dup``: an explicit ABI, whose prefix, if
  any, must belong to it (validateABI).

A 32-bit ABI's id carries bit 31 (Tetragon's Is32Bit), as the kernel side
marks a syscall64 argument read from a compat task. arm32 is an ABI Tetragon
knows but vigil has no table for.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

from vigil.kernel.syscall_table import SYSCALLS

__all__ = ["IS_32BIT", "SyscallId", "default_abi", "generated_syscalls", "syscall_id",
           "syscall_name"]

IS_32BIT = 0x8000_0000
# Tetragon's arch.supportedArchPrefix, by the ABI each prefix means
_PREFIXES = {"__x64_": "x64", "__arm64_": "arm64", "__ia32_": "i386"}
_MACHINES = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}
# validateABI: the ABIs a prefix's architecture may be named with
_PREFIX_ABIS = {"x64": ("x64", "i386"), "i386": ("i386",), "arm64": ("arm64", "arm32")}
_32BIT = frozenset({"i386", "arm32"})


@dataclass(frozen=True, slots=True)
class SyscallId:
    """A syscall64 value as Tetragon shows it: {"id": N, "abi": "x64"}."""

    id: int
    abi: str


def default_abi(machine: str | None = None) -> str:
    """syscallinfo.DefaultABI: the ABI of this machine's native syscalls."""
    m = machine or platform.machine()
    if m not in _MACHINES:
        raise ValueError(f"syscall lists need an x86_64 or aarch64 machine, not {m}")
    return _MACHINES[m]


def _cut_prefix(text: str) -> tuple[str | None, str]:
    for prefix, abi in _PREFIXES.items():
        if text.startswith(prefix):
            return abi, text[len(prefix):]
    return None, text


def _parse(value: str, machine: str | None) -> tuple[str, str]:
    """(abi, name) of a list value, as parseSyscallValue reads it."""
    parts = value.split("/")
    if len(parts) == 1:
        abi, name = _cut_prefix(value)
        return abi or default_abi(machine), name
    if len(parts) != 2:
        raise ValueError(f"'{value}' is not a syscall: write sys_NAME, __x64_sys_NAME or "
                         "ABI/sys_NAME")
    abi, rest = parts
    prefix_abi, name = _cut_prefix(rest)
    if prefix_abi is None and abi not in ("x64", "i386", "arm64", "arm32"):
        raise ValueError(f"'{value}': {abi!r} is not an ABI (x64, i386, arm64, arm32)")
    if prefix_abi is not None and abi not in _PREFIX_ABIS[prefix_abi]:
        raise ValueError(f"'{value}': ABI {abi} does not go with the prefix of {rest}")
    return abi, name


def syscall_id(value: str, machine: str | None = None) -> int:
    """The id Tetragon puts in the map for a syscall list value (SyscallVal.ID);
    ValueError saying what is wrong."""
    abi, name = _parse(value, machine)
    if abi not in SYSCALLS:
        raise ValueError(f"'{value}': vigil has no syscall table for the {abi} ABI "
                         f"(it has {', '.join(SYSCALLS)})")
    bare = name.removeprefix("sys_")
    nr = SYSCALLS[abi].get(bare)
    if nr is None:
        raise ValueError(f"'{value}': {abi} has no syscall {bare!r}")
    return nr | IS_32BIT if abi in _32BIT else nr


def syscall_name(value: int, machine: str | None = None) -> SyscallId:
    """A syscall64 argument's value -> its id and ABI (parseSyscall64Value)."""
    abi32 = bool(value & IS_32BIT)
    native = default_abi(machine)
    abi = {"x64": "i386", "arm64": "arm32"}[native] if abi32 else native
    return SyscallId(value & ~IS_32BIT & 0xFFFF_FFFF, abi)


def generated_syscalls(btf_functions: frozenset[str] | set[str],
                       machine: str | None = None) -> list[str]:
    """A generated_syscalls list's values (btf.GetSyscallsList): the native
    ABI's syscalls whose __<arch>_sys_ function the kernel's BTF has, as those
    symbols."""
    abi = default_abi(machine)
    prefix = next(p for p, a in _PREFIXES.items() if a == abi)
    return [f"{prefix}sys_{name}" for name, _ in sorted(SYSCALLS[abi].items(),
                                                        key=lambda kv: kv[1])
            if f"{prefix}sys_{name}" in btf_functions]
