"""Processes that were running before vigil started, read from /proc.

They get the procFS flag, an identity built from their start time, and are
written into the kernel's exec map so their future children name them as
parent. Any process may vanish while we read it: that process is skipped.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from vigil.process.cgroups import CgroupMap, proc_cgroup_path
from vigil.process.clock import Clock, rfc3339
from vigil.process.containers import container_id
from vigil.process.model import Process, exec_id, quote_args
from vigil.wire.records import NAMESPACE_NAMES, ProcFlag

__all__ = ["TICK_NS", "ProcEntry", "host_namespaces", "read_process", "still_running",
           "walk_proc"]

_CLK_TCK = os.sysconf("SC_CLK_TCK")
# /proc/<pid>/stat counts start times in clock ticks: what one tick is in ns.
TICK_NS = 1_000_000_000 // _CLK_TCK
_NS_FILES = {name: name for name in NAMESPACE_NAMES}


@dataclass(slots=True)
class ProcEntry:
    process: Process
    ppid: int
    start_ns: int  # since boot (CLOCK_BOOTTIME)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _status_fields(raw: bytes) -> dict[str, str]:
    fields = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


def _ns_inodes(proc_dir: str) -> dict[str, int]:
    inodes = {}
    for name in NAMESPACE_NAMES:
        try:
            link = os.readlink(f"{proc_dir}/ns/{_NS_FILES[name]}")
        except OSError:
            continue
        # "net:[4026531840]"
        inodes[name] = int(link[link.index("[") + 1 : -1])
    return inodes


def host_namespaces(proc_root: str = "/proc") -> dict[str, int]:
    """The host's namespace inode numbers, by NAMESPACE_NAMES (a kind this
    kernel lacks is absent): pid 1's, as Tetragon takes them for host_ns, or,
    where pid 1's cannot be read at all (a sandbox that denies reading
    another process's ns links), vigil's own: an agent runs in the host's."""
    return _ns_inodes(f"{proc_root}/1") or _ns_inodes(f"{proc_root}/self")


def read_process(pid: int, node_name: str, clock: Clock, proc_root: str = "/proc",
                 cgroups: CgroupMap | None = None) -> ProcEntry:
    """Read one process; raises OSError if it is gone or unreadable. Its
    cgroup's id and container come from `cgroups` (seeded first)."""
    d = f"{proc_root}/{pid}"
    stat = _read(f"{d}/stat")
    # comm may hold spaces and parentheses: fields start after the last ')'.
    rest = stat[stat.rindex(b")") + 2 :].split()
    ppid = int(rest[1])
    start_ns = int(rest[19]) * 1_000_000_000 // _CLK_TCK
    status = _status_fields(_read(f"{d}/status"))
    uids = status.get("Uid", "0 0").split()
    gids = status.get("Gid", "0 0").split()
    argv = [a.decode("utf-8", "backslashreplace") for a in _read(f"{d}/cmdline").split(b"\0")]
    if argv and argv[-1] == "":
        argv.pop()
    try:
        exe = binary = os.readlink(f"{d}/exe")
    except OSError:
        exe = binary = ""  # kernel threads have no executable
    if not binary:
        comm = stat[stat.index(b"(") + 1 : stat.rindex(b")")].decode("utf-8", "replace")
        binary = f"[{comm}]"
    flags = ProcFlag.PROCFS
    try:
        cwd = os.readlink(f"{d}/cwd")
    except OSError:
        cwd = "/"
    if cwd == "/":
        flags |= ProcFlag.ROOTCWD
    try:
        auid = int(_read(f"{d}/loginuid"))
    except (OSError, ValueError):
        auid = 0xFFFFFFFF
    cgroup_path = proc_cgroup_path(pid, proc_root) or ""
    cgroup_id = (cgroups.id_of(cgroup_path) or 0) if cgroups is not None and cgroup_path else 0
    return ProcEntry(
        process=Process(
            key=(pid, start_ns),
            exec_id=exec_id(node_name, start_ns, pid),
            pid=pid,
            tid=pid,
            binary=binary,
            arguments=quote_args(argv[1:]),
            cwd=cwd,
            flags=flags,
            start_time=rfc3339(clock.from_boottime(start_ns)),
            uid=int(uids[0]),
            euid=int(uids[1]),
            gid=int(gids[0]),
            egid=int(gids[1]),
            auid=auid,
            cap_permitted=int(status.get("CapPrm", "0"), 16),
            cap_effective=int(status.get("CapEff", "0"), 16),
            cap_inheritable=int(status.get("CapInh", "0"), 16),
            ns=_ns_inodes(d),
            cgroup_id=cgroup_id,
            cgroup_path=cgroup_path,
            docker=container_id(cgroup_path),
            exe=exe,
            start_boottime=start_ns,
            start_exact=False,
        ),
        ppid=ppid,
        start_ns=start_ns,
    )


def walk_proc(node_name: str, clock: Clock, proc_root: str = "/proc",
              problems: Counter[str] | None = None,
              cgroups: CgroupMap | None = None) -> Iterator[ProcEntry]:
    """Every process readable under /proc, parents before children.

    A process that could not be read is skipped and counted in `problems`:
    "procfs_gone" (it exited while we looked: normal), "procfs_unreadable"
    (another error reading it), "procfs_unparsable" (its files made no sense)."""
    entries: dict[int, ProcEntry] = {}
    counts: Counter[str] = problems if problems is not None else Counter()
    for name in os.listdir(proc_root):
        if not name.isdigit():
            continue
        try:
            entries[int(name)] = read_process(int(name), node_name, clock, proc_root, cgroups)
        except (FileNotFoundError, ProcessLookupError):
            counts["procfs_gone"] += 1
        except OSError:
            counts["procfs_unreadable"] += 1
        except (ValueError, IndexError):
            counts["procfs_unparsable"] += 1
    emitted: set[int] = set()

    def visit(pid: int) -> Iterator[ProcEntry]:
        # Iterative: a deep process tree must not hit Python's recursion limit.
        chain = []
        while pid in entries and pid not in emitted:
            chain.append(pid)
            emitted.add(pid)
            pid = entries[pid].ppid
        for p in reversed(chain):
            entry = entries[p]
            parent = entries.get(entry.ppid)
            if parent is not None:
                entry.process.parent_key = parent.process.key
            yield entry

    for pid in sorted(entries):
        yield from visit(pid)


def still_running(proc: Process, proc_root: str = "/proc") -> bool:
    """Whether the process `proc` names still runs: its pid exists and was
    forked in the same clock tick (a reused pid was forked later)."""
    try:
        stat = _read(f"{proc_root}/{proc.pid}/stat")
        ticks = int(stat[stat.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return False
    return ticks == proc.start_boottime // TICK_NS
