"""Pure logic of the libbpf binding: error messages, load-log parsing, BTF DATASEC parsing."""

from __future__ import annotations

import ctypes
import errno
import struct
import sys

import pytest

from vigil.libbpf._btf import (
    BTF_KIND_DATASEC,
    BTF_KIND_VAR,
    datasec_header,
    encode_value,
    parse_datasec,
)
from vigil.libbpf._named import NamedMapping
from vigil.libbpf.errors import (
    LOG_TAIL_LINES,
    AttachError,
    BpfError,
    LibbpfMissingError,
    LoadError,
    MapError,
    ObjectOpenError,
    describe_errno,
    parse_load_output,
)

# What libbpf 1.1 prints when the verifier refuses a program (abridged).
VERIFIER_LINES = [f"{i}: (b7) r{i % 10} = {i}" for i in range(100)] + [
    "math between fp pointer and register with unbounded min value is not allowed",
    "processed 101 insns (limit 1000000)",
]
LIBBPF_OUTPUT = [
    "libbpf: loading object 'bad' from buffer\n",
    "libbpf: prog 'unchecked_index': BPF program load failed: Invalid argument\n",
    "libbpf: prog 'unchecked_index': -- BEGIN PROG LOAD LOG --\n"
    + "\n".join(VERIFIER_LINES)
    + "\n-- END PROG LOAD LOG --\n",
    "libbpf: prog 'unchecked_index': failed to load: -22\n",
    "libbpf: failed to load object 'bad.bpf.o'\n",
]


def test_every_error_is_a_bpf_error() -> None:
    for cls in (LibbpfMissingError, ObjectOpenError, LoadError, AttachError, MapError):
        assert issubclass(cls, BpfError)


def test_describe_errno_knows_kernel_and_libbpf_codes() -> None:
    assert describe_errno(errno.EACCES) == "EACCES (Permission denied)"
    assert describe_errno(-errno.ENOENT).startswith("ENOENT")
    assert describe_errno(4007) == "LIBBPF_ERRNO__VERIFY (kernel verifier blocks program loading)"


def test_missing_libbpf_says_how_to_install_it() -> None:
    assert "apt-get install libbpf1" in str(LibbpfMissingError("libbpf.so.1: cannot open"))


def test_open_error_names_the_file_and_the_fix() -> None:
    err = ObjectOpenError("/x/echo.bpf.o", errno.ENOENT)
    assert err.path == "/x/echo.bpf.o" and err.errno == errno.ENOENT
    assert "/x/echo.bpf.o" in str(err) and "make build" in str(err)
    assert "not a valid BPF ELF object" in str(ObjectOpenError("/etc/passwd", 4001))


def test_parse_load_output_extracts_program_and_kernel_log() -> None:
    program, log = parse_load_output(LIBBPF_OUTPUT)
    assert program == "unchecked_index"
    assert log.splitlines() == VERIFIER_LINES


def test_parse_load_output_without_verifier_log_keeps_libbpf_messages() -> None:
    output = ["libbpf: map 'big': failed to create: Cannot allocate memory(-12)\n"]
    program, log = parse_load_output(output)
    assert program is None
    assert "failed to create" in log


def test_load_error_shows_the_tail_of_the_log_and_a_hint() -> None:
    err = LoadError.from_libbpf_output(errno.EINVAL, LIBBPF_OUTPUT, path="bad.bpf.o")
    text = str(err)
    lines = text.splitlines()
    assert lines[0] == (
        "cannot load program 'unchecked_index' in bad.bpf.o: EINVAL (Invalid argument)"
    )
    assert f"last {LOG_TAIL_LINES} of {len(VERIFIER_LINES)} lines" in lines[1]
    shown = [line.strip() for line in lines[2:-1]]
    assert shown == VERIFIER_LINES[-LOG_TAIL_LINES:]
    assert lines[-1].startswith("hint: ") and "bound" in lines[-1]
    assert err.program == "unchecked_index" and err.errno == errno.EINVAL
    assert err.verifier_log.splitlines() == VERIFIER_LINES


@pytest.mark.parametrize(
    ("err", "log", "expected"),
    [
        (errno.EPERM, "", "run as root"),
        (errno.EACCES, "combined stack size of 2 calls is 640. Too large", "512 bytes"),
        (errno.EACCES, "R1 invalid mem access 'scalar'", "verifier rejected"),
        (errno.E2BIG, "", "too large"),
        (errno.ENOMEM, "", "max_entries"),
    ],
)
def test_load_error_hints(err: int, log: str, expected: str) -> None:
    assert expected in str(LoadError(err, log, program="p"))


@pytest.mark.parametrize(
    ("err", "kind", "expected"),
    [
        (errno.ENOENT, "tracepoint", "does not exist on this kernel"),
        (errno.ENOENT, "uprobe", "symbol"),
        (errno.EPERM, "tracepoint", "root"),
        (errno.EACCES, "raw_tracepoint", "lockdown"),
        (errno.EOPNOTSUPP, "kprobe", "fallback"),
        (errno.EOPNOTSUPP, "auto", "explicit target"),
        (errno.EINVAL, "auto", "program type does not match"),
    ],
)
def test_attach_error_names_the_hook_and_what_to_do(err: int, kind: str, expected: str) -> None:
    error = AttachError("on_exec", "tracepoint sched/sched_process_nope", err, kind)
    text = str(error)
    assert "'on_exec'" in text and "tracepoint sched/sched_process_nope" in text
    assert expected in text
    assert error.program == "on_exec" and error.errno == err


def test_map_error_appends_the_errno() -> None:
    assert str(MapError("update of map 'calls' failed", -errno.E2BIG)).endswith(
        "E2BIG (Argument list too long)"
    )
    assert str(MapError("sizes differ")) == "sizes differ"


def _btf_type(name_off: int, kind: int, vlen: int, size: int) -> bytes:
    return struct.pack("<III", name_off, (kind << 24) | vlen, size)


def test_parse_datasec_reads_every_var_secinfo() -> None:
    raw = _btf_type(7, BTF_KIND_DATASEC, 2, 12) + struct.pack("<6I", 3, 0, 4, 5, 8, 4)
    entries = parse_datasec(raw)
    assert [(e.type, e.offset, e.size) for e in entries] == [(3, 0, 4), (5, 8, 4)]
    assert datasec_header(raw).vlen == 2


def test_parse_datasec_refuses_other_kinds_and_truncation() -> None:
    with pytest.raises(ValueError, match="expected DATASEC"):
        parse_datasec(_btf_type(1, BTF_KIND_VAR, 0, 4))
    with pytest.raises(ValueError, match="truncated"):
        parse_datasec(_btf_type(1, BTF_KIND_DATASEC, 2, 8) + b"\0" * 12)
    with pytest.raises(ValueError, match="truncated"):
        datasec_header(b"\0" * 4)


def test_encode_value_uses_the_variable_size() -> None:
    assert encode_value("x", 0x01020304, 4) == (0x01020304).to_bytes(4, sys.byteorder)
    assert encode_value("x", -1, 2) == b"\xff\xff"
    assert encode_value("comm", b"bash", 8) == b"bash\0\0\0\0"
    assert encode_value("x", 7, 8) == bytes(ctypes.c_uint64(7))


def test_encode_value_errors_name_the_variable() -> None:
    with pytest.raises(ValueError, match="target_tgid is 4 bytes"):
        encode_value("target_tgid", 1 << 32, 4)
    with pytest.raises(ValueError, match="comm is 4 bytes"):
        encode_value("comm", b"toolong", 4)
    with pytest.raises(TypeError, match="flag"):
        encode_value("flag", True, 1)


def test_named_mapping_key_error_lists_the_real_names() -> None:
    programs = NamedMapping("program", "echo.bpf.o", {"on_exec": 1, "on_exit": 2})
    with pytest.raises(KeyError) as info:
        programs["on_fork"]
    message = str(info.value)
    assert "'on_fork'" in message and "echo.bpf.o" in message and "on_exec, on_exit" in message
    assert list(programs) == ["on_exec", "on_exit"] and len(programs) == 2
