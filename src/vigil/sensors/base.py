"""What every sensor is, and the maps they all share.

A sensor is one or more BPF objects, their programs, and the record kinds
(op -> decoder) it writes to the shared ring buffer. The runtime starts it
with the shared maps, registers its record kinds with the agent, and closes
it; the base process sensor creates the shared maps, every other sensor's
objects reuse them (OpenMap.reuse_fd), so their programs see every process's
identity and write to the one buffer the agent reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vigil.closing import Closable
from vigil.libbpf import OpenObject

__all__ = ["SHARED_MAPS", "RecordDecoder", "Sensor", "SharedMaps"]

# The maps of bpf/lib/shared_maps.bpf.h and bpf/lib/stats.bpf.h, by name.
SHARED_MAPS = ("vigil_execve_map", "vigil_match_seed", "vigil_task_baseline", "vigil_events",
               "vigil_stats", "vigil_path_heap")

RecordDecoder = Callable[[bytes], object]


@dataclass(frozen=True, slots=True)
class SharedMaps:
    """File descriptors of the shared maps, owned by the base sensor's object,
    and the ring buffer's wake-up threshold (bpf/lib/shared_maps.bpf.h's
    wakeup_bytes) that every program writing to it is given."""

    fds: Mapping[str, int]
    wakeup_bytes: int = 0

    def reuse_in(self, spec: OpenObject) -> list[str]:
        """Point the opened object's copies of the shared maps at ours;
        returns the names it had."""
        used = [name for name in SHARED_MAPS if name in spec.maps]
        for name in used:
            spec.maps[name].reuse_fd(self.fds[name])
        return used


class Sensor(Closable):
    """Opened (sizes and knobs set), loaded, attached in start(); close()
    detaches and unloads everything it started, and may be called twice."""

    __slots__ = ()

    #: A stable name: the policy's name for a policy sensor.
    name: str = ""

    def record_kinds(self) -> Mapping[int, RecordDecoder]:
        """Record op -> decoder, for every record kind its programs write."""
        raise NotImplementedError

    def start(self, shared: SharedMaps | None) -> None:
        raise NotImplementedError
