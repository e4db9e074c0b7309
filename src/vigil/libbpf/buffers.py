"""Reading records from BPF: RingBuffer (BPF_MAP_TYPE_RINGBUF) and PerfBuffer.

Both hand back batches: each poll returns every record available as a list of
bytes, which the caller decodes. The C callback does the least Python work
possible (copy the bytes, append), since it runs once per event.
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Sequence

from vigil.closing import Closable

from ._lib import PERF_LOST_FN, PERF_SAMPLE_FN, RING_BUFFER_SAMPLE_FN, lib
from .errors import BpfError, MapError
from .maps import Map

__all__ = ["PerfBuffer", "RingBuffer"]

BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4
BPF_MAP_TYPE_RINGBUF = 27


def _require_type(map: Map, map_type: int, kind: str) -> None:
    if map.type != map_type:
        raise MapError(f"map '{map.name}' has type {map.type}, not {kind} ({map_type})")


class _Buffer(Closable):
    """The batch both buffers fill from their C callbacks, and their lifecycle."""

    _ptr: int | None
    _pending: list[bytes]
    _name: str

    def _take(self, ret: int, op: str) -> list[bytes]:
        # A signal interrupting epoll_wait is not an error: return what arrived.
        if ret < 0 and ret != -errno.EINTR:
            # Records already copied stay pending for the next call; none are lost.
            raise BpfError(f"{op} on {self._name} failed: {errno.errorcode.get(-ret, -ret)}")
        batch = self._pending.copy()
        self._pending.clear()
        return batch

    def _require(self, op: str) -> int:
        if self._ptr is None:
            raise BpfError(f"cannot {op}: {self._name} is closed")
        return self._ptr

    def close(self) -> None:
        raise NotImplementedError



class RingBuffer(_Buffer):
    """Records from one or more ring buffer maps, delivered in batches."""

    def __init__(self, maps: Map | Sequence[Map]) -> None:
        rings = [maps] if isinstance(maps, Map) else list(maps)
        if not rings:
            raise ValueError("RingBuffer needs at least one ring buffer map")
        for ring in rings:
            _require_type(ring, BPF_MAP_TYPE_RINGBUF, "BPF_MAP_TYPE_RINGBUF")
        self._name = "ring buffer " + ", ".join(repr(r.name) for r in rings)
        self._pending = []
        append, string_at = self._pending.append, ctypes.string_at

        def on_sample(_ctx: int | None, data: int, size: int) -> int:
            append(string_at(data, size))
            return 0

        # libbpf keeps only the function pointer; self keeps the thunk alive.
        self._callback = RING_BUFFER_SAMPLE_FN(on_sample)
        libbpf = lib()
        ptr = libbpf.ring_buffer__new(rings[0].fd, self._callback, None, None)
        if not ptr:
            raise MapError(f"cannot create {self._name}", ctypes.get_errno())
        self._ptr = int(ptr)
        for ring in rings[1:]:
            ret = int(libbpf.ring_buffer__add(self._ptr, ring.fd, self._callback, None))
            if ret < 0:
                self.close()
                raise MapError(f"cannot add map '{ring.name}' to {self._name}", -ret)

    @property
    def epoll_fd(self) -> int:
        """Readable when records are waiting: for callers with their own event loop."""
        return int(lib().ring_buffer__epoll_fd(self._require("get epoll fd")))

    def poll(self, timeout_ms: int) -> list[bytes]:
        """Wait up to timeout_ms (-1: forever) for records; return all available."""
        ptr = self._require("poll")
        return self._take(int(lib().ring_buffer__poll(ptr, timeout_ms)), "poll")

    def consume(self) -> list[bytes]:
        """Every record available now, without waiting."""
        ptr = self._require("consume")
        return self._take(int(lib().ring_buffer__consume(ptr)), "consume")

    def close(self) -> None:
        """Unmap the buffers; safe to call twice."""
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            lib().ring_buffer__free(ptr)

    def __repr__(self) -> str:
        return f"<RingBuffer {self._name}{' closed' if self._ptr is None else ''}>"


class PerfBuffer(_Buffer):
    """Records from a BPF_MAP_TYPE_PERF_EVENT_ARRAY (one buffer per CPU).

    ``lost`` counts records the kernel dropped because a CPU's buffer was full.
    """

    def __init__(self, map: Map, page_cnt: int = 64) -> None:
        _require_type(map, BPF_MAP_TYPE_PERF_EVENT_ARRAY, "BPF_MAP_TYPE_PERF_EVENT_ARRAY")
        if page_cnt <= 0 or page_cnt & (page_cnt - 1):
            raise ValueError(f"page_cnt must be a power of two, not {page_cnt}")
        self._name = f"perf buffer '{map.name}'"
        self._pending = []
        self.lost = 0
        append, string_at = self._pending.append, ctypes.string_at

        def on_sample(_ctx: int | None, _cpu: int, data: int, size: int) -> None:
            append(string_at(data, size))

        self._on_sample = PERF_SAMPLE_FN(on_sample)
        self._on_lost = PERF_LOST_FN(self._count_lost)
        ptr = lib().perf_buffer__new(map.fd, page_cnt, self._on_sample, self._on_lost, None, None)
        if not ptr:
            raise MapError(f"cannot create {self._name}", ctypes.get_errno())
        self._ptr = int(ptr)

    def _count_lost(self, _ctx: int | None, _cpu: int, count: int) -> None:
        self.lost += count

    @property
    def epoll_fd(self) -> int:
        return int(lib().perf_buffer__epoll_fd(self._require("get epoll fd")))

    def poll(self, timeout_ms: int) -> list[bytes]:
        """Wait up to timeout_ms (-1: forever) for records; return all available."""
        ptr = self._require("poll")
        return self._take(int(lib().perf_buffer__poll(ptr, timeout_ms)), "poll")

    def consume(self) -> list[bytes]:
        """Every record available now, without waiting."""
        ptr = self._require("consume")
        return self._take(int(lib().perf_buffer__consume(ptr)), "consume")

    def close(self) -> None:
        """Close the per-CPU perf events and unmap them; safe to call twice."""
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            lib().perf_buffer__free(ptr)

    def __repr__(self) -> str:
        return f"<PerfBuffer {self._name} lost={self.lost}{' closed' if self._ptr is None else ''}>"
