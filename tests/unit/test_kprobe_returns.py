"""A kprobe's return without a kernel: the return record's decoder against a
reference reading it through its ctypes mirror (any bytes: the same message
or the same error), and the agent's join of a call with its return, with its
bounds and its faults counted."""

from __future__ import annotations

import ctypes
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.agent import PENDING_RETURNS_MAX, Agent
from vigil.events.model import Arg, KprobeEvent
from vigil.process.cache import ProcessCache
from vigil.process.clock import Clock
from vigil.process.model import Process
from vigil.sensors.plan import ArgPlan, CallView, ReturnPlan, TracepointHookPlan
from vigil.wire.decode import DecodeError
from vigil.wire.generic import ReturnMsg, decode_return
from vigil.wire.records import (
    ARG_STR_MAX,
    RETURN_ARGS_MAX,
    RETURN_FIXED_SIZE,
    ArgKind,
    GenericReturn,
    Op,
)

from .test_agent_generic import Sink
from .test_generic_decode import reference_args
from .test_generic_records import generic_record


def slots_data(args: list[bytes | int]) -> bytes:
    data = b""
    for a in args:
        n = a if isinstance(a, int) else len(a)
        slot = struct.pack("=i", n) + (b"" if isinstance(a, int) else a)
        data += slot + bytes(-len(slot) % 8)
    return data


def return_record(args: list[bytes | int], *, hook_id: int = 7, tid: int = 11,
                  enter_ktime: int = 5, nargs: int | None = None, pad: bytes = b"",
                  action: int = 1) -> bytes:
    data = slots_data(args) + pad
    r = GenericReturn()
    r.hdr.op, r.hdr.ktime = Op.GENERIC_RETURN, 9
    r.key.pid, r.key.ktime, r.tid, r.hook_id, r.action = 10, 3, tid, hook_id, action
    r.nargs = len(args) if nargs is None else nargs
    r.data_len = len(data)
    r.enter_ktime = enter_ktime
    r.hdr.size = RETURN_FIXED_SIZE + len(data)
    ctypes.memmove(ctypes.addressof(r) + RETURN_FIXED_SIZE, data, len(data))
    return bytes(r)[: RETURN_FIXED_SIZE + len(data)]


def reference(rec: bytes) -> ReturnMsg:
    if len(rec) < RETURN_FIXED_SIZE:
        raise DecodeError("return_short", f"{len(rec)} bytes, fixed part is {RETURN_FIXED_SIZE}")
    r = GenericReturn()
    ctypes.memmove(ctypes.addressof(r), rec, RETURN_FIXED_SIZE)
    if RETURN_FIXED_SIZE + r.data_len != len(rec):
        raise DecodeError("return_lengths", f"data_len {r.data_len} disagrees with "
                          f"{len(rec)} bytes")
    if not 1 <= r.nargs <= RETURN_ARGS_MAX:
        raise DecodeError("return_lengths", f"{r.nargs} arguments, from 1 to {RETURN_ARGS_MAX}")
    args = reference_args(rec, r.nargs, RETURN_FIXED_SIZE, "return_lengths")
    return ReturnMsg(r.hdr.ktime, r.key.pid, r.key.ktime, r.tid, r.hook_id, r.action,
                     r.enter_ktime, args)


def outcome(decode: object, rec: bytes) -> object:
    try:
        return decode(rec)  # type: ignore[operator]
    except DecodeError as err:
        return ("error", err.cause, str(err))


def test_a_return_decodes_exactly() -> None:
    rec = return_record([struct.pack("<q", -2), b"filled"], enter_ktime=77)
    assert decode_return(rec) == ReturnMsg(9, 10, 3, 11, 7, 1, 77,
                                           [struct.pack("<q", -2), b"filled"])


def test_argument_counts_either_side_of_the_bounds() -> None:
    one = struct.pack("<q", 1)
    assert len(decode_return(return_record([one])).args) == 1
    assert len(decode_return(return_record([one, b"x"])).args) == RETURN_ARGS_MAX
    for n in (0, RETURN_ARGS_MAX + 1):
        rec = return_record([one] * max(n, 1), nargs=n)
        assert outcome(decode_return, rec) == (
            "error", "return_lengths",
            f"return_lengths: {n} arguments, from 1 to {RETURN_ARGS_MAX}")
    assert outcome(decode_return, return_record([one])[:-1]) == outcome(
        reference, return_record([one])[:-1])
    short = return_record([one])[:RETURN_FIXED_SIZE - 1]
    assert outcome(decode_return, short) == (
        "error", "return_short", f"return_short: {RETURN_FIXED_SIZE - 1} bytes, fixed part is "
        f"{RETURN_FIXED_SIZE}")


slots = st.one_of(st.binary(max_size=ARG_STR_MAX + 4), st.integers(-4096, ARG_STR_MAX + 8))


@settings(max_examples=400)
@given(st.lists(slots, min_size=0, max_size=3), st.integers(0, 4), st.binary(max_size=9))
def test_decoder_matches_the_reference(args: list[bytes | int], nargs: int, pad: bytes) -> None:
    rec = return_record(args, nargs=nargs, pad=pad)
    assert outcome(decode_return, rec) == outcome(reference, rec)


@settings(max_examples=300)
@given(st.binary(min_size=RETURN_FIXED_SIZE - 8, max_size=RETURN_FIXED_SIZE + 64))
def test_any_bytes_decode_as_the_reference(raw: bytes) -> None:
    assert outcome(decode_return, raw) == outcome(reference, raw)


# --- the agent's join ---------------------------------------------------------

def agent_with_read_hook() -> tuple[Agent, Sink]:
    clock = Clock(monotonic_to_wall=1000, boottime_to_wall=0)
    cache = ProcessCache("vm", clock)
    cache.insert(Process(key=(10, 3), exec_id="c", pid=10, tid=10, binary="/bin/x",
                         arguments="", cwd="/", flags=0, start_time="t"))
    sink = Sink()
    agent = Agent(cache, sink, sink.encode)
    args = (ArgPlan(0, ArgKind.INT, 16, 4, "int", signed=True),
            ArgPlan(1, ArgKind.CHAR_BUF, 24, 8, "char_buf", meta_offset=32, meta_size=8),
            ArgPlan(2, ArgKind.INT, 32, 8, "size_t"))
    ret = ArgPlan(0, ArgKind.INT, 16, 4, "int", signed=True)
    agent.add_hook(7, TracepointHookPlan(
        "pol", "syscalls", "sys_enter_read", args,
        call=CallView("__x64_sys_read", ReturnPlan("syscalls", "sys_exit_read", ret, copy=1))))
    return agent, sink


def entry(ktime: int = 5, tid: int = 11) -> bytes:
    rec = bytearray(generic_record([struct.pack("<q", 3), struct.pack("<I", 0), struct.pack(
        "<q", 100)]))
    struct.pack_into("=Q", rec, 8, ktime)
    struct.pack_into("=I", rec, 32, tid)
    return bytes(rec)


def test_the_return_completes_its_call() -> None:
    agent, sink = agent_with_read_hook()
    agent.handle_batch([entry()])
    assert sink.events == [] and len(agent.pending) == 1
    copy = struct.pack("<I", 4) + b"data"
    agent.handle_batch([return_record([struct.pack("<q", 4), copy])])
    ev, = sink.events
    assert isinstance(ev, KprobeEvent)
    assert (ev.function_name, ev.args, ev.ret, ev.return_action) == (
        "__x64_sys_read", [Arg("int_arg", 3), Arg("bytes_arg", b"data"), Arg("size_arg", 100)],
        Arg("int_arg", 4), "KPROBE_ACTION_POST")
    assert ev.process.tid == 11 and agent.cache.by_pid[10].tid == 10
    assert agent.pending == {} and not agent.decode_errors


def test_a_return_joins_only_its_own_call() -> None:
    agent, sink = agent_with_read_hook()
    agent.handle_batch([entry(ktime=5, tid=11), entry(ktime=6, tid=12)])
    ret = struct.pack("<q", -4)
    # another entry time, another thread, another hook: none is a call in flight
    agent.handle_batch([return_record([ret], enter_ktime=6, tid=11),
                        return_record([ret], enter_ktime=5, tid=12),
                        return_record([ret], hook_id=8, enter_ktime=5, tid=11)])
    assert sink.events == [] and agent.decode_errors == {"return_without_entry": 3}
    agent.handle_batch([return_record([ret], enter_ktime=6, tid=12)])
    ev, = sink.events
    assert isinstance(ev, KprobeEvent) and ev.process.tid == 12 and ev.ret == Arg("int_arg", -4)
    assert list(agent.pending) == [(7, 11, 5)]


def test_calls_in_flight_are_bounded() -> None:
    agent, _sink = agent_with_read_hook()
    agent.handle_batch([entry(ktime=k) for k in range(PENDING_RETURNS_MAX)])
    assert len(agent.pending) == PENDING_RETURNS_MAX and not agent.decode_errors
    agent.handle_batch([entry(ktime=PENDING_RETURNS_MAX)])
    assert len(agent.pending) == PENDING_RETURNS_MAX
    assert agent.decode_errors == {"return_never_came": 1}
    assert (7, 11, 0) not in agent.pending  # the oldest went
    assert (7, 11, PENDING_RETURNS_MAX) in agent.pending


def test_removing_the_hook_forgets_its_calls() -> None:
    agent, _sink = agent_with_read_hook()
    agent.handle_batch([entry()])
    agent.remove_hook(7)
    assert agent.pending == {}
    agent.handle_batch([return_record([struct.pack("<q", 1)])])
    assert agent.decode_errors == {"return_without_entry": 1}
