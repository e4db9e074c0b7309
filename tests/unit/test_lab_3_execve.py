"""Lesson 3's Python mirror of struct exec_event matches the object's BTF,
and the decoder reads a record the way the C side writes it."""

from __future__ import annotations

import pytest

from tests.btf_layout import assert_mirrors_btf
from vigil.lab.lessons.l03_execve import ExecEvent, decode


def test_mirror_matches_btf() -> None:
    assert_mirrors_btf("lab/03_execve.bpf.o", "exec_event", ExecEvent)


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
