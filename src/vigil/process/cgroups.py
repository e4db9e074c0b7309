"""Cgroups (v2) by id: each cgroup's path, and the container it belongs to.

The kernel gives every exec and clone record its task's cgroup id (the
kernfs node id of its default-hierarchy cgroup, which is also the inode
number of that cgroup's directory) and tells of every cgroup made or
removed (records CGROUP_MKDIR and CGROUP_RMDIR, from the cgroup
tracepoints). At start the hierarchy is walked once, after the programs are
attached, so a cgroup is either found by the walk or told of by the kernel.

The paths are from the hierarchy's root ("/system.slice/foo.scope"), as
/proc/<pid>/cgroup shows them to a reader in the host's cgroup namespace.
On a hybrid system (v1 controllers and a v2 "unified" mount) the v2
hierarchy is whichever cgroup2 mount /proc/self/mountinfo names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from vigil.process.containers import container_id

__all__ = ["CgroupInfo", "CgroupMap", "proc_cgroup_path", "under"]

# Cgroups seeded at most (a host has hundreds; this bounds a pathological tree).
SEED_MAX = 1 << 16


def proc_cgroup_path(pid: int, proc_root: str = "/proc") -> str | None:
    """A process's v2 cgroup path ("0::/a/b" in /proc/<pid>/cgroup), or None."""
    try:
        with open(f"{proc_root}/{pid}/cgroup", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    for line in raw.decode("utf-8", "backslashreplace").splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def under(path: str, subtree: str) -> bool:
    """Whether cgroup `path` is `subtree` or below it (whole components)."""
    if subtree in ("", "/"):
        return True
    subtree = subtree.rstrip("/")
    return path == subtree or path.startswith(subtree + "/")


@dataclass(frozen=True, slots=True)
class CgroupInfo:
    path: str
    docker: str  # Tetragon's `docker` field: the container id's first 31 characters, or ""


@dataclass(slots=True)
class CgroupMap:
    """Cgroup id -> its path and container, fed by the kernel's cgroup
    records and seeded from the hierarchy at start."""

    root: str | None = None  # the cgroup2 mount; None: no v2 hierarchy here
    by_id: dict[int, CgroupInfo] = field(default_factory=dict)
    removed: int = 0
    # CGROUP_MKDIR records whose path the kernel cut or could not read.
    bad_paths: int = 0

    def seed(self) -> int:
        """Walk the hierarchy from its mount; returns the cgroups found. A
        cgroup removed while the walk runs is skipped."""
        if self.root is None:
            return 0
        found = 0
        stack = [(self.root, "/")]
        while stack and found < SEED_MAX:
            directory, path = stack.pop()
            try:
                ino = os.stat(directory).st_ino
                entries = list(os.scandir(directory))
            except OSError:
                continue
            # What the kernel said (a record handled earlier) is newer.
            self.by_id.setdefault(ino, CgroupInfo(path, container_id(path)))
            found += 1
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((entry.path, path.rstrip("/") + "/" + entry.name))
                except OSError:
                    continue
        return found

    def made(self, cgroup_id: int, path: str) -> CgroupInfo:
        info = self.by_id[cgroup_id] = CgroupInfo(path, container_id(path))
        return info

    def gone(self, cgroup_id: int) -> None:
        if self.by_id.pop(cgroup_id, None) is not None:
            self.removed += 1

    def get(self, cgroup_id: int) -> CgroupInfo | None:
        return self.by_id.get(cgroup_id)

    def lookup(self, cgroup_id: int, name: str) -> CgroupInfo:
        """The cgroup a record names by id and kernfs name. One the map does
        not know (its mkdir record was lost) is known by its name only:
        the path is then "" and the container is read from the name."""
        info = self.by_id.get(cgroup_id)
        if info is not None:
            return info
        return CgroupInfo("", container_id(name, from_kernel_name=True) if name else "")

    def id_of(self, path: str) -> int | None:
        """The id of the cgroup at `path` now (its directory's inode), or None."""
        if self.root is None:
            return None
        try:
            return os.stat(self.root + path).st_ino
        except OSError:
            return None
