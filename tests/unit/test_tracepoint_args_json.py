"""Policy arguments from raw record bytes to Tetragon's JSON: syscall64 as a
syscall_id, an array of longs as one size_arg per element, char_buf as
bytes_arg or truncated_bytes_arg, nop as nothing; every line parses strictly
with Tetragon's protobuf and round-trips."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st

from vigil.agent import arg_values
from vigil.api.gen.tetragon import events_pb2
from vigil.encode.tetragon import JsonEncoder, RenderOptions, arg_json
from vigil.events.model import PROCESS_TRACEPOINT, Arg, SyscallId, TracepointEvent, TruncatedBytes
from vigil.kernel.syscalls import IS_32BIT, default_abi
from vigil.process.model import Process, exec_id
from vigil.sensors.plan import ArgPlan
from vigil.wire.generic import ArgError
from vigil.wire.records import CHAR_BUF_MAX, ArgKind

SYSCALL64 = ArgPlan(index=4, kind=ArgKind.SYSCALL64, offset=8, size=8, tetragon_type="syscall64")
ARGS6 = ArgPlan(index=5, kind=ArgKind.CONST_BUF, offset=16, size=48, tetragon_type="const_buf",
                elements=6)
NOP = ArgPlan(index=5, kind=ArgKind.NONE, offset=16, size=0, tetragon_type="nop")
BUF = ArgPlan(index=6, kind=ArgKind.CHAR_BUF, offset=24, size=8, tetragon_type="char_buf",
              meta_offset=32, meta_size=8)
NATIVE = default_abi()


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def test_raw_arguments_become_what_tetragon_shows() -> None:
    assert arg_values(SYSCALL64, (32).to_bytes(8, "little")) == [
        Arg("syscall_id", SyscallId(32, NATIVE))]
    assert arg_values(SYSCALL64, (41 | IS_32BIT).to_bytes(8, "little"))[0].value.abi in (  # type: ignore[union-attr]
        "i386", "arm32")
    six = [1, 2**64 - 1, 0, 4, 5, 6]
    assert arg_values(ARGS6, b"".join(v.to_bytes(8, "little") for v in six)) == [
        Arg("size_arg", v) for v in six]
    assert arg_values(NOP, b"") == []
    assert arg_values(BUF, u32(3) + b"abc") == [Arg("bytes_arg", b"abc")]
    assert arg_values(BUF, u32(0)) == [Arg("bytes_arg", b"")]
    data = bytes(CHAR_BUF_MAX)
    assert arg_values(BUF, u32(CHAR_BUF_MAX + 1) + data) == [
        Arg("truncated_bytes_arg", TruncatedBytes(data, CHAR_BUF_MAX + 1))]
    assert arg_values(BUF, u32(CHAR_BUF_MAX) + data) == [Arg("bytes_arg", data)]
    assert arg_values(BUF, ArgError(14)) == [
        Arg("error_arg", "could not read argument: errno 14")]


def test_the_json_of_each() -> None:
    assert arg_json(Arg("syscall_id", SyscallId(41, "i386"))) == {
        "syscall_id": {"id": 41, "abi": "i386"}}
    # read is 0 on x64: protobuf's JSON leaves a zero id out, and so does Tetragon's
    assert arg_json(Arg("syscall_id", SyscallId(0, "x64"))) == {"syscall_id": {"abi": "x64"}}
    assert arg_json(Arg("truncated_bytes_arg", TruncatedBytes(b"", 9))) == {
        "truncated_bytes_arg": {"orig_size": "9"}}
    assert arg_json(Arg("bytes_arg", b"\x00\xff", "buf")) == {"bytes_arg": "AP8=", "label": "buf"}
    assert arg_json(Arg("truncated_bytes_arg", TruncatedBytes(b"ab", 5000))) == {
        "truncated_bytes_arg": {"bytes_arg": "YWI=", "orig_size": "5000"}}


ARGS = st.one_of(
    st.builds(lambda i, a: Arg("syscall_id", SyscallId(i, a)), st.integers(0, 2**32 - 1),
              st.sampled_from(["x64", "i386", "arm64", "arm32"])),
    st.builds(lambda b: Arg("bytes_arg", b), st.binary(max_size=64)),
    st.builds(lambda b, extra: Arg("truncated_bytes_arg", TruncatedBytes(b, len(b) + extra)),
              st.binary(max_size=64), st.integers(1, 2**32)),
    st.builds(lambda v: Arg("size_arg", v), st.integers(0, 2**64 - 1)),
)


def event(args: list[Arg]) -> TracepointEvent:
    proc = Process(key=(7, 1), exec_id=exec_id("vm", 1, 7), pid=7, tid=7, binary="/bin/x",
                   arguments="", cwd="/", flags=0, start_time="2026-01-01T00:00:00Z")
    return TracepointEvent(kind=PROCESS_TRACEPOINT, time_ns=10**18, process=proc,
                           subsys="raw_syscalls", event="sys_enter", args=args,
                           policy_name="p")


@given(st.lists(ARGS, max_size=6))
def test_every_argument_parses_strictly_and_round_trips(args: list[Arg]) -> None:
    line = JsonEncoder(RenderOptions(node_name="vm")).encode(event(args))
    msg = json_format.Parse(line, events_pb2.GetEventsResponse(), ignore_unknown_fields=False)
    back: dict[str, Any] = json_format.MessageToDict(msg, preserving_proto_field_name=True)
    assert back == orjson.loads(line)
    got = back["process_tracepoint"].get("args", [])
    assert len(got) == len(args)
    for a, j in zip(args, got, strict=True):
        if isinstance(a.value, bytes):
            assert base64.b64decode(j["bytes_arg"]) == a.value
