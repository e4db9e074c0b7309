"""Lesson 6's Python mirror of struct exec_event matches the object's BTF, and
argv is split the way the kernel lays it out."""

from __future__ import annotations

from tests.btf_layout import assert_mirrors_btf
from vigil.lab.lessons.l06_core import OBJECT, ExecEvent, decode, split_args


def test_mirror_matches_btf() -> None:
    assert_mirrors_btf(OBJECT, "exec_event", ExecEvent)


def test_split_args() -> None:
    assert split_args(b"") == []
    assert split_args(b"/bin/echo\0a b\0\0") == ["/bin/echo", "a b", ""]
    assert split_args(b"ls\0-l\0/tm") == ["ls", "-l", "/tm"]  # truncated inside the last


def test_decode_reads_args_past_the_first_nul() -> None:
    args = b"/bin/echo\0hi\0"
    raw = bytearray(bytes(ExecEvent(pid=7, ppid=1, args_len=len(args), has_state=1,
                                    comm=b"echo")))
    raw[ExecEvent.args.offset : ExecEvent.args.offset + len(args)] = args
    event = decode(bytes(raw))
    assert event["argv"] == ["/bin/echo", "hi"]
    assert (event["pid"], event["ppid"], event["comm"]) == (7, 1, "echo")
    assert event["has_state"] is True and event["has_iter_num"] is False
