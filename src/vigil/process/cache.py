"""The process cache: every live process by exec_id key, with parent links.

Entries are reference counted: a process holds itself until it exits (or an
exec replaces its image) and each cached child holds its parent, so parents
and ancestors stay resolvable exactly as long as something can still name
them, and the cache stays bounded under any churn.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from vigil.process.cgroups import CgroupMap
from vigil.process.clock import Clock, rfc3339
from vigil.process.model import Process, exec_id, quote_args
from vigil.process.procfs import TICK_NS
from vigil.wire.decode import CloneMsg, ExecMsg, ExitMsg
from vigil.wire.records import NAMESPACE_NAMES, ProcFlag

__all__ = ["CacheStats", "ProcessCache", "same_process"]

Key = tuple[int, int]
RECENT_EXITS = 1024
# Plain ints for the per-record path: IntFlag arithmetic is a Python call.
_NO_PARENT = int(ProcFlag.NO_PARENT)
_EXE_UNLINKED = int(ProcFlag.EXE_UNLINKED)
_CLONE = int(ProcFlag.CLONE)
_ROOTCWD = int(ProcFlag.ROOTCWD)


@dataclass(slots=True)
class CacheStats:
    exits_of_unknown: int = 0  # exit records of processes the cache never had (flag miss)
    duplicate_exits: int = 0
    parents_missing: int = 0
    # Entries whose exit record was lost, found and removed: when a newer
    # process got their pid, or by the periodic check against the kernel.
    stale_removed: int = 0
    # Policy events of processes the cache does not have (flag miss).
    events_of_unknown: int = 0


@dataclass(slots=True)
class ProcessCache:
    node_name: str
    clock: Clock = field(default_factory=Clock.now)
    by_key: dict[Key, Process] = field(default_factory=dict)
    # The current image of each live tgid, for records whose parent is only
    # known by pid (created before vigil seeded the kernel's map).
    by_pid: dict[int, Process] = field(default_factory=dict)
    stats: CacheStats = field(default_factory=CacheStats)
    # Entries the last sweep() found the kernel no longer knows: removed by
    # the next sweep if no record has accounted for them in between.
    suspects: set[Key] = field(default_factory=set)
    # Keys of the last processes that exited, oldest first: a second exit
    # record for one of them (two threads seen as last on kernels without
    # group_dead) is a duplicate, not the exit of an unknown process.
    recent_exits: OrderedDict[Key, None] = field(default_factory=OrderedDict)
    # Cgroup id -> path and container, for the records' cgroup ids.
    cgroups: CgroupMap = field(default_factory=CgroupMap)

    def __len__(self) -> int:
        return len(self.by_key)

    def get(self, key: Key) -> Process | None:
        return self.by_key.get(key)

    def parent(self, proc: Process) -> Process | None:
        return self.by_key.get(proc.parent_key) if proc.parent_key else None

    def ancestors(self, proc: Process) -> Iterator[Process]:
        """The parent's parent and upwards, nearest first."""
        parent = self.parent(proc)
        seen = {proc.key}
        node = self.parent(parent) if parent else None
        while node is not None and node.key not in seen:
            seen.add(node.key)
            yield node
            node = self.parent(node)

    # --- building entries ---------------------------------------------------

    def _find_parent(self, pid: int, ktime: int) -> Process | None:
        if ktime:
            found = self.by_key.get((pid, ktime))
            if found is not None:
                return found
        return self.by_pid.get(pid)

    def _retire(self, old: Process, stale: bool) -> None:
        """The image `old` is over: replaced by an exec (stale False) or gone
        with its exit record lost (stale True: counted)."""
        if old.exited:
            return
        old.exited = True
        if stale:
            self.stats.stale_removed += 1
        self.suspects.discard(old.key)
        self.release(old)

    def insert(self, proc: Process) -> Process:
        """Add a process (from a record or /proc), link it to its parent and
        retire the image it replaces, or the dead process whose pid it reuses."""
        old = self.by_pid.get(proc.pid)
        if old is not None and old.key != proc.key and not old.exited:
            self._retire(old, stale=not same_process(old, proc.start_boottime, proc.start_exact))
        existing = self.by_key.get(proc.key)
        if existing is not None:
            return existing
        parent = self.by_key.get(proc.parent_key) if proc.parent_key else None
        if parent is not None:
            parent.refcnt += 1
            proc.parent_exec_id = parent.exec_id
        elif proc.parent_key and proc.parent_key[0] != 0:
            self.stats.parents_missing += 1
            proc.parent_key = None
        self.by_key[proc.key] = proc
        self.by_pid[proc.pid] = proc
        return proc

    def add_exec(self, msg: ExecMsg) -> Process:
        parent = self._find_parent(msg.parent_pid, msg.parent_ktime)
        flags = msg.flags
        if parent is not None:
            flags &= ~_NO_PARENT
        binary = msg.filename
        if not binary.startswith("/"):
            binary = os.path.normpath(os.path.join(msg.cwd, binary))
        exe = msg.exe
        if exe and flags & _EXE_UNLINKED:
            exe += " (deleted)"  # as the kernel's d_path() and /proc/<pid>/exe say
        c = msg.creds
        cgroup = self.cgroups.lookup(msg.cgroup_id, msg.cgroup_name)
        proc = Process(
            key=(msg.pid, msg.ktime),
            exec_id=exec_id(self.node_name, msg.ktime, msg.pid),
            pid=msg.pid,
            tid=msg.tid,
            binary=binary,
            arguments=quote_args(msg.argv[1:]),
            cwd=msg.cwd,
            flags=flags,
            start_time=rfc3339(self.clock.from_ktime(msg.ktime)),
            uid=c.uid,
            euid=c.euid,
            gid=c.gid,
            egid=c.egid,
            auid=c.auid,
            cap_permitted=c.cap_permitted,
            cap_effective=c.cap_effective,
            cap_inheritable=c.cap_inheritable,
            ns={name: getattr(msg.ns, name) for name in NAMESPACE_NAMES},
            cgroup_id=msg.cgroup_id,
            cgroup_path=cgroup.path,
            docker=cgroup.docker,
            exe=exe,
            exe_ino=msg.exe_ino,
            exe_nlink=msg.exe_nlink,
            start_boottime=msg.start_boottime,
            parent_key=parent.key if parent else (msg.parent_pid, msg.parent_ktime),
        )
        return self.insert(proc)

    def add_clone(self, msg: CloneMsg) -> Process | None:
        """A fork without exec (yet): the child runs its parent's image."""
        parent = self._find_parent(msg.parent_pid, msg.parent_ktime)
        if parent is None:
            self.stats.parents_missing += 1
            return None
        cgroup_id, cgroup_path, docker = parent.cgroup_id, parent.cgroup_path, parent.docker
        if msg.cgroup_id and msg.cgroup_id != cgroup_id:
            # clone3's CLONE_INTO_CGROUP: the child starts elsewhere.
            moved = self.cgroups.lookup(msg.cgroup_id, "")
            cgroup_id, cgroup_path, docker = msg.cgroup_id, moved.path, moved.docker
        proc = Process(
            key=(msg.pid, msg.ktime),
            exec_id=exec_id(self.node_name, msg.ktime, msg.pid),
            pid=msg.pid,
            tid=msg.tid,
            binary=parent.binary,
            arguments=parent.arguments,
            cwd=parent.cwd,
            flags=_CLONE | (parent.flags & _ROOTCWD),
            start_time=rfc3339(self.clock.from_ktime(msg.ktime)),
            uid=parent.uid,
            euid=parent.euid,
            gid=parent.gid,
            egid=parent.egid,
            auid=parent.auid,
            cap_permitted=parent.cap_permitted,
            cap_effective=parent.cap_effective,
            cap_inheritable=parent.cap_inheritable,
            ns=parent.ns,
            cgroup_id=cgroup_id,
            cgroup_path=cgroup_path,
            docker=docker,
            exe=parent.exe,
            exe_ino=parent.exe_ino,
            exe_nlink=parent.exe_nlink,
            start_boottime=msg.start_boottime,
            parent_key=parent.key,
        )
        return self.insert(proc)

    def exit(self, msg: ExitMsg) -> Process | None:
        """Mark a process ended and return it (still cached until released),
        or None for an exit already seen.

        An exit matches only its own process: the exact key the kernel gave,
        or, when the kernel did not know the key (its exec map was full), the
        pid's current entry if it was forked at the same instant. Otherwise
        the exit is of a process the cache never saw (its exec record was
        lost): it is reported with what the record says and the flag miss,
        never with the identity of another process that had the same pid."""
        if msg.proc_ktime:
            proc = self.by_key.get((msg.pid, msg.proc_ktime))
        else:
            cand = self.by_pid.get(msg.pid)
            proc = cand if cand is not None and same_process(
                cand, msg.start_boottime, True) else None
        if proc is None and (msg.pid, msg.proc_ktime) in self.recent_exits:
            self.stats.duplicate_exits += 1
            return None
        if proc is None:
            return self._missed_exit(msg)
        if proc.exited:
            self.stats.duplicate_exits += 1
            return None
        proc.exited = True
        self.suspects.discard(proc.key)
        self.recent_exits[proc.key] = None
        if len(self.recent_exits) > RECENT_EXITS:
            self.recent_exits.popitem(last=False)
        return proc

    def _missed_exit(self, msg: ExitMsg) -> Process:
        """The exit of a process the cache does not have. Whatever the cache
        holds for this pid is older: the same process's previous image, or a
        dead process whose exit was lost (counted as stale)."""
        self.stats.exits_of_unknown += 1
        old = self.by_pid.get(msg.pid)
        if old is not None:
            self._retire(old, stale=not same_process(old, msg.start_boottime, True))
        # Without the kernel's key, the fork time names the process.
        ktime = msg.proc_ktime or msg.start_boottime
        parent = self.by_key.get((msg.parent_pid, msg.parent_ktime)) if msg.parent_ktime else None
        proc = Process(
            key=(msg.pid, ktime),
            exec_id=exec_id(self.node_name, ktime, msg.pid),
            pid=msg.pid,
            tid=msg.tid,
            binary="",
            arguments="",
            cwd="",
            flags=ProcFlag.MISS,
            start_time=rfc3339(
                self.clock.from_ktime(msg.proc_ktime) if msg.proc_ktime
                else self.clock.from_boottime(msg.start_boottime)),
            start_boottime=msg.start_boottime,
            parent_key=parent.key if parent is not None else None,
            parent_exec_id=parent.exec_id if parent is not None else "",
            exited=True,
            refcnt=0,  # never cached: nothing to release
        )
        return proc

    def for_event(self, pid: int, ktime: int, tid: int) -> Process:
        """The process a policy event names: the exec map's exact key, or
        with none (the map lacked it) the pid's current entry; otherwise a
        process known only by its pid, flagged miss (never cached)."""
        proc = self.by_key.get((pid, ktime)) if ktime else self.by_pid.get(pid)
        if proc is not None:
            return proc
        self.stats.events_of_unknown += 1
        return Process(
            key=(pid, ktime),
            exec_id=exec_id(self.node_name, ktime, pid),
            pid=pid,
            tid=tid,
            binary="",
            arguments="",
            cwd="",
            flags=ProcFlag.MISS,
            start_time=rfc3339(self.clock.from_ktime(ktime)) if ktime else "",
            refcnt=0,
        )

    def sweep(self, kernel_key: Callable[[int], Key | None],
              alive: Callable[[Process], bool]) -> int:
        """The periodic check for entries whose exit record was lost.

        `kernel_key(pid)` is the exec map's key for the pid (None if absent);
        `alive(proc)` says, for an entry the map does not hold (it may have
        been full), whether the process still runs. An entry that disagrees is
        only suspected at first: its exit may still be in the ring buffer. If
        the next sweep, after the records in between were handled, still finds
        it, it is removed and counted. Returns how many were removed."""
        removed = 0
        for key in list(self.suspects):
            proc = self.by_key.get(key)
            if proc is not None and not proc.exited and not self._agrees(proc, kernel_key, alive):
                self._retire(proc, stale=True)
                removed += 1
        self.suspects = {
            p.key for p in self.by_pid.values()
            if not p.exited and not self._agrees(p, kernel_key, alive)
        }
        return removed

    @staticmethod
    def _agrees(proc: Process, kernel_key: Callable[[int], Key | None],
                alive: Callable[[Process], bool]) -> bool:
        key = kernel_key(proc.pid)
        if key is not None:
            return key == proc.key
        return alive(proc)

    def release(self, proc: Process) -> None:
        """Drop one reference; an entry no one references leaves the cache
        and lets go of its parent in turn. A process that is not in the
        cache (the exit of one it never had) holds nothing."""
        if self.by_key.get(proc.key) is not proc:
            return
        node: Process | None = proc
        while node is not None:
            node.refcnt -= 1
            if node.refcnt > 0:
                return
            self.by_key.pop(node.key, None)
            if self.by_pid.get(node.pid) is node:
                del self.by_pid[node.pid]
            node = self.parent(node)


def same_process(proc: Process, start_boottime: int, exact: bool) -> bool:
    """Whether `proc` is the process forked at `start_boottime` (the same
    process, perhaps another image), not an earlier one with the same pid.
    Entries read from /proc know their start only to a clock tick."""
    if not proc.start_boottime or not start_boottime:
        return True  # nothing to tell them apart by
    if proc.start_exact and exact:
        return proc.start_boottime == start_boottime
    return proc.start_boottime // TICK_NS == start_boottime // TICK_NS
