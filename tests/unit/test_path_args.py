"""File arguments (fd, file, path, dentry): their bytes decoded as the
kernel writes them (bpf/lib/arg_path.bpf.h), their mode as Tetragon writes
it, their JSON under Tetragon's keys (parseable with its schema), and tetra's
compact lines for the functions it names a file for."""

from __future__ import annotations

import struct

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st

from vigil.api.gen.tetragon import events_pb2
from vigil.encode.compact import CompactEncoder
from vigil.encode.tetragon import JsonEncoder, RenderOptions
from vigil.events.model import Arg, FilePath
from vigil.wire.decode import DecodeError
from vigil.wire.path_arg import decode_path_arg, mode_string
from vigil.wire.records import PATH_ARG_MAX, PathFlag

from .test_kprobe_encoders import P, kprobe


def raw(path: bytes, flags: int = 0, mode: int = 0o100644) -> bytes:
    return struct.pack("=IHH", flags, mode, 0) + path


def tetragon_mode(mode: int) -> str:
    """pkg/reader/path FilePathModeToStr, step by step as Tetragon writes it."""
    kinds = {0o060000: "b", 0o020000: "c", 0o040000: "d", 0o010000: "p", 0o120000: "l",
             0o100000: "-", 0o140000: "s"}
    out = kinds.get(mode & 0o170000, "")
    for shift, special, letter in ((6, 0o4000, "s"), (3, 0o2000, "s"), (0, 0o1000, "t")):
        bits = (mode >> shift) & 7
        for i, c in ((2, "r"), (1, "w")):
            out += c if bits & (1 << i) else "-"
        if mode & special:
            out += letter if bits & 1 else letter.upper()
        else:
            out += "x" if bits & 1 else "-"
    return out


@given(st.integers(0, 0xFFFF))
def test_mode_string_is_tetragons(mode: int) -> None:
    assert mode_string(mode) == tetragon_mode(mode)


@pytest.mark.parametrize(("mode", "text"), [
    (0o100644, "-rw-r--r--"), (0o041777, "drwxrwxrwt"), (0o104755, "-rwsr-xr-x"),
    (0o104644, "-rwSr--r--"), (0o020620, "crw--w----"), (0o120777, "lrwxrwxrwx"),
    (0, "---------"),  # no inode: no type letter, as Tetragon
])
def test_mode_strings(mode: int, text: str) -> None:
    assert mode_string(mode) == text


def test_decode() -> None:
    assert decode_path_arg(raw(b"/etc/passwd")) == ("/etc/passwd", "", "-rw-r--r--")
    # no bytes after the header: the walk stopped at the root
    assert decode_path_arg(raw(b"", mode=0o040755)) == ("/", "", "drwxr-xr-x")
    assert decode_path_arg(raw(b"x" * PATH_ARG_MAX, PathFlag.UNRESOLVED)) == (
        "x" * PATH_ARG_MAX, "unresolvedPathComponents", "-rw-r--r--")
    # bytes a file name may hold but UTF-8 does not
    assert decode_path_arg(raw(b"/tmp/\xff\n")) == ("/tmp/\\xff\n", "", "-rw-r--r--")


@pytest.mark.parametrize("size", range(8))
def test_short_header_is_a_decode_error(size: int) -> None:
    with pytest.raises(DecodeError) as err:
        decode_path_arg(b"\0" * size)
    assert err.value.cause == "generic_lengths"


@given(st.binary(max_size=PATH_ARG_MAX + 16))
def test_any_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    try:
        path, flags, perm = decode_path_arg(data)
    except DecodeError:
        assert len(data) < 8
        return
    assert path and flags in ("", "unresolvedPathComponents") and len(perm) in (9, 10)


def test_json_and_schema() -> None:
    ev = kprobe("security_file_permission", [
        Arg("file_arg", FilePath("/etc/shadow", "", "-rw-r-----")), Arg("int_arg", 4)])
    line = JsonEncoder(RenderOptions(node_name="n")).encode(ev)
    assert orjson.loads(line)["process_kprobe"]["args"] == [
        {"file_arg": {"path": "/etc/shadow", "permission": "-rw-r-----"}}, {"int_arg": 4}]
    msg = json_format.Parse(line, events_pb2.GetEventsResponse())
    assert msg.process_kprobe.args[0].file_arg.path == "/etc/shadow"
    ev = kprobe("security_path_truncate", [
        Arg("path_arg", FilePath("x/y", "unresolvedPathComponents", "-rw-r--r--"))])
    line = JsonEncoder(RenderOptions(node_name="n")).encode(ev)
    assert orjson.loads(line)["process_kprobe"]["args"] == [{"path_arg": {
        "path": "x/y", "flags": "unresolvedPathComponents", "permission": "-rw-r--r--"}}]
    assert json_format.Parse(line, events_pb2.GetEventsResponse()) \
        .process_kprobe.args[0].path_arg.flags == "unresolvedPathComponents"


F = Arg("file_arg", FilePath("/etc/passwd", "", "-rw-r--r--"))


@pytest.mark.parametrize(("function", "args", "line"), [
    ("__x64_sys_write", [F, Arg("bytes_arg", b"x"), Arg("size_arg", 5)],
     f"📝 write   {P} /etc/passwd 5 bytes"),
    ("__x64_sys_read", [F, Arg("bytes_arg", b"x"), Arg("size_arg", 7)],
     f"📚 read    {P} /etc/passwd 7 bytes"),
    ("__x64_sys_close", [F], f"📪 close   {P} /etc/passwd"),
    ("fd_install", [Arg("int_arg", 3), F], f"📬 open    {P} /etc/passwd"),
    ("security_file_permission", [F, Arg("int_arg", 2)], f"📝 write   {P} /etc/passwd"),
    ("security_file_permission", [F, Arg("int_arg", 4)], f"📚 read    {P} /etc/passwd"),
    ("security_file_permission", [F, Arg("int_arg", 1)],
     f"❓ security_file_permission {P} /etc/passwd"),
    ("security_mmap_file", [F, Arg("uint_arg", 5)], f"📝 mmap-rx {P} /etc/passwd"),
    ("security_mmap_file", [F], f"❓ security_mmap_file {P} "),
    ("security_path_truncate", [Arg("path_arg", FilePath("/a b"))], f"📝 truncate {P} /a b"),
    ("security_path_truncate", [], f"❓ security_path_truncate {P} "),
    ("security_file_truncate", [F], f"📝 truncate {P} /etc/passwd"),
    # a file argument where tetra expects a path one, or the reverse: no name
    ("security_file_truncate", [Arg("path_arg", FilePath("/a"))], f"📝 truncate {P} "),
])
def test_compact_lines(function: str, args: list[Arg], line: str) -> None:
    assert CompactEncoder("n").line(kprobe(function, args)) == line


def test_file_type_compiles_decodes_and_refuses_other_types() -> None:
    from vigil.sensors.plan import ArgPlan
    from vigil.sensors.selectors import ArgFilter, SelectorPlan, compile_selectors
    from vigil.sensors.selectors_decode import decode_selectors
    from vigil.wire.records import ArgKind, Selectors, SelFlag, SelOp

    file_arg = ArgPlan(0, ArgKind.FILE, 0, 8, "file")
    plan = SelectorPlan(args=(ArgFilter(0, "NotFileType", ("dir", "pipe")),))
    raw = compile_selectors([plan], (file_arg,))
    a = Selectors.from_buffer_copy(raw).sel[0].args[0]
    assert (a.op, a.nvalues, a.flags, list(a.lo[:2])) == (
        SelOp.NOT_FILE_TYPE, 2, SelFlag.PATH, [0o040000, 0o010000])
    again = decode_selectors(raw, (file_arg,)).to_plans((file_arg,))
    assert again == (SelectorPlan(args=(ArgFilter(0, "NotFileType", ("dir", "fifo")),)),)
    assert compile_selectors(again, (file_arg,)) == raw
    for bad, error in (
            ((ArgPlan(0, ArgKind.FD, 0, 4, "fd"), ("reg",)),
             "selectors[0].matchArgs[0].operator: FileType filters file and path arguments; "
             "the argument at index 0 is fd"),
            ((file_arg, ("door",)),
             "selectors[0].matchArgs[0].values[0]: 'door' is not a file type; one of sock, "
             "socket, lnk, link, reg, regular, blk, block, dir, chr, char, fifo, pipe")):
        with pytest.raises(ValueError) as err:
            compile_selectors([SelectorPlan(args=(ArgFilter(0, "FileType", bad[1]),))],
                              (bad[0],))
        assert str(err.value) == error
