"""Decoding records (built here byte for byte) and the process cache's lineage
and reference counting."""

from __future__ import annotations

import ctypes

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from vigil.agent import Agent
from vigil.events.model import Event
from vigil.process.cache import CacheStats, ProcessCache
from vigil.process.clock import Clock
from vigil.process.model import exec_id
from vigil.wire.decode import CloneMsg, DecodeError, ExecMsg, ExitMsg, decode
from vigil.wire.records import (
    EXEC_FIXED_SIZE,
    CloneRecord,
    ExecRecord,
    ExitRecord,
    Op,
    ProcFlag,
)


def exec_record(pid: int, ktime: int, ppid: int, pktime: int, filename: bytes,
                argv: list[bytes], cwd: bytes, flags: int = ProcFlag.EXECVE,
                exe: bytes | None = None, start: int = 0) -> bytes:
    r = ExecRecord()
    r.hdr.op = Op.EXEC
    r.hdr.ktime = ktime
    r.key.pid, r.key.ktime = pid, ktime
    r.parent.pid, r.parent.ktime = ppid, pktime
    r.tid = pid
    r.flags = flags
    r.creds.uid = 1000
    r.start_boottime = start or ktime
    exe = filename if exe is None else exe
    r.exe_ino, r.exe_nlink = 1234, 1
    args = b"".join(a + b"\0" for a in argv)
    r.filename_len, r.args_len, r.cwd_len, r.exe_len = len(filename), len(args), len(cwd), len(exe)
    data = filename + args + cwd + exe
    ctypes.memmove(ctypes.addressof(r) + EXEC_FIXED_SIZE, data, len(data))
    size = EXEC_FIXED_SIZE + len(data)
    r.hdr.size = size
    return bytes(r)[:size]


def clone_record(pid: int, ktime: int, ppid: int, pktime: int, start: int = 0) -> bytes:
    r = CloneRecord()
    r.hdr.op, r.hdr.ktime, r.hdr.size = Op.CLONE, ktime, ctypes.sizeof(r)
    r.key.pid, r.key.ktime, r.parent.pid, r.parent.ktime = pid, ktime, ppid, pktime
    r.tid, r.flags = pid, ProcFlag.CLONE
    r.start_boottime = start or ktime
    return bytes(r)


def exit_record(pid: int, ktime: int, ppid: int, pktime: int, code: int, when: int = 0,
                start: int = 0) -> bytes:
    r = ExitRecord()
    r.hdr.op, r.hdr.ktime, r.hdr.size = Op.EXIT, when or ktime + 1, ctypes.sizeof(r)
    r.key.pid, r.key.ktime, r.parent.pid, r.parent.ktime = pid, ktime, ppid, pktime
    r.tid, r.exit_code = pid, code
    r.start_boottime = start or ktime
    return bytes(r)


def with_header(body: bytes, op: int) -> bytes:
    rec = bytearray(body)
    rec[0:2] = op.to_bytes(2, "little")
    rec[4:8] = len(rec).to_bytes(4, "little")
    return bytes(rec)


def truncated_exec() -> bytes:
    """An exec record one byte shorter than its parts, header consistent."""
    rec = bytearray(exec_record(7, 1, 1, 1, b"/x", [b"x"], b"/")[:-1])
    rec[4:8] = len(rec).to_bytes(4, "little")
    return bytes(rec)


def padded_exec() -> bytes:
    """Bytes after the last part that no length accounts for."""
    rec = bytearray(exec_record(7, 1, 1, 1, b"/x", [b"x"], b"/") + b"leftover")
    rec[4:8] = len(rec).to_bytes(4, "little")
    return bytes(rec)


def test_exec_record_decodes() -> None:
    rec = exec_record(7, 100, 1, 50, b"/bin/echo", [b"echo", b"a b", b""], b"/tmp")
    msg = decode(rec)
    assert isinstance(msg, ExecMsg)
    assert (msg.pid, msg.ktime, msg.parent_pid, msg.parent_ktime) == (7, 100, 1, 50)
    assert msg.filename == "/bin/echo"
    assert msg.argv == ("echo", "a b", "")
    assert msg.cwd == "/tmp"
    assert msg.exe == "/bin/echo"
    assert (msg.exe_ino, msg.exe_nlink, msg.start_boottime) == (1234, 1, 100)
    assert msg.creds.uid == 1000


def test_clone_and_exit_records_decode() -> None:
    assert decode(clone_record(8, 200, 7, 100, start=150)) == CloneMsg(
        200, 8, 7, 100, 8, ProcFlag.CLONE, 150)
    msg = decode(exit_record(8, 200, 7, 100, 3 << 8, when=300, start=150))
    assert msg == ExitMsg(300, 8, 200, 7, 100, 8, 3 << 8, 150)


@pytest.mark.parametrize(
    ("record", "cause"),
    [
        (b"\x01\x00", "short_header"),
        (bytes(16), "size_mismatch"),
        (with_header(bytes(16), 0), "unknown_op"),
        (with_header(bytes(32), Op.EXEC), "exec_short"),
        (exec_record(7, 1, 1, 1, b"/x", [b"x"], b"/")[:-1], "size_mismatch"),
        (truncated_exec(), "exec_lengths"),
        (padded_exec(), "exec_lengths"),
        (with_header(clone_record(1, 1, 1, 1)[:20], Op.CLONE), "clone_short"),
        (with_header(exit_record(1, 1, 1, 1, 0)[:20], Op.EXIT), "exit_short"),
    ],
)
def test_malformed_records_raise_decode_error_with_cause(record: bytes, cause: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode(record)
    assert err.value.cause == cause


LENGTH_OFFSETS = {name: getattr(ExecRecord, name).offset
                  for name in ("filename_len", "args_len", "cwd_len", "exe_len")}

# Records that get past the header: a real op (or an unknown one), a size
# that agrees with the bytes, then fixed parts drawn freely and lengths that
# mostly add up to the bytes that follow (sometimes off by a little), so the
# examples reach every decoder's checks and its success path, not just the
# first length check.
@st.composite
def exec_records(draw: st.DrawFn) -> bytes:
    fixed = draw(st.binary(min_size=EXEC_FIXED_SIZE, max_size=EXEC_FIXED_SIZE))
    parts = draw(st.binary(max_size=4 * 4096 + 8))
    cuts = sorted(draw(st.lists(st.integers(0, len(parts)), min_size=3, max_size=3)))
    lens = [cuts[0], cuts[1] - cuts[0], cuts[2] - cuts[1], len(parts) - cuts[2]]
    if draw(st.booleans()):
        i = draw(st.integers(0, 3))
        lens[i] = max(0, min(0xFFFF, lens[i] + draw(st.integers(-2, 2))))
    return with_header(_exec_body(fixed, (lens[0], lens[1], lens[2], lens[3]), parts), Op.EXEC)


records = st.one_of(
    exec_records(),
    st.builds(lambda body, op: with_header(body, op),
              st.one_of(st.binary(min_size=16, max_size=80),
                        st.binary(min_size=ctypes.sizeof(CloneRecord),
                                  max_size=ctypes.sizeof(CloneRecord)),
                        st.binary(min_size=ctypes.sizeof(ExitRecord),
                                  max_size=ctypes.sizeof(ExitRecord))),
              st.sampled_from([int(Op.CLONE), int(Op.EXIT), 0, 4, 0xFFFF])),
)


def _exec_body(fixed: bytes, lens: tuple[int, int, int, int], parts: bytes) -> bytes:
    body = bytearray(fixed)
    for name, value in zip(LENGTH_OFFSETS, lens, strict=True):
        body[LENGTH_OFFSETS[name]:LENGTH_OFFSETS[name] + 2] = value.to_bytes(2, "little")
    return bytes(body) + parts


@given(records)
def test_decode_never_fails_other_than_decode_error(data: bytes) -> None:
    try:
        msg = decode(data)
    except DecodeError as err:
        event(f"rejected: {err.cause}")
        return
    event(f"decoded: {type(msg).__name__}")
    if isinstance(msg, ExecMsg):
        for part in (msg.filename, msg.cwd, msg.exe, *msg.argv):
            assert len(part.encode("utf-8", "surrogateescape")) <= 4 * 4096


@given(st.lists(st.binary(max_size=300), max_size=4),
       st.binary(max_size=4096), st.binary(max_size=4096), st.binary(max_size=4096))
def test_valid_exec_records_decode_exactly(argv: list[bytes], filename: bytes, cwd: bytes,
                                          exe: bytes) -> None:
    argv = [a.replace(b"\0", b"") for a in argv]
    args_len = sum(len(a) + 1 for a in argv)
    if args_len > 4096:
        argv, args_len = [], 0
    msg = decode(exec_record(9, 5, 1, 1, filename, argv, cwd, exe=exe))
    assert isinstance(msg, ExecMsg)
    text = lambda b: b.decode("utf-8", "backslashreplace")  # noqa: E731
    assert msg.filename == text(filename)
    assert msg.argv == tuple(text(a) for a in argv)
    assert msg.cwd == (text(cwd) or "/")
    assert msg.exe == text(exe)


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
        exec_record(11, 300, 10, 100, b"./tool", [b"tool", b"-x"], b"/opt", start=200),
        clone_record(12, 400, 11, 300),                               # tool forks, no exec
        b"garbage",                                                   # counted, skipped
        exit_record(12, 400, 11, 300, 9),
        exit_record(11, 300, 10, 100, 3 << 8, start=200),
        exit_record(11, 300, 10, 100, 3 << 8, start=200),             # duplicate: dropped
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
    # The second exit names a process that just exited: no second event.
    assert cache.stats.duplicate_exits == 1
    assert cache.stats.exits_of_unknown == 0
    assert cache.stats.stale_removed == 0
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
                    [b"x"], b"/", start=i * 10), exit_record(i, i * 10 + 1, 1, 1, 0, start=i * 10)]
    agent.handle_batch(records)
    assert len(agent.cache) == 1
    assert agent.cache.stats == CacheStats()


def test_exit_never_borrows_the_identity_of_a_dead_process_with_the_same_pid() -> None:
    """The exit of pid 30 was lost; a new process got pid 30 and its exec was
    lost too; its exit must not be reported as the old process's."""
    agent, events = make_agent()
    agent.handle_batch([exec_record(30, 100, 1, 0, b"/old", [b"old"], b"/", start=90)])
    old = events[0].process
    # New process: forked at 500, exec'd at 600 (key known to the kernel).
    agent.handle_batch([exit_record(30, 600, 1, 0, 9, start=500)])
    ev = events[-1]
    assert ev.kind == "process_exit"
    assert ev.process is not old
    assert ev.process.exec_id != old.exec_id
    assert ev.process.exec_id == exec_id("n", 600, 30)
    assert ev.process.flags == ProcFlag.MISS
    assert ev.process.binary == ""
    assert agent.cache.stats.exits_of_unknown == 1
    assert agent.cache.stats.stale_removed == 1  # the old entry, found dead
    assert agent.cache.by_key == {} and agent.cache.by_pid == {}


def test_exit_without_a_kernel_key_matches_only_the_same_fork() -> None:
    """exec map full: the exit record has no ktime; the pid's entry is the
    process only if it was forked at the same instant."""
    agent, events = make_agent()
    agent.handle_batch([exec_record(31, 100, 1, 0, b"/a", [b"a"], b"/", start=90),
                        exit_record(31, 0, 1, 0, 0, when=150, start=90)])
    assert events[-1].process is events[0].process
    assert not events[-1].process.flags & ProcFlag.MISS
    agent.handle_batch([exec_record(31, 200, 1, 0, b"/b", [b"b"], b"/", start=190),
                        exit_record(31, 0, 1, 0, 0, when=300, start=250)])
    assert events[-1].process is not events[2].process
    assert events[-1].process.flags == ProcFlag.MISS
    assert events[-1].process.exec_id == exec_id("n", 250, 31)


def test_exec_of_a_reused_pid_retires_the_dead_entry_and_counts_it() -> None:
    agent, _events = make_agent()
    agent.handle_batch([exec_record(32, 100, 1, 0, b"/a", [b"a"], b"/", start=90),
                        # same process, new image: not stale
                        exec_record(32, 110, 1, 0, b"/b", [b"b"], b"/", start=90)])
    assert agent.cache.stats.stale_removed == 0
    # Another process with pid 32 (forked later): the previous one is dead.
    agent.handle_batch([exec_record(32, 300, 1, 0, b"/c", [b"c"], b"/", start=290)])
    assert agent.cache.stats.stale_removed == 1
    assert list(agent.cache.by_key) == [(32, 300)]


def test_sweep_removes_an_entry_only_on_the_second_disagreement() -> None:
    agent, _events = make_agent()
    cache = agent.cache
    agent.handle_batch([exec_record(40, 100, 1, 0, b"/a", [b"a"], b"/"),
                        exec_record(41, 101, 1, 0, b"/b", [b"b"], b"/"),
                        exec_record(42, 102, 1, 0, b"/c", [b"c"], b"/")])
    kernel = {40: (40, 100), 41: (41, 999)}  # 41 has a newer identity, 42 is absent

    def running(p: object) -> bool:
        return False

    assert cache.sweep(kernel.get, running) == 0
    assert cache.suspects == {(41, 101), (42, 102)}
    # 42's exit was still in the ring buffer: it arrives between sweeps.
    agent.handle_batch([exit_record(42, 102, 1, 0, 0)])
    assert cache.sweep(kernel.get, running) == 1
    assert list(cache.by_key) == [(40, 100)]
    assert cache.stats.stale_removed == 1
    # An entry the exec map lacks (map full) but that still runs is kept.
    agent.handle_batch([exec_record(43, 103, 1, 0, b"/d", [b"d"], b"/")])
    for _ in range(3):
        cache.sweep(kernel.get, lambda p: True)
    assert (43, 103) in cache.by_key
