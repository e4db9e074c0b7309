"""The maps one policy's hooks share, whatever object each loads: where a
NotifyEnforcer's notes reach the policy's enforcer (vigil_enforcer_notes,
bpf/lib/enforcer.bpf.h), and the owners of the socks it tracks
(vigil_sock_owners, bpf/lib/sock_owner.bpf.h).

The first object of the policy that declares one creates it, sized for the
policy; this keeps a duplicate of its descriptor, so the policy's later
objects reuse it even after that first one is gone."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from vigil.libbpf import Object, OpenObject

__all__ = ["ENFORCER_NOTES_ENTRIES", "POLICY_MAPS", "SOCK_OWNERS_ENTRIES", "PolicyMaps"]

# Threads between a NotifyEnforcer and the enforced call at once (the map is
# not preallocated: it holds only those).
ENFORCER_NOTES_ENTRIES = 4096
# Tracked socks (Tetragon's socktrackMapMaxEntries): an LRU map of 32 bytes
# an entry plus the kernel's own, about 3 MiB preallocated, only in a policy
# that tracks socks.
SOCK_OWNERS_ENTRIES = 32000
POLICY_MAPS: Mapping[str, int] = {"vigil_enforcer_notes": ENFORCER_NOTES_ENTRIES,
                                  "vigil_sock_owners": SOCK_OWNERS_ENTRIES}


class PolicyMaps:
    """One policy's shared maps, by name: a descriptor of each once created."""

    def __init__(self, policy_name: str) -> None:
        self.policy_name = policy_name
        self._fds: dict[str, int] = {}

    def bind(self, spec: OpenObject, names: Iterable[str]) -> None:
        """Before load: the opened object's maps `names` become the policy's
        (reused if it has them already, else sized to be created)."""
        for name in names:
            if name not in POLICY_MAPS:
                raise ValueError(f"{name} is not a policy map ({', '.join(POLICY_MAPS)})")
            if name in self._fds:
                spec.maps[name].reuse_fd(self._fds[name])
            else:
                spec.maps[name].max_entries = POLICY_MAPS[name]

    def keep(self, obj: Object, names: Iterable[str]) -> None:
        """After load: the maps `names` the object created are the policy's."""
        for name in names:
            if name not in self._fds:
                self._fds[name] = os.dup(obj.maps[name].fd)

    def fd(self, name: str) -> int:
        """The descriptor of a map the policy has (KeyError if none yet)."""
        return self._fds[name]

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
