"""A container's id from its cgroup path, as Tetragon's `docker` field holds it.

Container runtimes name the cgroup of a container after the container's id
(64 hex digits for docker, containerd, CRI-O and podman):

    /system.slice/docker-<id>.scope                       docker, systemd driver
    /docker/<id>                                          docker, cgroupfs driver
    /kubepods.slice/.../cri-containerd-<id>.scope         containerd (CRI), systemd
    /kubepods/besteffort/pod<uid>/<id>                    kubelet, cgroupfs driver
    /system.slice/crio-<id>.scope                         CRI-O
    /machine.slice/libpod-<id>.scope[/container]          podman (its init's own subgroup)
    /...slice:cri-containerd:<id>                         a cgroupfs driver's "slice:prefix:id"

The rules are Tetragon's (pkg/sensors/exec/procevents LookupContainerId, as
it reads the exec's cgroup): the last path component, after its last ':' and
then its last '-', is the id if it has at least 64 characters (a ".scope"
suffix included) and is not a systemd ".service" (a service inside a
container is not the container). A podman container's processes may sit in
a "container" subgroup of libpod-<id>.scope: then the parents are searched.
Like Tetragon, a runtime's monitor in its own "<runtime>-conmon-<id>.scope"
is reported with the container's id (Tetragon excludes crio-conmon only when
it looks for a container's cgroup, never from an event). The field keeps
the first DOCKER_ID_LEN characters.

A name read by the kernel (at most CGROUP_NAME_MAX - 1 bytes) may have been
cut: one that long is taken as an id from DOCKER_ID_LEN characters on.
"""

from __future__ import annotations

__all__ = ["CONTAINER_ID_LEN", "DOCKER_ID_LEN", "container_id"]

# A whole container id, and what Tetragon's `docker` field keeps of it
# (procevents.ContainerIdLength and BpfContainerIdLength).
CONTAINER_ID_LEN = 64
DOCKER_ID_LEN = 31
# The kernel side's cgroup name buffer, its NUL excluded (events.h
# VIGIL_CGROUP_NAME_MAX, as Tetragon's DOCKER_ID_LENGTH).
_NAME_CUT = 128 - 1
_HEX = frozenset("0123456789abcdefABCDEF")


def _id_part(component: str) -> str:
    """What follows a component's last ':' (a cgroupfs driver's "slice:prefix:id"),
    then its last '-' ("docker-", "cri-containerd-", "libpod-")."""
    return component.rpartition(":")[2].rpartition("-")[2]


def _hex_id(s: str) -> bool:
    """Its first CONTAINER_ID_LEN characters are hex digits."""
    return len(s) >= CONTAINER_ID_LEN and all(c in _HEX for c in s[:CONTAINER_ID_LEN])


def container_id(path: str, from_kernel_name: bool = False) -> str:
    """The `docker` field for a process in cgroup `path` ("/a/b", or only the
    cgroup's name when `from_kernel_name`): its container id's first
    DOCKER_ID_LEN characters, or "" when the path names no container."""
    parts = path.split("/")
    last = parts[-1]
    walk = False
    # sysbox's nested containers: the outermost container names them.
    if "syscont-cgroup-root" in last and len(parts) > 4:
        last = parts[4]
    cut = from_kernel_name and len(last) >= _NAME_CUT
    found = _id_part(last)
    if not found.endswith("service") and (
            len(found) >= CONTAINER_ID_LEN or (cut and len(found) >= DOCKER_ID_LEN)):
        return found[:DOCKER_ID_LEN]
    if _hex_id(found):  # a bare id, even one a "service" follows
        return found[:DOCKER_ID_LEN]
    if found == "container" and "libpod" in path:
        walk = True
    if not walk:
        return ""
    # The nearest parent that is a container's (a bare id, or a transient
    # unit "<prefix>-<id>.scope"); the hierarchy's first level never is.
    for component in reversed(parts[2:-1]):
        found = _id_part(component)
        if len(found) == CONTAINER_ID_LEN or (
                len(found) > CONTAINER_ID_LEN and found.endswith("scope")) or _hex_id(found):
            return found[:DOCKER_ID_LEN]
    return ""
