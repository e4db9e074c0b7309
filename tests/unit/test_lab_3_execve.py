"""Lesson 3's Python mirror of struct exec_event matches the object's BTF,
and the decoder reads a record the way the C side writes it."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess

import pytest

from vigil.bpf_objects import object_path
from vigil.lab.lessons.l03_execve import ExecEvent, decode

BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"


def btf_struct(name: str) -> dict[str, object]:
    out = subprocess.run(
        [BPFTOOL, "-j", "btf", "dump", "file", str(object_path("lab/03_execve.bpf.o"))],
        check=True, capture_output=True, text=True,
    ).stdout
    found = [t for t in json.loads(out)["types"] if t["kind"] == "STRUCT" and t["name"] == name]
    assert found, f"struct {name} missing from the object's BTF"
    return dict(found[0])


def test_mirror_matches_btf() -> None:
    btf = btf_struct("exec_event")
    assert ctypes.sizeof(ExecEvent) == btf["size"]
    members = btf["members"]
    assert isinstance(members, list)
    assert [(name, getattr(ExecEvent, name).offset * 8) for name, *_ in ExecEvent._fields_] == [
        (m["name"], m["bits_offset"]) for m in members
    ]


def record(filename: bytes, junk: bytes = b"") -> bytes:
    e = ExecEvent(pid=42, ppid=1, uid=1000, comm=b"true", filename=filename)
    raw = bytearray(bytes(e))
    start = ExecEvent.filename.offset + len(filename) + 1
    raw[start:start + len(junk)] = junk
    return bytes(raw)


def test_decode_reads_every_field() -> None:
    event = decode(record(b"/usr/bin/true"))
    assert event == {"pid": 42, "ppid": 1, "uid": 1000, "comm": "true",
                     "filename": "/usr/bin/true", "tail_zeroed": True}


def test_decode_notices_bytes_left_from_older_events() -> None:
    assert not decode(record(b"/t", junk=b"/tmp/an-older-longer-name"))["tail_zeroed"]


def test_decode_refuses_a_record_of_another_size() -> None:
    with pytest.raises(ValueError, match="exec_event is 284 bytes; got 280"):
        decode(bytes(280))
