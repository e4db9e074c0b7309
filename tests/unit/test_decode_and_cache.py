"""Decoding records (built here byte for byte) and the process cache's lineage
and reference counting."""

from __future__ import annotations

import contextlib
import ctypes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.agent import Agent
from vigil.events.decode import CloneMsg, DecodeError, ExecMsg, ExitMsg, decode
from vigil.events.model import Event
from vigil.events.records import (
    EXEC_FIXED_SIZE,
    CloneRecord,
    ExecRecord,
    ExitRecord,
    Op,
    ProcFlag,
)
from vigil.process.cache import ProcessCache
from vigil.process.clock import Clock


def exec_record(pid: int, ktime: int, ppid: int, pktime: int, filename: bytes,
                argv: list[bytes], cwd: bytes, flags: int = ProcFlag.EXECVE) -> bytes:
    r = ExecRecord()
    r.hdr.op = Op.EXEC
    r.hdr.ktime = ktime
    r.key.pid, r.key.ktime = pid, ktime
    r.parent.pid, r.parent.ktime = ppid, pktime
    r.tid = pid
    r.flags = flags
    r.creds.uid = 1000
    args = b"".join(a + b"\0" for a in argv)
    r.filename_len, r.args_len, r.cwd_len = len(filename), len(args), len(cwd)
    data = filename + args + cwd
    ctypes.memmove(ctypes.addressof(r) + EXEC_FIXED_SIZE, data, len(data))
    size = EXEC_FIXED_SIZE + len(data)
    r.hdr.size = size
    return bytes(r)[:size]


def clone_record(pid: int, ktime: int, ppid: int, pktime: int) -> bytes:
    r = CloneRecord()
    r.hdr.op, r.hdr.ktime, r.hdr.size = Op.CLONE, ktime, ctypes.sizeof(r)
    r.key.pid, r.key.ktime, r.parent.pid, r.parent.ktime = pid, ktime, ppid, pktime
    r.tid, r.flags = pid, ProcFlag.CLONE
    return bytes(r)


def exit_record(pid: int, ktime: int, ppid: int, pktime: int, code: int, when: int = 0) -> bytes:
    r = ExitRecord()
    r.hdr.op, r.hdr.ktime, r.hdr.size = Op.EXIT, when or ktime + 1, ctypes.sizeof(r)
    r.key.pid, r.key.ktime, r.parent.pid, r.parent.ktime = pid, ktime, ppid, pktime
    r.tid, r.exit_code = pid, code
    return bytes(r)


def test_exec_record_decodes() -> None:
    rec = exec_record(7, 100, 1, 50, b"/bin/echo", [b"echo", b"a b", b""], b"/tmp")
    msg = decode(rec)
    assert isinstance(msg, ExecMsg)
    assert (msg.pid, msg.ktime, msg.parent_pid, msg.parent_ktime) == (7, 100, 1, 50)
    assert msg.filename == "/bin/echo"
    assert msg.argv == ("echo", "a b", "")
    assert msg.cwd == "/tmp"
    assert msg.creds.uid == 1000


def test_clone_and_exit_records_decode() -> None:
    assert decode(clone_record(8, 200, 7, 100)) == CloneMsg(200, 8, 7, 100, 8, ProcFlag.CLONE)
    msg = decode(exit_record(8, 200, 7, 100, 3 << 8, when=300))
    assert msg == ExitMsg(300, 8, 200, 7, 100, 8, 3 << 8)


@pytest.mark.parametrize(
    ("record", "cause"),
    [
        (b"\x01\x00", "short_header"),
        (bytes(16), "unknown_op"),
        (b"\x01\x00" + bytes(30), "exec_short"),
        (exec_record(7, 1, 1, 1, b"/x", [b"x"], b"/")[:-1], "exec_lengths"),
        (clone_record(1, 1, 1, 1)[:20], "clone_short"),
        (exit_record(1, 1, 1, 1, 0)[:20], "exit_short"),
    ],
)
def test_malformed_records_raise_decode_error_with_cause(record: bytes, cause: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode(record)
    assert err.value.cause == cause


@given(st.binary(max_size=400))
def test_decode_never_fails_other_than_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode(data)


class ListWriter:
    def __init__(self) -> None:
        self.lines: list[Event] = []

    def write(self, line: bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


def make_agent() -> tuple[Agent, list[Event]]:
    events: list[Event] = []

    def encode(ev: Event) -> bytes:
        events.append(ev)
        return b""

    cache = ProcessCache("n", Clock(0, 0))
    return Agent(cache, ListWriter(), encode), events


def test_fork_exec_exit_lineage_and_release() -> None:
    agent, events = make_agent()
    cache = agent.cache
    agent.handle_batch([
        exec_record(10, 100, 1, 0, b"/bin/sh", [b"sh"], b"/"),       # parent unknown: pid 1
        clone_record(11, 200, 10, 100),                               # sh forks
        exec_record(11, 300, 10, 100, b"./tool", [b"tool", b"-x"], b"/opt"),
        clone_record(12, 400, 11, 300),                               # tool forks, no exec
        b"garbage",                                                   # counted, skipped
        exit_record(12, 400, 11, 300, 9),
        exit_record(11, 300, 10, 100, 3 << 8),
        exit_record(11, 300, 10, 100, 3 << 8),                        # duplicate: dropped
    ])
    kinds = [(e.kind, e.process.pid) for e in events]
    assert kinds == [("process_exec", 10), ("process_exec", 11), ("process_exit", 12),
                     ("process_exit", 11)]
    tool = events[1].process
    assert tool.binary == "/opt/tool"  # relative filename resolved against cwd
    assert tool.arguments == "-x"
    assert events[1].parent is events[0].process
    clone_exit = events[2]
    assert clone_exit.process.flags & ProcFlag.CLONE
    assert clone_exit.process.binary == "/opt/tool"
    assert clone_exit.signal == "SIGKILL"
    assert clone_exit.parent is tool
    assert events[3].status == 3
    assert agent.decode_errors == {"short_header": 1}
    # The second exit names a process already gone: no second event.
    assert cache.stats.exits_of_unknown == 1
    # Only sh is still alive; the clone entry of 11 and everything that ended
    # has left the cache.
    assert list(cache.by_key) == [(10, 100)]


def test_parent_stays_while_children_live_and_ancestors() -> None:
    agent, events = make_agent()
    agent.with_ancestors = True
    agent.handle_batch([
        exec_record(20, 1, 1, 0, b"/a", [b"a"], b"/"),
        exec_record(21, 2, 20, 1, b"/b", [b"b"], b"/"),
        exec_record(22, 3, 21, 2, b"/c", [b"c"], b"/"),
        exit_record(20, 1, 1, 0, 0),
        exit_record(21, 2, 20, 1, 0),
    ])
    assert (20, 1) in agent.cache.by_key and (21, 2) in agent.cache.by_key
    assert [a.pid for a in events[2].ancestors] == [20]
    agent.handle_batch([exit_record(22, 3, 21, 2, 0)])
    assert agent.cache.by_key == {}
    assert agent.cache.by_pid == {}


def test_churn_leaves_cache_bounded() -> None:
    agent, _ = make_agent()
    records = [exec_record(1, 1, 0, 0, b"/sbin/init", [b"init"], b"/")]
    for i in range(2, 5000):
        records += [clone_record(i, i * 10, 1, 1), exec_record(i, i * 10 + 1, 1, 1, b"/x",
                    [b"x"], b"/"), exit_record(i, i * 10 + 1, 1, 1, 0)]
    agent.handle_batch(records)
    assert len(agent.cache) == 1
