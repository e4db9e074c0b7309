"""A kretprobe made through tracefs's kprobe_events, for its maxactive.

A kretprobe keeps one instance per call in flight; when all are taken, the
returns of further concurrent calls are missed, silently. libbpf's kprobe
PMU attach leaves the count to the kernel's default, which is only
num_possible_cpus() on kernels built without CONFIG_PREEMPTION before 5.13
(one, in a one-CPU VM: two threads blocked in read(2) lose a return) and
max(10, 2 * CPUs) after. Only the kprobe_events interface takes a count
("r<maxactive>:..."), so a kretprobe that must hold many calls is made
there, opened as a perf tracepoint event, and given to libbpf's
bpf_program__attach_perf_event, which owns it from then on.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
from collections.abc import Callable
from pathlib import Path

__all__ = ["KPROBE_GROUP", "KprobeEvent", "stale_events", "tracefs_root"]

KPROBE_GROUP = "vigil"
_TRACEFS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
# include/uapi/linux/perf_event.h
_PERF_TYPE_TRACEPOINT = 2
_PERF_FLAG_FD_CLOEXEC = 1 << 3
_PERF_SAMPLE_RAW = 1 << 10
_NR_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}


class _PerfEventAttr(ctypes.Structure):
    """The head of struct perf_event_attr (PERF_ATTR_SIZE_VER0, 64 bytes):
    all a tracepoint event needs."""

    _fields_ = [("type", ctypes.c_uint32), ("size", ctypes.c_uint32),
                ("config", ctypes.c_uint64), ("sample_period", ctypes.c_uint64),
                ("sample_type", ctypes.c_uint64), ("read_format", ctypes.c_uint64),
                ("flags", ctypes.c_uint64), ("wakeup_events", ctypes.c_uint32),
                ("bp_type", ctypes.c_uint32), ("config1", ctypes.c_uint64)]


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def stale_events(listing: str, alive: Callable[[int], bool]) -> list[str]:
    """The names of vigil's kprobe events in `listing` (kprobe_events' text)
    whose agent, the pid in the name, is gone."""
    out = []
    for line in listing.splitlines():
        head = line.split(" ", 1)[0]  # r1024:vigil/r123_7f...
        _, _, event = head.partition(":")
        group, _, name = event.partition("/")
        pid, sep, _ = name[1:].partition("_")
        if group == KPROBE_GROUP and name.startswith("r") and sep and pid.isdigit() \
                and not alive(int(pid)):
            out.append(name)
    return out


def tracefs_root() -> Path | None:
    """Where tracefs is mounted with a kprobe_events file, or None."""
    return next((p for p in _TRACEFS if (p / "kprobe_events").exists()), None)


class KprobeEvent:
    """One kretprobe in kprobe_events; remove() takes it out again."""

    def __init__(self, function: str, maxactive: int, tag: str) -> None:
        root = tracefs_root()
        if root is None:
            raise OSError(f"no kprobe_events in {' or '.join(map(str, _TRACEFS))}")
        if not 0 < maxactive <= 4096:  # KRETPROBE_MAXACTIVE_MAX
            raise ValueError(f"maxactive {maxactive}: from 1 to 4096")
        self.root = root
        # An agent killed before it removed its own (SIGKILL, a crash) left
        # them defined: taken out here, so they do not pile up.
        for stale in stale_events((root / "kprobe_events").read_text(), _alive):
            with contextlib.suppress(OSError):
                self._define(f"-:{KPROBE_GROUP}/{stale}")
        # Unique among agents and hooks: the pid and a tag of the caller's.
        self.name = f"r{os.getpid()}_{tag}"
        self._define(f"r{maxactive}:{KPROBE_GROUP}/{self.name} {function}")
        self.defined = True

    def _define(self, line: str) -> None:
        # O_APPEND: a plain write would clear every other kprobe event.
        fd = os.open(self.root / "kprobe_events", os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, line.encode() + b"\n")
        finally:
            os.close(fd)

    @property
    def id(self) -> int:
        return int((self.root / "events" / KPROBE_GROUP / self.name / "id").read_text())

    def open_perf_event(self) -> int:
        """A perf event fd for the kretprobe on every CPU (the caller owns it)."""
        nr = _NR_PERF_EVENT_OPEN.get(platform.machine())
        if nr is None:
            raise OSError(f"perf_event_open's number on {platform.machine()} is not known")
        attr = _PerfEventAttr(type=_PERF_TYPE_TRACEPOINT, size=ctypes.sizeof(_PerfEventAttr),
                              config=self.id, sample_period=1, sample_type=_PERF_SAMPLE_RAW,
                              wakeup_events=1)
        libc = ctypes.CDLL(None, use_errno=True)
        fd = int(libc.syscall(ctypes.c_long(nr), ctypes.byref(attr), ctypes.c_int(-1),
                              ctypes.c_int(0), ctypes.c_int(-1),
                              ctypes.c_ulong(_PERF_FLAG_FD_CLOEXEC)))
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"perf_event_open of kprobe event {self.name}: "
                          f"{os.strerror(err)}")
        return fd

    def remove(self) -> None:
        """Take it out of kprobe_events (once nothing has it open)."""
        if self.defined:
            self.defined = False
            # OSError: already gone (tracefs unmounted, or removed by hand)
            with contextlib.suppress(OSError):
                self._define(f"-:{KPROBE_GROUP}/{self.name}")
