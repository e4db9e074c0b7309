"""Kernel timestamps -> wall-clock time, RFC 3339 with nanoseconds."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Clock", "rfc3339"]


@lru_cache(maxsize=64)
def _second(sec: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))


def rfc3339(wall_ns: int) -> str:
    """Wall-clock ns -> "2026-11-24T10:00:00.000000001Z", with 9, 6, 3 or no
    fractional digits, the fewest that keep every nonzero one: protobuf's JSON
    form of a Timestamp, so vigil writes what Tetragon's export writes. Events
    come in bursts within the same second, so the date part is cached."""
    sec, nsec = divmod(wall_ns, 1_000_000_000)
    if nsec % 1_000:
        return f"{_second(sec)}.{nsec:09d}Z"
    if nsec % 1_000_000:
        return f"{_second(sec)}.{nsec // 1_000:06d}Z"
    if nsec:
        return f"{_second(sec)}.{nsec // 1_000_000:03d}Z"
    return f"{_second(sec)}Z"


@dataclass(frozen=True, slots=True)
class Clock:
    """Offsets from the kernel's clocks to the wall clock, read once at start.

    bpf_ktime_get_ns() is CLOCK_MONOTONIC; /proc/<pid>/stat start times count
    from boot including suspend, i.e. CLOCK_BOOTTIME."""

    monotonic_to_wall: int
    boottime_to_wall: int

    @classmethod
    def now(cls) -> Clock:
        wall = time.time_ns()
        mono = time.monotonic_ns()
        boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        return cls(monotonic_to_wall=wall - mono, boottime_to_wall=wall - boot)

    def from_ktime(self, ktime: int) -> int:
        return ktime + self.monotonic_to_wall

    def from_boottime(self, boot_ns: int) -> int:
        return boot_ns + self.boottime_to_wall
