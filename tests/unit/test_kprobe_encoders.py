"""process_kprobe as Tetragon's JSON (its proto's fields, parseable with its
schema) and as tetra's compact lines, for the functions tetra knows."""

from __future__ import annotations

import orjson
import pytest
from google.protobuf import json_format

from vigil.api.gen.tetragon import events_pb2
from vigil.encode.compact import CompactEncoder
from vigil.encode.tetragon import JsonEncoder, RenderOptions
from vigil.events.model import PROCESS_KPROBE, Arg, KprobeEvent, TruncatedBytes

from .test_encoders import proc


def kprobe(function: str, args: list[Arg], **kw: object) -> KprobeEvent:
    return KprobeEvent(PROCESS_KPROBE, 1_700_000_000_000_000_000, proc(), None,
                       function_name=function, args=args, policy_name="pol", **kw)  # type: ignore[arg-type]


def test_json_has_the_protos_fields() -> None:
    ev = kprobe("__x64_sys_read", [Arg("int_arg", 3), Arg("truncated_bytes_arg",
                TruncatedBytes(b"ab", 9)), Arg("size_arg", 9, "count")],
                ret=Arg("int_arg", -4), return_action="KPROBE_ACTION_POST",
                message="m", tags=("t",))
    line = JsonEncoder(RenderOptions(node_name="n")).encode(ev)
    body = orjson.loads(line)["process_kprobe"]
    assert list(body) == ["process", "function_name", "args", "return", "action",
                          "policy_name", "return_action", "message", "tags"]
    assert body["args"] == [{"int_arg": 3}, {"truncated_bytes_arg": {
        "bytes_arg": "YWI=", "orig_size": "9"}}, {"size_arg": "9", "label": "count"}]
    assert (body["return"], body["action"], body["return_action"]) == (
        {"int_arg": -4}, "KPROBE_ACTION_POST", "KPROBE_ACTION_POST")
    msg = json_format.Parse(line, events_pb2.GetEventsResponse())
    assert msg.process_kprobe.function_name == "__x64_sys_read"
    assert getattr(msg.process_kprobe, "return").int_arg == -4


def test_json_without_a_return_leaves_it_out() -> None:
    body = orjson.loads(JsonEncoder(RenderOptions(node_name="n")).encode(
        kprobe("__x64_sys_dup", [])))["process_kprobe"]
    assert list(body) == ["process", "function_name", "action", "policy_name"]


P = "n /usr/bin/curl https://example.org"


@pytest.mark.parametrize(("function", "args", "line"), [
    ("__x64_sys_write", [Arg("int_arg", 1), Arg("bytes_arg", b"x"), Arg("size_arg", 5)],
     f"📝 write   {P}  5 bytes"),
    ("__x64_sys_read", [Arg("int_arg", 1), Arg("bytes_arg", b"x"), Arg("size_arg", 7)],
     f"📚 read    {P}  7 bytes"),
    ("__x64_sys_openat", [Arg("int_arg", -100), Arg("string_arg", "/etc/passwd")],
     f"📬️ openat  {P} /etc/passwd"),
    ("__x64_sys_open", [Arg("string_arg", "x"), Arg("string_arg", "/tmp/a\nb")],
     f"📬️ open    {P} /tmp/a\\x0ab"),
    ("__x64_sys_close", [Arg("int_arg", 3)], f"📪 close   {P} "),
    ("__x64_sys_mount", [Arg("string_arg", "/dev/sda1"), Arg("string_arg", "/mnt")],
     f"💾 mount   {P} /dev/sda1 /mnt"),
    ("__x64_sys_pivot_root", [Arg("string_arg", "/new"), Arg("string_arg", "/old")],
     f"💾 pivot_root {P} /new /old"),
    ("__x64_sys_setuid", [Arg("int_arg", 0)], f"🔑 setuid  {P} 0"),
    ("__x64_sys_setuid", [Arg("uint_arg", 5)], f"🔑 setuid  {P} 0"),  # not an int_arg
    ("__x64_sys_setns", [Arg("int_arg", 3), Arg("int_arg", 0x40000000)], f"🔧 setns   {P} net"),
    ("__x64_sys_clock_settime", [Arg("int_arg", 0)], f"⏰ clock_settime {P}"),
    ("__x64_sys_dup2", [], f"❓ syscall {P} __x64_sys_dup2"),
    ("__arm64_sys_openat", [Arg("int_arg", 0), Arg("string_arg", "/a")], f"📬️ openat  {P} /a"),
])
def test_compact_lines_as_tetra_prints_them(function: str, args: list[Arg], line: str) -> None:
    assert CompactEncoder("n").line(kprobe(function, args)) == line
