"""bpf_printk's output: /sys/kernel/tracing/trace_pipe, read without blocking.

trace_pipe is one stream for the whole machine and reading consumes it, so
lessons filter the lines they print by their own message prefix.
"""

from __future__ import annotations

import os
import re
import select
from dataclasses import dataclass

from vigil.closing import Closable
from vigil.kernel.mounts import ensure_tracefs

__all__ = ["TraceLine", "TracePipe", "parse_trace_line"]

TRACE_PIPE = "/sys/kernel/tracing/trace_pipe"

# "  bash-1234    [001] d..31  5432.123456: bpf_trace_printk: hello"
_LINE = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(?P<cpu>\d+)\]\s+\S+\s+"
    r"(?P<ts>\d+\.\d+): (?:bpf_trace_printk: )?(?P<msg>.*)$"
)


@dataclass(frozen=True, slots=True)
class TraceLine:
    comm: str
    pid: int  # the thread that printed
    cpu: int
    timestamp: float
    msg: str
    raw: str


def parse_trace_line(raw: str) -> TraceLine | None:
    m = _LINE.match(raw)
    if m is None:
        return None
    return TraceLine(
        comm=m["comm"], pid=int(m["pid"]), cpu=int(m["cpu"]), timestamp=float(m["ts"]),
        msg=m["msg"], raw=raw,
    )


class TracePipe(Closable):
    def __init__(self, path: str = TRACE_PIPE) -> None:
        ensure_tracefs()
        self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self._partial = b""

    def read(self, timeout: float) -> list[TraceLine]:
        """Complete lines that arrive within `timeout` seconds."""
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return []
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return []
        data = self._partial + data
        *complete, self._partial = data.split(b"\n")
        lines = []
        for raw in complete:
            parsed = parse_trace_line(raw.decode("utf-8", "replace"))
            if parsed is not None:
                lines.append(parsed)
        return lines

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

