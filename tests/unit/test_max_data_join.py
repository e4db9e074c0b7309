"""maxData chunks joined to their record in the agent: in order, across a
lost chunk (the buffer ends there, shown truncated with its length), with
chunks whose record never came dropped and counted; and any bytes as a
chunk record decode or raise DecodeError."""

from __future__ import annotations

import ctypes
import struct

from hypothesis import given
from hypothesis import strategies as st

from vigil.agent import DATA_RECORDS_MAX, Agent
from vigil.events.model import TruncatedBytes
from vigil.process.cache import ProcessCache
from vigil.process.clock import Clock
from vigil.sensors.plan import ArgPlan, TracepointHookPlan
from vigil.wire.decode import DecodeError
from vigil.wire.generic import DataMsg, decode_data
from vigil.wire.records import (
    CHAR_BUF_MAX,
    DATA_CHUNK,
    DATA_FIXED_SIZE,
    ArgKind,
    GenericData,
    Op,
)

from .test_agent_generic import Sink
from .test_generic_records import generic_record

BUF = ArgPlan(1, ArgKind.CHAR_BUF, 8, 8, "char_buf", meta_offset=16, meta_size=8,
              max_data=True)


def data_record(offset: int, data: bytes, *, ktime: int = 5, hook_id: int = 7,
                arg: int = 0) -> bytes:
    assert len(data) <= DATA_CHUNK
    d = GenericData()
    d.hdr.op, d.hdr.ktime = Op.GENERIC_DATA, 9
    d.hook_id, d.tid, d.enter_ktime, d.arg, d.offset, d.len = (
        hook_id, 11, ktime, arg, offset, len(data))
    ctypes.memmove(ctypes.addressof(d) + DATA_FIXED_SIZE, data, len(data))
    d.hdr.size = DATA_FIXED_SIZE + len(data)
    return bytes(d)[:d.hdr.size]


def chunks(buf: bytes) -> list[bytes]:
    """The records the kernel sends for `buf` past its slot."""
    return [data_record(off, buf[off:off + DATA_CHUNK])
            for off in range(CHAR_BUF_MAX, len(buf), DATA_CHUNK)]


def agent() -> tuple[Agent, Sink]:
    sink = Sink()
    a = Agent(ProcessCache("vm", Clock(monotonic_to_wall=0, boottime_to_wall=0)), sink,
              sink.encode)
    a.add_hook(7, TracepointHookPlan("pol", "syscalls", "sys_enter_write", (BUF,)))
    return a, sink


def slot(buf: bytes, orig: int) -> bytes:
    return struct.pack("<I", orig) + buf[:CHAR_BUF_MAX]


def test_chunks_in_order_make_the_whole_buffer() -> None:
    a, sink = agent()
    buf = bytes(range(256)) * 40  # 10240 bytes: the slot's, then three chunks
    assert len(chunks(buf)) == 3
    a.handle_batch([*chunks(buf), generic_record([slot(buf, len(buf))])])
    ev, = sink.events
    assert (ev.args[0].key, ev.args[0].value) == ("bytes_arg", buf)  # type: ignore[attr-defined]
    assert a.data_chunks == {}


def test_a_lost_chunk_ends_the_buffer() -> None:
    a, sink = agent()
    buf = b"y" * 9000
    _lost, second = chunks(buf)
    a.handle_batch([second, generic_record([slot(buf, len(buf))])])  # the first was lost
    ev, = sink.events
    assert ev.args[0].value == TruncatedBytes(buf[:CHAR_BUF_MAX], 9000)  # type: ignore[attr-defined]


def test_chunks_of_another_record_stay_apart() -> None:
    a, sink = agent()
    buf = b"z" * 2000
    a.handle_batch([data_record(CHAR_BUF_MAX, b"other", ktime=99),
                    generic_record([slot(buf, len(buf))])])
    ev, = sink.events
    assert ev.args[0].value == TruncatedBytes(buf[:CHAR_BUF_MAX], 2000)  # type: ignore[attr-defined]
    assert list(a.data_chunks) == [(7, 11, 99)]


def test_chunks_whose_record_never_came_are_dropped_and_counted() -> None:
    a, _ = agent()
    a.handle_batch([data_record(CHAR_BUF_MAX, b"x", ktime=k) for k in range(DATA_RECORDS_MAX)])
    assert len(a.data_chunks) == DATA_RECORDS_MAX and not a.decode_errors
    a.handle_batch([data_record(CHAR_BUF_MAX, b"x", ktime=DATA_RECORDS_MAX)])
    assert len(a.data_chunks) == DATA_RECORDS_MAX
    assert (0 not in {k[2] for k in a.data_chunks}, a.decode_errors["data_without_record"]) == (
        True, 1)


def test_decode_exactly() -> None:
    assert decode_data(data_record(1020, b"abc", arg=2)) == DataMsg(7, 11, 5, 2, 1020, b"abc")


@given(st.binary(max_size=DATA_FIXED_SIZE + 64))
def test_any_bytes_decode_or_raise(raw: bytes) -> None:
    try:
        msg = decode_data(raw)
    except DecodeError as err:
        assert err.cause in ("data_short", "data_lengths")
    else:
        assert len(raw) == DATA_FIXED_SIZE + len(msg.data) and msg.arg < 5
