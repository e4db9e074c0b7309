"""Generic hook records: built byte for byte, decoded exactly, and any bytes
either decoded or rejected with a cause (never another exception)."""

from __future__ import annotations

import ctypes
import struct

import orjson
from hypothesis import given
from hypothesis import strategies as st

from vigil.agent import arg_value
from vigil.encode.compact import CompactEncoder
from vigil.encode.tetragon import JsonEncoder, RenderOptions
from vigil.events.model import PROCESS_TRACEPOINT, Arg, TracepointEvent
from vigil.process.model import Process
from vigil.sensors.plan import ArgPlan
from vigil.wire.decode import DecodeError
from vigil.wire.generic import ArgError, GenericMsg, decode_generic
from vigil.wire.records import ARG_STR_MAX, GENERIC_FIXED_SIZE, ArgKind, GenericRecord, Op


def generic_record(args: list[bytes | int], hook_id: int = 7) -> bytes:
    data = b""
    for a in args:
        n = a if isinstance(a, int) else len(a)
        body = b"" if isinstance(a, int) else a
        slot = struct.pack("=i", n) + body
        data += slot + bytes(-len(slot) % 8)
    r = GenericRecord()
    r.hdr.op, r.hdr.ktime = Op.GENERIC_TRACEPOINT, 5
    r.key.pid, r.key.ktime, r.tid, r.hook_id, r.action = 10, 3, 11, hook_id, 1
    r.nargs, r.data_len = len(args), len(data)
    ctypes.memmove(ctypes.addressof(r) + GENERIC_FIXED_SIZE, data, len(data))
    r.hdr.size = GENERIC_FIXED_SIZE + len(data)
    return bytes(r)[: r.hdr.size]


def test_arguments_decode_exactly() -> None:
    rec = generic_record([struct.pack("<q", -100), b"/etc/passwd", -14, b""])
    assert decode_generic(rec) == GenericMsg(
        5, 10, 3, 11, 7, 1, [struct.pack("<q", -100), b"/etc/passwd", ArgError(14), b""])


def test_values_take_tetragon_keys() -> None:
    def plan(kind: ArgKind, t: str, size: int = 8, signed: bool = False) -> ArgPlan:
        return ArgPlan(0, kind, 16, size, t, signed)
    raw = struct.pack("<q", -100)
    assert arg_value(plan(ArgKind.INT, "int", 4, True), raw) == Arg("int_arg", -100)
    assert arg_value(plan(ArgKind.INT, "uint32", 4), raw) == Arg("uint_arg", 0xFFFFFF9C)
    assert arg_value(plan(ArgKind.INT, "int64", 8, True), raw) == Arg("long_arg", -100)
    assert arg_value(plan(ArgKind.INT, "uint64"), raw) == Arg("size_arg", 2**64 - 100)
    assert arg_value(plan(ArgKind.STR_PTR, "string"), b"a\xffb") == Arg("string_arg", "a\\xffb")
    assert arg_value(plan(ArgKind.STR_PTR, "string"), ArgError(14)) == Arg(
        "error_arg", "could not read argument: errno 14")


def test_tracepoint_event_json_and_compact() -> None:
    p = Process(key=(1, 2), exec_id="eid", pid=1, tid=1, binary="/bin/cat", arguments="x",
                cwd="/", flags=1, start_time="2026-01-01T00:00:00Z")
    ev = TracepointEvent(kind=PROCESS_TRACEPOINT, time_ns=0, process=p, subsys="syscalls",
                         event="sys_enter_openat", policy_name="pol",
                         args=[Arg("int_arg", -100), Arg("size_arg", 2**64 - 1, "flags"),
                               Arg("error_arg", "e")], tags=("a",))
    body = orjson.loads(JsonEncoder(RenderOptions("vm")).encode(ev))["process_tracepoint"]
    assert body["args"] == [{"int_arg": -100}, {"size_arg": str(2**64 - 1), "label": "flags"},
                            {"error_arg": {"Message": "e"}}]
    assert (body["subsys"], body["event"], body["policy_name"], body["action"], body["tags"]) == (
        "syscalls", "sys_enter_openat", "pol", "KPROBE_ACTION_POST", ["a"])
    assert CompactEncoder("vm").line(ev) == "⁉️ tracepoint vm /bin/cat x syscalls sys_enter_openat"


slots = st.one_of(st.binary(max_size=ARG_STR_MAX + 4), st.integers(-4096, ARG_STR_MAX + 8))


@given(st.lists(slots, max_size=7), st.binary(max_size=16), st.integers(0, 3))
def test_any_record_decodes_or_is_rejected_with_a_cause(args: list[bytes | int], tail: bytes,
                                                         cut: int) -> None:
    rec = generic_record(args)
    for candidate in (rec, rec + tail, rec[: len(rec) - cut]):
        try:
            msg = decode_generic(candidate)
        except DecodeError as err:
            assert err.cause in {"generic_short", "generic_lengths"}
            continue
        assert len(msg.args) == len(args)
