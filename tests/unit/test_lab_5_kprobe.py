"""Lesson 5's Python mirror of struct unlink_event matches the object's BTF,
and return values are shown signed, with the errno's name."""

from __future__ import annotations

from tests.btf_layout import assert_mirrors_btf
from vigil.lab.lessons.l05_kprobe import OBJECT, UnlinkEvent, decode, describe_return


def test_mirror_matches_btf() -> None:
    assert_mirrors_btf(OBJECT, "unlink_event", UnlinkEvent)


def test_negative_return_decodes_signed() -> None:
    raw = bytes(UnlinkEvent(pid=42, ret=-2, comm=b"unlink", path=b"/tmp/x"))
    assert decode(raw) == {"pid": 42, "comm": "unlink", "path": "/tmp/x", "ret": -2,
                           "errno": "ENOENT"}
    # The guide's __u32 field: the same bytes read unsigned.
    assert int.from_bytes(raw[4:8], "little") == 4294967294


def test_describe_return() -> None:
    assert describe_return(0) == "0"
    assert describe_return(-2) == "-2 (ENOENT)"
    assert describe_return(-13) == "-13 (EACCES)"
    assert describe_return(-9999) == "-9999"
