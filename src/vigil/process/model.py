"""A process as vigil knows it: identity, credentials, image, and lineage."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from functools import lru_cache

from vigil.wire.records import ProcFlag

__all__ = ["FLAG_NAMES", "Process", "exec_id", "flag_string", "quote_args"]

# Tetragon's names for process flags, in the order Tetragon prints them.
FLAG_NAMES: tuple[tuple[ProcFlag, str], ...] = (
    (ProcFlag.EXECVE, "execve"),
    (ProcFlag.PROCFS, "procFS"),
    (ProcFlag.TRUNC_FILENAME, "truncFilename"),
    (ProcFlag.TRUNC_ARGS, "truncArgs"),
    (ProcFlag.NO_PARENT | ProcFlag.MISS, "miss"),
    (ProcFlag.ERROR_ARGS, "errorArgs"),
    (ProcFlag.ROOTCWD, "rootcwd"),
    (ProcFlag.ERROR_CWD, "errorCWD"),
    (ProcFlag.TRUNC_CWD, "truncCWD"),
    (ProcFlag.CLONE, "clone"),
)


@lru_cache(maxsize=128)
def flag_string(flags: int) -> str:
    return " ".join(name for bit, name in FLAG_NAMES if flags & bit)


def exec_id(node_name: str, ktime: int, pid: int) -> str:
    """Tetragon's process identifier: base64 of "<node>:<ktime_ns>:<pid>"."""
    return base64.b64encode(f"{node_name}:{ktime}:{pid}".encode()).decode("ascii")


# Characters that would make a bare argument ambiguous: whitespace splits it,
# quotes and backslashes would be read as quoting.
_NEEDS_QUOTES = frozenset(' \t\r\n"\'\\')


def _quote(arg: str) -> str:
    if arg and not any(c in _NEEDS_QUOTES for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_args(args: tuple[str, ...] | list[str]) -> str:
    """Join arguments into one string; one with spaces or quotes is quoted, so
    `a "b c"` and `a b c` stay distinguishable."""
    return " ".join(_quote(a) for a in args)


@dataclass(slots=True, eq=False)
class Process:
    """One process image. `key` is (tgid, ktime of its exec or fork)."""

    key: tuple[int, int]
    exec_id: str
    pid: int
    tid: int
    binary: str
    arguments: str
    cwd: str
    flags: int
    start_time: str
    uid: int = 0
    euid: int = 0
    gid: int = 0
    egid: int = 0
    auid: int = 0xFFFFFFFF
    cap_permitted: int = 0
    cap_effective: int = 0
    cap_inheritable: int = 0
    ns: dict[str, int] = field(default_factory=dict)
    # Its cgroup (v2) at exec (at fork, until it execs): the id, the path from
    # the hierarchy's root ("" when only the id is known) and the container
    # id Tetragon's `docker` field shows (process/containers.py), or "".
    cgroup_id: int = 0
    cgroup_path: str = ""
    docker: str = ""
    # The file actually executed (mm->exe_file; /proc/<pid>/exe for processes
    # found at start), what filters on the binary match. "" when unknown.
    exe: str = ""
    exe_ino: int = 0
    exe_nlink: int = 1
    # When the process was forked (CLOCK_BOOTTIME ns): with the pid, it tells
    # this process from any later one that reuses the pid. Processes read from
    # /proc know it only to a clock tick (start_exact False).
    start_boottime: int = 0
    start_exact: bool = True
    parent_key: tuple[int, int] | None = None
    parent_exec_id: str = ""
    # Live references: 1 for the process itself until it exits or its image
    # is replaced by an exec, plus 1 for each child still in the cache.
    refcnt: int = 1
    exited: bool = False
