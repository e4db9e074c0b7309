"""A policy's spec.lists resolved to what a filter's `list:NAME` value stands
for: syscall ids, as Tetragon's listReader.Read gives them to InMap and
NotInMap (pkg/sensors/tracing/lists_linux.go).

Types: ``syscalls`` (the values are syscall names, vigil.kernel.syscalls reads
their spellings) and ``generated_syscalls`` (no values: every syscall of this
machine's ABI that the running kernel has, found in its BTF). A list without a
type holds kprobe call names and gives InMap nothing; ``generated_ftrace`` is
a kprobe list too (issue 9). Tetragon matches the type case-insensitively.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vigil.kernel.syscall_table import SYSCALLS
from vigil.kernel.syscalls import default_abi, generated_syscalls, syscall_id
from vigil.policy.model import ListSpec

__all__ = ["ListError", "SyscallLists", "kernel_functions", "resolve_lists",
           "syscall_function_names"]

_SYSCALL_TYPES = ("syscalls", "generated_syscalls")


@dataclass(frozen=True, slots=True)
class ListError(Exception):
    """A list that cannot be resolved: `path` inside the policy, and why."""

    path: tuple[str | int, ...]
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class SyscallLists:
    """Each syscall list's ids, by name (the first definition of a name wins,
    as Tetragon's lookup takes the first)."""

    ids: dict[str, tuple[int, ...]]
    types: dict[str, str]

    def values(self, name: str) -> tuple[int, ...]:
        """The ids of list `name`; KeyError (no such list) or ValueError (not a
        syscall list), each saying so."""
        if name not in self.types:
            raise KeyError(name)
        if name not in self.ids:
            raise ValueError(f"list '{name}' is not a syscall list (its type is "
                             f"{self.types[name] or 'none'}); InMap takes lists of type "
                             "syscalls or generated_syscalls")
        return self.ids[name]


def kernel_functions(names: Sequence[str]) -> set[str]:
    """Which of `names` the running kernel's BTF has as functions."""
    from vigil.libbpf.btf_types import Btf, BtfKind

    btf = Btf.vmlinux()
    try:
        return {n for n in names if btf.find(n, BtfKind.FUNC) is not None}
    finally:
        btf.close()


def ftrace_functions(pattern: str, path: str | None = None) -> list[str]:
    """The functions ftrace can attach to (tracefs available_filter_functions)
    whose name the regular expression `pattern` matches anywhere, as
    Tetragon's generated_ftrace lists take them; OSError when tracefs has no
    such file, re.error for a bad pattern."""
    import re

    from vigil.kernel.mounts import TRACEFS

    wanted = re.compile(pattern)
    file = path or f"{TRACEFS.path}/available_filter_functions"
    found: dict[str, None] = {}
    with open(file) as f:
        for line in f:
            name = line.split(None, 1)[0] if line.strip() else ""
            if name and wanted.search(name):
                found.setdefault(name)
    return sorted(found)


def syscall_function_names(machine: str | None) -> list[str]:
    """Every syscall function this machine's ABI could have (__x64_sys_NAME)."""
    abi = default_abi(machine)
    prefix = {"x64": "__x64_", "arm64": "__arm64_"}[abi]
    return [f"{prefix}sys_{n}" for n in SYSCALLS[abi]]


def resolve_lists(lists: Sequence[ListSpec], *, machine: str | None = None,
                  functions: Callable[[Sequence[str]], set[str]] = kernel_functions
                  ) -> SyscallLists:
    """Every syscall list's ids; raises ListError at the first bad value.
    `functions` says which kernel functions exist (generated_syscalls)."""
    ids: dict[str, tuple[int, ...]] = {}
    types: dict[str, str] = {}
    for i, lst in enumerate(lists):
        if lst.name in types:
            continue
        kind = (lst.type or "").lower()
        types[lst.name] = kind
        if kind not in _SYSCALL_TYPES:
            continue
        values = list(lst.values)
        if kind == "generated_syscalls":
            if values:
                raise ListError(("spec", "lists", i, "values"),
                                f"list '{lst.name}' is generated; remove its values")
            values = generated_syscalls(functions(syscall_function_names(machine)), machine)
        out: list[int] = []
        for j, v in enumerate(values):
            try:
                out.append(syscall_id(v, machine))
            except ValueError as err:
                raise ListError(("spec", "lists", i, "values", j),
                                f"list '{lst.name}': {err}") from None
        ids[lst.name] = tuple(dict.fromkeys(out))
    return SyscallLists(ids, types)
