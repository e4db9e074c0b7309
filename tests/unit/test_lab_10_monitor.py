"""Lesson 10's user side: the record mirror matches the object's BTF, and
argv is cut at args_len, never read past it."""

from __future__ import annotations

import ctypes

from tests.btf_layout import assert_mirrors_btf
from vigil.lab.lessons.l10_monitor import F_TRUNC_ARGS, OBJECT, ExecRecord, decode


def test_record_matches_btf() -> None:
    assert_mirrors_btf(OBJECT, "exec_record", ExecRecord)


def record(args: bytes, args_len: int, flags: int = 0) -> bytes:
    r = ExecRecord(pid=7, uid=65534, args_len=args_len, flags=flags, filename=b"/bin/true")
    ctypes.memmove(ctypes.addressof(r) + ExecRecord.args.offset, args, len(args))
    return bytes(r)


def test_argv_ends_at_args_len() -> None:
    # bytes after args_len (here a stale "old\0") are not part of the record
    e = decode(record(b"/bin/true\0x\0old\0", 12))
    assert e["argv"] == ["/bin/true", "x"]
    assert e["filename"] == "/bin/true" and e["pid"] == 7


def test_truncated_argv_keeps_its_last_partial_argument() -> None:
    e = decode(record(b"/bin/echo\0abc", 13, F_TRUNC_ARGS))
    assert e["argv"] == ["/bin/echo", "abc"]
    assert e["args_truncated"]


def test_no_argv() -> None:
    assert decode(record(b"", 0))["argv"] == []
