"""The base process sensor: bpf/process/process.bpf.c, and the shared maps.

Its object creates the maps every sensor shares (sensors/base.py): the exec
map, the ring buffer and the stats map; shared_maps() hands them on.

Start order matters: programs attach first, then /proc is walked and written
into the exec map with BPF_NOEXIST, so a process is never missed (it is either
seen by the programs or found in /proc) and what the programs wrote wins over
what /proc said.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
from collections.abc import Iterable, Mapping

from vigil.bpf_objects import object_path
from vigil.libbpf import BPF_NOEXIST, Link, MapError, Object, open_object
from vigil.process.procfs import ProcEntry
from vigil.sensors.base import SHARED_MAPS, RecordDecoder, Sensor, SharedMaps
from vigil.wire.decode import PROCESS_DECODERS
from vigil.wire.records import ExecIdentity, ProcKey, Stat

__all__ = ["ProcessSensor"]

OBJECT = "process/process.bpf.o"
# Attached programs; vigil_exec_cwd, vigil_exec_exe and vigil_exec_bin are
# reached by tail calls. The cgroup ones tell user space each cgroup's path.
PROGRAMS = ("vigil_exec", "vigil_fork", "vigil_exit", "vigil_cgroup_mkdir",
            "vigil_cgroup_rmdir")


class ProcessSensor(Sensor):
    name = "process"

    def __init__(
        self,
        *,
        ringbuf_bytes: int = 8 << 20,
        exec_map_entries: int = 32768,
        wakeup_bytes: int = 64 << 10,
    ) -> None:
        self.ringbuf_bytes = ringbuf_bytes
        self.exec_map_entries = exec_map_entries
        # The kernel wakes the reader once this much is waiting; poll()'s
        # timeout bounds how long a lone record can wait (see process.bpf.c).
        self.wakeup_bytes = wakeup_bytes
        self._obj: Object | None = None
        self._links: list[Link] = []

    def record_kinds(self) -> Mapping[int, RecordDecoder]:
        return PROCESS_DECODERS

    def start(self, shared: SharedMaps | None = None) -> None:
        """Load and attach. The base sensor makes the shared maps itself:
        `shared` must be None."""
        if shared is not None:
            raise ValueError("the process sensor creates the shared maps; it reuses none")
        self.load()
        try:
            for name in PROGRAMS:
                self._links.append(self.obj.programs[name].attach())
        except BaseException:
            self.close()
            raise

    def load(self) -> None:
        """Create the maps and load the programs, attaching nothing
        (`vigil policy explain` measures what they cost this way)."""
        with open_object(object_path(OBJECT)) as spec:
            spec.maps["vigil_events"].max_entries = self.ringbuf_bytes
            spec.maps["vigil_execve_map"].max_entries = self.exec_map_entries
            spec.maps["vigil_match_seed"].max_entries = self.exec_map_entries
            spec.maps["vigil_task_baseline"].max_entries = self.exec_map_entries
            spec.set_rodata("wakeup_bytes", self.ring_wakeup_bytes)
            self._obj = spec.load()

    @property
    def ring_wakeup_bytes(self) -> int:
        """The wake-up threshold of the shared ring buffer, for every program
        that writes to it. One the buffer cannot reach would leave only
        poll()'s timer to drain it: a quarter of the buffer at most."""
        return min(self.wakeup_bytes, self.ringbuf_bytes // 4)

    @property
    def started(self) -> bool:
        return self._obj is not None

    @property
    def obj(self) -> Object:
        if self._obj is None:
            raise RuntimeError("process sensor used before start()")
        return self._obj

    def seed(self, entries: Iterable[ProcEntry]) -> tuple[int, int]:
        """Write processes found in /proc into the exec map; returns how many
        were new to it and how many could not be written (the map was full:
        their children will name them by pid only, flagged miss)."""
        exec_map = self.obj.maps["vigil_execve_map"]
        added = failed = 0
        for entry in entries:
            p = entry.process
            parent = p.parent_key or (entry.ppid, 0)
            ident = ExecIdentity(
                key=ProcKey(pid=p.pid, ktime=p.key[1]),
                parent=ProcKey(pid=parent[0], ktime=parent[1]),
                flags=p.flags,
            )
            try:
                exec_map.update(bytes(ctypes.c_uint32(p.pid)), bytes(ident), BPF_NOEXIST)
            except MapError as err:
                if err.errno != errno.EEXIST:  # EEXIST: the programs' entry is newer
                    failed += 1
                continue
            added += 1
        return added, failed

    def exec_map_key(self, pid: int) -> tuple[int, int] | None:
        """The identity the kernel's exec map holds for pid, or None."""
        try:
            raw = self.obj.maps["vigil_execve_map"].lookup(bytes(ctypes.c_uint32(pid)))
        except KeyError:
            return None
        ident = ExecIdentity.from_buffer_copy(raw)
        return (ident.key.pid, ident.key.ktime)

    def shared_maps(self) -> SharedMaps:
        """The maps every other sensor's objects reuse."""
        return SharedMaps({name: self.obj.maps[name].fd for name in SHARED_MAPS},
                          self.ring_wakeup_bytes)

    def loss_counts(self) -> dict[str, int]:
        """Kernel-side counters by cause (zeros included): losses, read errors
        and exec_map_full (not a loss: the event is still delivered, but its
        process's children and exit are named by pid only)."""
        stats = self.obj.maps["vigil_stats"].typed(ctypes.c_uint32, ctypes.c_uint64)
        return {cause.name.lower(): stats.sum_percpu(ctypes.c_uint32(cause)) for cause in Stat}

    def close(self) -> None:
        if self._obj is not None:
            # The exec chain's prog array and its programs refer to each other;
            # the kernel breaks that cycle only later, from a work queue. Empty
            # it now so every program is gone when close() returns.
            stages = self._obj.maps["vigil_exec_stages"]
            for slot in range(stages.max_entries):
                with contextlib.suppress(KeyError, MapError):
                    stages.delete(bytes(ctypes.c_uint32(slot)))
        for link in self._links:
            link.close()
        self._links.clear()
        if self._obj is not None:
            self._obj.close()
            self._obj = None
