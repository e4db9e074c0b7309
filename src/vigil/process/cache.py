"""The process cache: every live process by exec_id key, with parent links.

Entries are reference counted: a process holds itself until it exits (or an
exec replaces its image) and each cached child holds its parent, so parents
and ancestors stay resolvable exactly as long as something can still name
them, and the cache stays bounded under any churn.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from vigil.events.decode import CloneMsg, ExecMsg, ExitMsg
from vigil.events.records import NAMESPACE_NAMES, ProcFlag
from vigil.process.clock import Clock, rfc3339
from vigil.process.model import Process, exec_id, quote_args

__all__ = ["CacheStats", "ProcessCache"]

Key = tuple[int, int]


@dataclass(slots=True)
class CacheStats:
    exits_of_unknown: int = 0
    duplicate_exits: int = 0
    parents_missing: int = 0


@dataclass(slots=True)
class ProcessCache:
    node_name: str
    clock: Clock = field(default_factory=Clock.now)
    by_key: dict[Key, Process] = field(default_factory=dict)
    # The current image of each live tgid, for records whose parent is only
    # known by pid (created before vigil seeded the kernel's map).
    by_pid: dict[int, Process] = field(default_factory=dict)
    stats: CacheStats = field(default_factory=CacheStats)

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

    def insert(self, proc: Process) -> Process:
        """Add a process (from a record or /proc), link it to its parent and
        retire the image it replaces."""
        old = self.by_pid.get(proc.pid)
        if old is not None and old.key != proc.key and not old.exited:
            old.exited = True
            self.release(old)
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
            flags &= ~ProcFlag.NO_PARENT
        binary = msg.filename
        if not binary.startswith("/"):
            binary = os.path.normpath(os.path.join(msg.cwd, binary))
        c = msg.creds
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
            parent_key=parent.key if parent else (msg.parent_pid, msg.parent_ktime),
        )
        return self.insert(proc)

    def add_clone(self, msg: CloneMsg) -> Process | None:
        """A fork without exec (yet): the child runs its parent's image."""
        parent = self._find_parent(msg.parent_pid, msg.parent_ktime)
        if parent is None:
            self.stats.parents_missing += 1
            return None
        proc = Process(
            key=(msg.pid, msg.ktime),
            exec_id=exec_id(self.node_name, msg.ktime, msg.pid),
            pid=msg.pid,
            tid=msg.tid,
            binary=parent.binary,
            arguments=parent.arguments,
            cwd=parent.cwd,
            flags=ProcFlag.CLONE | (parent.flags & ProcFlag.ROOTCWD),
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
            cgroup_id=parent.cgroup_id,
            parent_key=parent.key,
        )
        return self.insert(proc)

    def exit(self, msg: ExitMsg) -> Process | None:
        """Mark a process ended and return it (still cached until released),
        or None for an exit already seen or of a process never known."""
        proc = self.by_key.get((msg.pid, msg.proc_ktime)) if msg.proc_ktime else None
        if proc is None:
            proc = self.by_pid.get(msg.pid)
        if proc is None:
            self.stats.exits_of_unknown += 1
            return None
        if proc.exited:
            self.stats.duplicate_exits += 1
            return None
        proc.exited = True
        return proc

    def release(self, proc: Process) -> None:
        """Drop one reference; an entry no one references leaves the cache
        and lets go of its parent in turn."""
        node: Process | None = proc
        while node is not None:
            node.refcnt -= 1
            if node.refcnt > 0:
                return
            self.by_key.pop(node.key, None)
            if self.by_pid.get(node.pid) is node:
                del self.by_pid[node.pid]
            node = self.parent(node)
