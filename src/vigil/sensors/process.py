"""The base process sensor: bpf/process/process.bpf.c and its maps.

Start order matters: programs attach first, then /proc is walked and written
into the exec map with BPF_NOEXIST, so a process is never missed (it is either
seen by the programs or found in /proc) and what the programs wrote wins over
what /proc said.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from types import TracebackType

from vigil.bpf_objects import object_path
from vigil.events.records import ExecIdentity, ProcKey, Stat
from vigil.libbpf import BPF_NOEXIST, Link, MapError, Object, RingBuffer, open_object
from vigil.process.procfs import ProcEntry

__all__ = ["ProcessSensor"]

OBJECT = "process/process.bpf.o"
PROGRAMS = ("vigil_exec", "vigil_fork", "vigil_exit")


class ProcessSensor:
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
        self._ring: RingBuffer | None = None

    def start(self) -> None:
        with open_object(object_path(OBJECT)) as spec:
            spec.maps["vigil_events"].max_entries = self.ringbuf_bytes
            spec.maps["vigil_execve_map"].max_entries = self.exec_map_entries
            spec.set_rodata("wakeup_bytes", self.wakeup_bytes)
            self._obj = spec.load()
        try:
            for name in PROGRAMS:
                self._links.append(self._obj.programs[name].attach())
            self._ring = RingBuffer(self._obj.maps["vigil_events"])
        except BaseException:
            self.close()
            raise

    @property
    def obj(self) -> Object:
        if self._obj is None:
            raise RuntimeError("process sensor used before start()")
        return self._obj

    def seed(self, entries: Iterable[ProcEntry]) -> int:
        """Write processes found in /proc into the exec map; returns how many
        were new to it."""
        exec_map = self.obj.maps["vigil_execve_map"]
        added = 0
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
            except MapError:
                continue  # already written by the programs: theirs is newer
            added += 1
        return added

    def poll(self, timeout_ms: int) -> list[bytes]:
        """Records available within timeout_ms: what a wake-up delivered plus
        whatever arrived without one."""
        if self._ring is None:
            raise RuntimeError("process sensor used before start()")
        records = self._ring.poll(timeout_ms)
        records += self._ring.consume()
        return records

    def loss_counts(self) -> dict[str, int]:
        """Kernel-side losses and read errors, by cause (zeros included)."""
        stats = self.obj.maps["vigil_stats"].typed(ctypes.c_uint32, ctypes.c_uint64)
        return {cause.name.lower(): stats.sum_percpu(ctypes.c_uint32(cause)) for cause in Stat}

    def close(self) -> None:
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        for link in self._links:
            link.close()
        self._links.clear()
        if self._obj is not None:
            self._obj.close()
            self._obj = None

    def __enter__(self) -> ProcessSensor:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
