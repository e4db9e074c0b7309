"""Scatter-gather buffers: char_iovec (writev's iovec array, on every rung
of the ladder: the syscall fallback runs on the host), iov_iter and kiocb
(pipe_write and tty_write, Tetragon's tty example: kernel functions, in the
VM matrix). Each boundary of what is read is tried on both sides."""

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
from vigil.events.model import FilePath, TruncatedBytes
from vigil.policy.errors import PolicyError
from vigil.runtime import Runtime
from vigil.wire.records import CHAR_BUF_MAX, IOVEC_LEN_MAX, IOVEC_MAX

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")


def writev_child(buffers: list[bytes]) -> int:
    """A child that writev()s `buffers` to /dev/null: its pid."""
    out = subprocess.run([PY, "-c", f"""
import os
fd = os.open("/dev/null", os.O_WRONLY)
print(os.getpid(), flush=True)
os.writev(fd, {buffers!r})
"""], capture_output=True, text=True, timeout=EVENT_TIMEOUT, check=True)
    return int(out.stdout)


WRITEV = """
    kprobes:
    - call: sys_writev
      args:
      - {index: 0, type: fd}
      - {index: 1, type: char_iovec, sizeArgIndex: 3}
      - {index: 2, type: int}
"""


@pytest.mark.parametrize(("buffers", "kept", "orig"), [
    # two buffers end to end
    ([b"hello ", b"world"], b"hello world", 11),
    # one buffer of the limit, then one byte over it
    ([b"a" * CHAR_BUF_MAX], b"a" * CHAR_BUF_MAX, CHAR_BUF_MAX),
    ([b"a" * CHAR_BUF_MAX, b"b"], b"a" * CHAR_BUF_MAX, CHAR_BUF_MAX + 1),
    # the buffers read, and one past them (its bytes not read, its length counted)
    ([bytes([65 + i]) for i in range(IOVEC_MAX)], bytes(range(65, 65 + IOVEC_MAX)), IOVEC_MAX),
    ([bytes([65 + i]) for i in range(IOVEC_MAX + 1)], bytes(range(65, 65 + IOVEC_MAX)),
     IOVEC_MAX + 1),
    # the lengths summed, and one past them: not counted
    ([b"x"] * IOVEC_LEN_MAX, b"x" * IOVEC_MAX, IOVEC_LEN_MAX),
    ([b"x"] * (IOVEC_LEN_MAX + 1), b"x" * IOVEC_MAX, 0xFFFFFFFF),
])
def test_writev_buffers(runtime: tuple[Runtime, Collect], rung: str,  # noqa: F811
                        buffers: list[bytes], kept: bytes, orig: int) -> None:
    rt, sink = runtime
    start(rt, WRITEV, rung)
    pid = writev_child(buffers)
    ev, = kprobe_events(rt, sink, pid, 1)
    fd, buf, count = ev.args
    assert fd.value == FilePath("/dev/null", "", "crw-rw-rw-")
    assert count.value == len(buffers)
    if orig == len(kept):
        assert (buf.key, buf.value) == ("bytes_arg", kept)
    else:
        assert (buf.key, buf.value) == ("truncated_bytes_arg", TruncatedBytes(kept, orig))


RUNGS = ("kprobe", "fentry")

PIPE = """
    kprobes:
    - call: pipe_write
      syscall: false
      args:
      - {index: 0, type: kiocb}
      - {index: 1, type: iov_iter}
"""


@pytest.mark.parametrize("function_rung", RUNGS)
def test_iov_iter_of_a_pipe_write(runtime: tuple[Runtime, Collect], function_rung: str) -> None:
    """write() gives the iterator one user buffer (ITER_UBUF since 6.0, an
    iovec before), writev() an iovec array, of which the first buffer is read."""
    rt, sink = runtime
    for plan in planned_or_skip(PIPE, function_rung):
        rt.add_tracepoint(plan)
    # (its pid goes last, to the pipe the test reads: a third pipe_write)
    out = subprocess.run([PY, "-c", """
import os
r, w = os.pipe()
os.write(w, b"through-the-pipe")
os.writev(w, [b"first", b"second"])
print(os.getpid(), flush=True)
"""], capture_output=True, text=True, timeout=EVENT_TIMEOUT, check=True)
    evs = kprobe_events(rt, sink, int(out.stdout), 3)
    assert [(e.args[1].key, e.args[1].value) for e in evs] == [
        ("bytes_arg", b"through-the-pipe"), ("bytes_arg", b"first"),
        ("bytes_arg", out.stdout.encode())]
    assert all(e.args[0].key == "file_arg" and isinstance(e.args[0].value, FilePath)
               for e in evs)


TTY = """
    kprobes:
    - call: tty_write
      syscall: false
      args:
      - {index: 0, type: kiocb}
      - {index: 1, type: iov_iter}
"""


@pytest.mark.parametrize("function_rung", RUNGS)
def test_tty_write_as_tetragons_tty_example(runtime: tuple[Runtime, Collect],
                                            function_rung: str) -> None:
    """tracingpolicy/tty.yaml's hook: the terminal's path and what was typed
    to it (tty_write takes a kiocb since 5.11: 5.10 is refused at planning)."""
    rt, sink = runtime
    try:
        tty_plans = planned_or_skip(TTY, function_rung)
    except PolicyError as err:
        if "type kiocb reads a struct kiocb *; tty_write's argument 0 is" not in str(err):
            raise
        pytest.skip(str(err.issues[0]))
    for plan in tty_plans:
        rt.add_tracepoint(plan)
    out = subprocess.run([PY, "-c", """
import os
master, slave = os.openpty()
print(os.getpid(), os.ttyname(slave), flush=True)
os.write(slave, b"typed on a tty")
"""], capture_output=True, text=True, timeout=EVENT_TIMEOUT, check=True)
    pid, tty = out.stdout.split()
    ev, = kprobe_events(rt, sink, int(pid), 1)
    assert isinstance(ev.args[0].value, FilePath) and ev.args[0].value.path == tty
    assert (ev.args[1].key, ev.args[1].value) == ("bytes_arg", b"typed on a tty")
