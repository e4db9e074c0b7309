"""process_uprobe as Tetragon's JSON (ProcessUprobe's fields in its proto's
order, strictly parseable with its schema) and as tetra's compact line."""

from __future__ import annotations

import orjson
from google.protobuf import json_format

from vigil.api.gen.tetragon import events_pb2
from vigil.encode.compact import CompactEncoder
from vigil.encode.tetragon import JsonEncoder, RenderOptions
from vigil.events.model import PROCESS_UPROBE, Arg, UprobeEvent

from .test_encoders import proc


def uprobe(**kw: object) -> UprobeEvent:
    return UprobeEvent(PROCESS_UPROBE, 1_700_000_000_000_000_000, proc(), None,
                       path="/usr/bin/bash", policy_name="pol", **kw)  # type: ignore[arg-type]


def test_json_of_a_symbol() -> None:
    ev = uprobe(symbol="readline", args=[Arg("string_arg", "$ "), Arg("int_arg", 4)],
                message="m", tags=("t",), ref_ctr_offset=0x4068)
    line = JsonEncoder(RenderOptions(node_name="n")).encode(ev)
    body = orjson.loads(line)["process_uprobe"]
    assert list(body) == ["process", "path", "symbol", "policy_name", "message", "args", "tags",
                          "ref_ctr_offset", "action"]
    assert (body["path"], body["symbol"], body["args"], body["ref_ctr_offset"],
            body["action"]) == ("/usr/bin/bash", "readline",
                                [{"string_arg": "$ "}, {"int_arg": 4}], "16488",
                                "KPROBE_ACTION_POST")
    msg = json_format.Parse(line, events_pb2.GetEventsResponse(), ignore_unknown_fields=False)
    assert (msg.process_uprobe.symbol, msg.process_uprobe.ref_ctr_offset) == ("readline", 0x4068)


def test_json_of_an_offset_has_no_symbol() -> None:
    line = JsonEncoder(RenderOptions(node_name="n")).encode(uprobe(offset=0x11e0))
    body = orjson.loads(line)["process_uprobe"]
    assert list(body) == ["process", "path", "policy_name", "offset", "action"]
    assert body["offset"] == "4576"
    msg = json_format.Parse(line, events_pb2.GetEventsResponse(), ignore_unknown_fields=False)
    assert msg.process_uprobe.offset == 0x11e0


def test_compact_line_as_tetra_prints_it() -> None:
    enc = CompactEncoder("n")
    p = "n /usr/bin/curl https://example.org"
    assert enc.line(uprobe(symbol="readline")) == f"🕵️ uprobe  {p} /usr/bin/bash readline"
    assert enc.line(uprobe(offset=16)) == f"🕵️ uprobe  {p} /usr/bin/bash "
    # the path is the policy's, escaped like every field
    assert enc.line(UprobeEvent(PROCESS_UPROBE, 0, proc(), None, path="/tmp/a\nb",
                                symbol="f")) == f"🕵️ uprobe  {p} /tmp/a\\x0ab f"
