"""Lesson 4's Python mirror of struct chain_event matches the object's BTF,
and its decoder names the stages that ran."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess

from vigil.bpf_objects import object_path
from vigil.lab.lessons.l04_tailcall import ChainEvent, decode, describe

BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"


def test_mirror_matches_btf() -> None:
    out = subprocess.run(
        [BPFTOOL, "-j", "btf", "dump", "file", str(object_path("lab/04_tailcall.bpf.o"))],
        check=True, capture_output=True, text=True,
    ).stdout
    btf = next(t for t in json.loads(out)["types"]
               if t["kind"] == "STRUCT" and t["name"] == "chain_event")
    assert ctypes.sizeof(ChainEvent) == btf["size"]
    assert [(name, getattr(ChainEvent, name).offset * 8) for name, *_ in ChainEvent._fields_] == [
        (m["name"], m["bits_offset"]) for m in btf["members"]
    ]



def test_decode_and_describe_a_chain_that_hit_the_limit() -> None:
    raw = bytes(ChainEvent(pid=7, ran=0b11111, tail_calls=33, failed_slot=3, comm=b"sh"))
    event = decode(raw)
    assert event == {"pid": 7, "comm": "sh", "tail_calls": 33, "failed_slot": 3,
                     "ran": ["dispatch", "parse", "filter", "output", "again"]}
    assert describe(event) == ("pid 7 (sh): dispatch -> parse -> filter -> output -> again x30; "
                               "33 tail calls, then the call into slot 3 came back")
