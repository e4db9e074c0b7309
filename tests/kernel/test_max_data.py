"""maxData: a buffer argument's whole bytes (up to 327360, Tetragon's
limit), the ones past the argument's slot sent in chunks before the record
and joined to it; each boundary tried on both sides, on every rung (the
syscall fallback on the host), and iov_iter's in Tetragon's tty example
(kernel functions: the VM matrix)."""

from __future__ import annotations

import subprocess

import pytest

from tests.kernel.test_syscall_kprobes import (
    PY,
    kprobe_events,
    planned_or_skip,
    rung,  # noqa: F401  (the fixture)
    start,
)
from vigil.events.model import TruncatedBytes
from vigil.runtime import Runtime
from vigil.wire.records import CHAR_BUF_MAX, DATA_CHUNK, MAX_DATA

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

WRITE = """
    kprobes:
    - call: sys_write
      args:
      - {index: 0, type: int}
      - {index: 1, type: char_buf, sizeArgIndex: 3, maxData: true}
      - {index: 2, type: size_t}
      selectors:
      - matchArgs: [{index: 0, operator: Equal, values: ["%d"]}]
"""

FD = 77  # the child writes on this descriptor only: no other write matches


def writer(sizes: list[int]) -> tuple[int, list[bytes]]:
    """A child that writes a buffer of each size (distinct bytes, so an
    offset error shows) to /dev/null on descriptor FD."""
    bufs = [bytes((i * 7 + n) % 251 for i in range(n)) for n in sizes]
    out = subprocess.run([PY, "-c", f"""
import os
fd = os.open("/dev/null", os.O_WRONLY)
os.dup2(fd, {FD})
print(os.getpid(), flush=True)
for n in {sizes!r}:
    os.write({FD}, bytes((i * 7 + n) % 251 for i in range(n)))
"""], capture_output=True, text=True, timeout=EVENT_TIMEOUT, check=True)
    return int(out.stdout), bufs


@pytest.mark.parametrize("sizes", [
    [0, 1, CHAR_BUF_MAX, CHAR_BUF_MAX + 1],  # no chunk, then one of one byte
    [CHAR_BUF_MAX + DATA_CHUNK, CHAR_BUF_MAX + DATA_CHUNK + 1],  # one whole chunk, then two
    [200_000],
    [MAX_DATA, MAX_DATA + 1],  # all of it, then one byte more than is sent
])
def test_write_buffers_come_whole(runtime: tuple[Runtime, Collect], rung: str,  # noqa: F811
                                  sizes: list[int]) -> None:
    rt, sink = runtime
    start(rt, WRITE % FD, rung)
    pid, bufs = writer(sizes)
    evs = kprobe_events(rt, sink, pid, len(sizes))
    assert [e.args[2].value for e in evs] == sizes
    for ev, buf in zip(evs, bufs, strict=True):
        got = ev.args[1]
        if len(buf) <= MAX_DATA:
            assert (got.key, got.value) == ("bytes_arg", buf)
        else:
            assert (got.key, got.value) == ("truncated_bytes_arg",
                                            TruncatedBytes(buf[:MAX_DATA], len(buf)))
    assert rt.agent.data_chunks == {}  # every chunk found its record


TTY = """
    kprobes:
    - call: tty_write
      syscall: false
      args:
      - {index: 0, type: kiocb}
      - {index: 1, type: iov_iter, maxData: true}
"""


@pytest.mark.parametrize("function_rung", ("kprobe", "fentry"))
def test_tetragons_tty_example_sends_all_that_was_typed(runtime: tuple[Runtime, Collect],
                                                       function_rung: str) -> None:
    rt, sink = runtime
    for plan in planned_or_skip(TTY, function_rung):
        rt.add_tracepoint(plan)
    typed = b"".join(b"line %05d of what was typed on the terminal\n" % i for i in range(300))
    out = subprocess.run([PY, "-c", f"""
import os, threading
master, slave = os.openpty()
# drain the terminal, so the writes are not held up by a full buffer
threading.Thread(target=lambda: [os.read(master, 65536) for _ in iter(int, 1)],
                 daemon=True).start()
print(os.getpid(), flush=True)
os.write(slave, {typed!r})
"""], capture_output=True, text=True, timeout=EVENT_TIMEOUT, check=True)
    evs = kprobe_events(rt, sink, int(out.stdout), 1)
    got = b"".join(e.args[1].value for e in evs if isinstance(e.args[1].value, bytes))
    assert got == typed
