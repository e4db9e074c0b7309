"""The tracefs format parser on format files captured from Linux 6.18
(tests/unit/tracefs_formats/), on hand-made odd ones, and on generated field
lines; and Tetragon's argument model (index, inferred type, read) over them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from vigil.kernel.tracefs_format import (
    DataLoc,
    FormatField,
    TracepointFormat,
    UnknownTracepointError,
    parse_field_line,
    parse_format,
    read_format,
)
from vigil.kernel.tracepoint_args import (
    ReadKind,
    infer_type,
    resolve_arg,
    tracepoint_args,
)

CAPTURED = Path(__file__).parent / "tracefs_formats"


def captured(name: str) -> TracepointFormat:
    """A format captured from /sys/kernel/tracing/events/SYSTEM/EVENT/format."""
    system = name.split("__")[0]
    return parse_format((CAPTURED / f"{name}.format").read_text(), system, source=name)


def shape(fmt: TracepointFormat) -> list[tuple[str, str, int, int, bool]]:
    return [(f.name, f.type_text, f.offset, f.size, f.signed) for f in fmt.fields]


COMMON = [
    ("common_type", "unsigned short", 0, 2, False),
    ("common_flags", "unsigned char", 2, 1, False),
    ("common_preempt_count", "unsigned char", 3, 1, False),
    ("common_pid", "int", 4, 4, True),
]


# --- captured formats -----------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(CAPTURED.glob("*.format")), ids=lambda p: p.stem)
def test_every_captured_format_parses_with_the_common_header_first(path: Path) -> None:
    fmt = parse_format(path.read_text(), path.stem.split("__")[0], source=path.name)
    assert fmt.name == path.stem.split("__")[1]
    assert shape(fmt)[:4] == COMMON
    assert [f.is_common for f in fmt.fields] == [True] * 4 + [False] * (len(fmt.fields) - 4)
    assert fmt.print_fmt and fmt.print_fmt.startswith('"')
    assert [f.line for f in fmt.fields][:4] == [4, 5, 6, 7]


def test_sched_process_exec_filename_is_a_data_loc_char_array() -> None:
    fmt = captured("sched__sched_process_exec")
    assert (fmt.system, fmt.name, fmt.id, fmt.full_name) == (
        "sched", "sched_process_exec", 365, "sched/sched_process_exec")
    assert shape(fmt)[4:] == [
        ("filename", "__data_loc char[]", 8, 4, False),
        ("pid", "pid_t", 12, 4, True),
        ("old_pid", "pid_t", 16, 4, True),
    ]
    filename = fmt.field("filename")
    assert filename.data_loc is DataLoc.DATA_LOC and filename.is_dynamic
    assert (filename.element_type, filename.is_array, filename.array_len) == ("char", True, None)
    assert filename.decl == "__data_loc char[] filename"
    assert filename.line == 9
    assert fmt.print_fmt == ('"filename=%s pid=%d old_pid=%d", __get_str(filename), '
                             "REC->pid, REC->old_pid")
    assert fmt.index_of("pid") == 5
    assert [f.name for f in fmt.event_fields] == ["filename", "pid", "old_pid"]


def test_raw_syscalls_sys_enter_args_is_a_fixed_array_of_six_longs() -> None:
    fmt = captured("raw_syscalls__sys_enter")
    assert shape(fmt)[4:] == [
        ("id", "long", 8, 8, True),
        ("args", "unsigned long[6]", 16, 48, False),
    ]
    args = fmt.field("args")
    assert (args.is_array, args.array_len, args.element_type, args.element_size) == (
        True, 6, "unsigned long", 8)
    assert not args.is_dynamic and not args.is_pointer and not args.is_flexible_array


def test_sys_enter_openat_pointer_and_eight_byte_int_slots() -> None:
    fmt = captured("syscalls__sys_enter_openat")
    assert shape(fmt)[4:] == [
        ("__syscall_nr", "int", 8, 4, True),
        ("dfd", "int", 16, 8, False),
        ("filename", "const char *", 24, 8, False),
        ("flags", "int", 32, 8, False),
        ("mode", "umode_t", 40, 8, False),
    ]
    filename = fmt.field("filename")
    assert filename.is_pointer and filename.element_type == "const char *"


def test_signal_generate_inline_char_array() -> None:
    fmt = captured("signal__signal_generate")
    comm = fmt.field("comm")
    assert (comm.type_text, comm.offset, comm.size, comm.array_len, comm.element_type) == (
        "char[16]", 20, 16, 16, "char")
    assert [f.name for f in fmt.event_fields] == [
        "sig", "errno", "code", "comm", "pid", "group", "result"]


def test_odd_declarations_from_the_kernel() -> None:
    sock = captured("sock__inet_sock_set_state")
    assert (sock.field("saddr").type_text, sock.field("saddr").array_len) == ("__u8[4]", 4)
    assert sock.field("saddr_v6").element_type == "__u8"
    assert sock.field("skaddr").type_text == "const void *"
    kvm = captured("kvmmmu__kvm_mmu_set_spte")
    assert [(f.name, f.type_text, f.size, f.signed) for f in kvm.event_fields[-4:]] == [
        ("level", "u8", 1, False), ("r", "bool", 1, False), ("x", "bool", 1, False),
        ("u", "signed char", 1, True)]
    limit = captured("sock__sock_exceed_buf_limit")
    assert (limit.field("sysctl_mem").type_text, limit.field("sysctl_mem").signed) == (
        "long[3]", True)
    sgt = captured("dma__dma_alloc_sgt")
    phys = sgt.field("phys_addrs")
    assert (phys.data_loc, phys.element_type, phys.is_array) == (DataLoc.DATA_LOC, "u64", True)
    assert sgt.field("dir").type_text == "enum dma_data_direction"
    ipi = captured("ipi__ipi_send_cpumask")
    mask = ipi.field("cpumask")
    assert (mask.type_text, mask.element_type, mask.is_array, mask.is_dynamic) == (
        "__data_loc cpumask_t", "cpumask_t", False, True)
    printk = captured("ftrace__print")
    buf = printk.field("buf")
    assert (buf.type_text, buf.size, buf.array_len, buf.is_flexible_array) == (
        "char[]", 0, None, True)
    percpu = captured("percpu__percpu_alloc_percpu")
    assert percpu.field("ptr").type_text == "void __seg_gs *"
    assert percpu.field("ptr").is_pointer
    io = captured("syscalls__sys_enter_io_submit")
    assert io.field("iocbpp").type_text == "struct iocb * *"
    oom = captured("oom__mark_victim")
    assert (oom.field("oom_score_adj").type_text, oom.field("oom_score_adj").signed) == (
        "short", True)
    amd = captured("amd_cpu__amd_pstate_perf")
    assert amd.field("freq").type_text == "unsigned long long"


def test_a_print_fmt_may_span_lines() -> None:
    fmt = captured("ext4__ext4_getfsmap_mapping")
    assert fmt.print_fmt is not None
    assert fmt.print_fmt.startswith('"dev %d:%d keydev %d:%d block %llu len %llu owner %lld')
    assert '0x%llx\n", ((unsigned int)' in fmt.print_fmt
    assert fmt.print_fmt.endswith("REC->owner, REC->flags")


HEADER = "name: ev\nID: 7\nformat:\n" + "".join(
    f"\tfield:{t} {n};\toffset:{o};\tsize:{s};\tsigned:{g};\n"
    for n, t, o, s, g in [("common_type", "unsigned short", 0, 2, 0),
                          ("common_pid", "int", 4, 4, 1)]) + "\n"


def test_rel_loc_and_a_macro_array_length() -> None:
    # Not from this kernel: __rel_loc is rare, and older kernels print macro lengths.
    fmt = parse_format(HEADER
                       + "\tfield:__rel_loc char[] name;\toffset:8;\tsize:4;\tsigned:0;\n"
                       + "\tfield:char comm[TASK_COMM_LEN];\toffset:12;\tsize:16;\tsigned:0;\n"
                       + "\tfield:u64 weird[NR];\toffset:28;\tsize:12;\tsigned:0;\n"
                       + '\nprint fmt: "%s", __get_rel_str(name)\n', "x")
    name, comm, weird = fmt.event_fields
    assert (name.data_loc, name.element_type) == (DataLoc.REL_LOC, "char")
    assert (comm.type_text, comm.array_len, comm.element_size) == ("char[TASK_COMM_LEN]", 16, 1)
    assert (weird.array_len, weird.element_size) == (None, None)  # 12 is no multiple of 8
    assert [a.read.kind for a in tracepoint_args(fmt)[2:]] == [
        ReadKind.REL_LOC, ReadKind.INLINE, ReadKind.FLEXIBLE]


def test_a_format_without_print_fmt_and_with_header_page_spacing() -> None:
    fmt = parse_format("name: x\nID: 1\nformat:\n\tfield: u64 timestamp;\toffset:0;\t"
                       "size:8;\tsigned:0;\n", "")
    assert fmt.print_fmt is None
    assert shape(fmt) == [("timestamp", "u64", 0, 8, False)]
    assert fmt.full_name == "x"


@pytest.mark.parametrize(("text", "message"), [
    ("", "<format>: ends after 0 lines; line 1 should be 'name: <event>'"),
    ("nam: x\n", "<format>:1: 'nam: x'; expected 'name: <event>'"),
    ("name: x\nID: seven\n", "<format>:2: 'ID: seven'; expected 'ID: <number>'"),
    ("name: x\nID: 1\n", "<format>: ends after 2 lines; line 3 should be 'format:'"),
    ("name: x\nID: 1\nfields:\n", "<format>:3: 'fields:'; expected 'format:'"),
    (HEADER + "\tfield:int x;\toffset:8;\tsize:4;\n",
     "<format>:7: 'field:int x;\\toffset:8;\\tsize:4;' is not a field line; expected "
     "field:<declaration>;<TAB>offset:<n>;<TAB>size:<n>;<TAB>signed:<0|1>;"),
    (HEADER + "\tfield:x;\toffset:8;\tsize:4;\tsigned:0;\n",
     "<format>:7: field declaration 'x' has no type and name; expected a C declaration "
     "such as 'int pid' or 'char comm[16]'"),
    (HEADER + "\tfield:int m[2][3];\toffset:8;\tsize:24;\tsigned:1;\n",
     "<format>:7: field 'm' is a multi-dimensional array; expected one length"),
    (HEADER + "\tfield:char[4] m;\toffset:8;\tsize:4;\tsigned:0;\n",
     "<format>:7: field 'm' has brackets in its type 'char[4]'"),
    (HEADER + "\tfield:__data_loc n;\toffset:8;\tsize:4;\tsigned:0;\n",
     "<format>:7: __data_loc field 'n' does not say what it holds"),
    (HEADER + "\tfield:__data_loc char n[4];\toffset:8;\tsize:4;\tsigned:0;\n",
     "<format>:7: __data_loc field 'n' has an array length after its name"),
    (HEADER + "\tfield:__data_loc [] n;\toffset:8;\tsize:4;\tsigned:0;\n",
     "<format>:7: __data_loc field 'n' has no element type"),
])
def test_rejections_name_the_line_and_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_format(text)
    assert str(exc.value) == message


# --- Tetragon's model ------------------------------------------------------------------


def model(name: str) -> list[tuple[int, str, str | None, int]]:
    return [(a.index, a.field.name, a.type, a.inference.emitted)
            for a in tracepoint_args(captured(name))]


COMMON_MODEL = [(0, "common_type", None, 0), (1, "common_flags", None, 0),
                (2, "common_preempt_count", None, 0), (3, "common_pid", "int32", 1)]


def test_tetragon_indexes_count_common_fields_raw_syscalls() -> None:
    assert model("raw_syscalls__sys_enter") == [
        *COMMON_MODEL, (4, "id", "int64", 1), (5, "args", "const_buf", 6)]


def test_tetragon_types_sched_process_exec() -> None:
    args = tracepoint_args(captured("sched__sched_process_exec"))
    assert model("sched__sched_process_exec") == [
        *COMMON_MODEL, (4, "filename", None, 0), (5, "pid", None, 0), (6, "old_pid", None, 0)]
    assert args[4].inference.suggested == "data_loc"
    assert args[4].inference.refusal == (
        "Tetragon cannot parse the type of field filename (__data_loc char[]): "
        "unknown type:__data_loc; write `type: data_loc`")
    assert args[5].inference.refusal == (
        "Tetragon parses field pid (pid_t) as pid_t but infers no argument type for it; "
        "write `type: int32`")
    assert args[0].inference.refusal == (
        "Tetragon infers integers of 4 or 8 bytes only; field common_type (unsigned short) "
        "has 2; write `type: uint16`")
    assert [a.read.kind for a in args] == [ReadKind.SCALAR] * 4 + [ReadKind.DATA_LOC] + [
        ReadKind.SCALAR] * 2


def test_tetragon_types_follow_the_format_size_not_the_c_name() -> None:
    # Syscall tracepoints give every argument an 8-byte slot, signed:0.
    assert model("syscalls__sys_enter_openat") == [
        *COMMON_MODEL, (4, "__syscall_nr", "int32", 1), (5, "dfd", "uint64", 1),
        (6, "filename", None, 0), (7, "flags", "uint64", 1), (8, "mode", None, 0)]
    assert model("syscalls__sys_enter_lseek")[4:] == [
        (4, "__syscall_nr", "int32", 1), (5, "fd", "uint64", 1), (6, "offset", None, 0),
        (7, "whence", "uint64", 1)]


def test_tetragon_char_arrays_are_const_buf_and_emit_nothing() -> None:
    assert model("signal__signal_generate")[4:] == [
        (4, "sig", "int32", 1), (5, "errno", "int32", 1), (6, "code", "int32", 1),
        (7, "comm", "const_buf", 0), (8, "pid", None, 0), (9, "group", "int32", 1),
        (10, "result", "int32", 1)]
    # An array of signed longs still emits one uint64 per element.
    limit = {a.field.name: a for a in tracepoint_args(captured("sock__sock_exceed_buf_limit"))}
    assert (limit["sysctl_mem"].type, limit["sysctl_mem"].inference.emitted) == ("const_buf", 3)
    assert (limit["name"].type, limit["name"].inference.emitted) == ("const_buf", 0)


def test_tetragon_refuses_what_its_parser_does_not_know() -> None:
    by_name = {a.field.name: a.inference for a in
               tracepoint_args(captured("sock__inet_sock_set_state"))}
    assert (by_name["sport"].type, by_name["sport"].suggested) == (None, "uint16")
    assert (by_name["saddr"].type, by_name["saddr"].suggested) == (None, None)
    assert by_name["saddr"].refusal == (
        "Tetragon cannot parse the type of field saddr (__u8[4]): unknown type:__u8")
    assert by_name["skaddr"].refusal == (
        "Tetragon cannot handle a pointer to void (field skaddr (const void *)); "
        "write `type: uint64`")
    kvm = {a.field.name: a.inference for a in tracepoint_args(captured("kvmmmu__kvm_mmu_set_spte"))}
    assert (kvm["gfn"].type, kvm["level"].type, kvm["r"].type, kvm["u"].type) == (
        "uint64", None, None, None)
    assert (kvm["level"].suggested, kvm["r"].suggested, kvm["u"].suggested) == (
        "uint8", "uint8", "int8")
    sgt = {a.field.name: a.inference for a in tracepoint_args(captured("dma__dma_alloc_sgt"))}
    assert (sgt["size"].type, sgt["phys_addrs"].type, sgt["phys_addrs"].suggested) == (
        "size_t", None, None)
    io = {a.field.name: a.inference for a in
          tracepoint_args(captured("syscalls__sys_enter_io_submit"))}
    assert io["iocbpp"].refusal == (
        "Tetragon cannot parse the type of field iocbpp (struct iocb * *): unknown type:struct; "
        "write `type: uint64`")
    printk = {a.field.name: a for a in tracepoint_args(captured("ftrace__print"))}
    assert printk["buf"].inference.refusal == (
        "Tetragon cannot parse the type of field buf (char[]): failed to parse size: ''")
    assert printk["buf"].read.kind is ReadKind.FLEXIBLE
    assert printk["ip"].type == "uint64"


def field(decl: str, size: int, signed: bool = False) -> FormatField:
    return parse_field_line(f"\tfield:{decl};\toffset:8;\tsize:{size};\tsigned:{int(signed)};")


@pytest.mark.parametrize(("decl", "size", "signed", "expected"), [
    ("unsigned x", 4, False, "uint32"),
    ("unsigned long long x", 8, False, "uint64"),
    ("long long x", 8, True, "int64"),
    ("u32 x", 4, False, "uint32"),
    ("const int x", 8, False, "uint64"),
    ("size_t x", 8, False, "size_t"),
    ("const size_t x", 8, False, "size_t"),
    ("char x", 1, True, None),
    ("short int x", 2, True, None),
    ("signed char x", 1, True, None),
    ("__s32 x", 4, True, None),
    ("int * x", 8, False, None),
    ("unsigned char * x", 8, False, None),
    ("const char *const * x", 8, False, None),
    ("const void* x", 8, False, None),
    ("u8 x[6]", 6, False, "const_buf"),
    ("bool x[2]", 2, False, None),
    ("dma_addr_t x", 8, False, None),
    ("int __attribute__((x)) * x", 8, False, None),
])
def test_tetragon_inference_table(decl: str, size: int, signed: bool,
                                  expected: str | None) -> None:
    assert infer_type(field(decl, size, signed)).type == expected


def test_char_pointers_are_char_buf_with_a_size_argument() -> None:
    f = field("const char * buf", 8)
    assert infer_type(f).type is None
    assert infer_type(f).suggested == "string"
    assert infer_type(f, size_arg_index=7).type == "char_buf"
    assert infer_type(field("unsigned char * buf", 8), size_arg_index=1).type == "char_buf"
    assert infer_type(field("u8 * buf", 8), size_arg_index=1).type is None


def test_resolve_arg() -> None:
    openat = captured("syscalls__sys_enter_openat")
    got = resolve_arg(openat, 6, "string")
    assert (got.field.name, got.type, got.inferred, got.read.kind, got.read.offset) == (
        "filename", "string", False, ReadKind.POINTER, 24)
    buf = resolve_arg(openat, 6, size_arg_index=8)  # the length in field 7 (flags, here)
    assert (buf.type, buf.inferred, buf.size_field) == ("char_buf", True, 7)
    auto = resolve_arg(openat, 5, "auto")
    assert (auto.type, auto.inferred, auto.read.size, auto.read.signed) == (
        "uint64", True, 8, False)
    sys_enter = captured("raw_syscalls__sys_enter")
    args = resolve_arg(sys_enter, 5)
    assert (args.type, args.emitted, args.read.kind, args.read.array_len) == (
        "const_buf", 6, ReadKind.INLINE, 6)
    assert resolve_arg(sys_enter, 4, "syscall64").type == "syscall64"
    exec_ = captured("sched__sched_process_exec")
    assert resolve_arg(exec_, 4, "data_loc").read.kind is ReadKind.DATA_LOC
    with pytest.raises(ValueError, match=re.escape(
            "field 4 of sched/sched_process_exec: Tetragon cannot parse the type of field "
            "filename (__data_loc char[]): unknown type:__data_loc; write `type: data_loc`")):
        resolve_arg(exec_, 4)
    with pytest.raises(ValueError, match=re.escape(
            "tracepoint raw_syscalls/sys_enter has 6 fields but field 6 was requested; its "
            "fields, common_* included: 0=common_type, 1=common_flags, "
            "2=common_preempt_count, 3=common_pid, 4=id, 5=args")):
        resolve_arg(sys_enter, 6)
    with pytest.raises(ValueError, match="field 9 was requested by sizeArgIndex 10 of field 6"):
        resolve_arg(openat, 6, size_arg_index=10)
    with pytest.raises(ValueError, match="type const_buf cannot be written in a policy"):
        resolve_arg(sys_enter, 5, "const_buf")


# --- the live-file reader, on a fake tracefs ----------------------------------------------


def test_read_format_names_similar_tracepoints(tmp_path: Path) -> None:
    events = tmp_path / "events" / "sched" / "sched_process_exec"
    events.mkdir(parents=True)
    (events / "format").write_text((CAPTURED / "sched__sched_process_exec.format").read_text())
    (tmp_path / "available_events").write_text(
        "sched:sched_process_exec\nsched:sched_process_exit\nsyscalls:sys_enter_openat\n")
    assert read_format("sched", "sched_process_exec", tracefs=tmp_path).id == 365
    with pytest.raises(UnknownTracepointError) as exc:
        read_format("sched", "sched_proces_exec", tracefs=tmp_path)
    assert str(exc.value) == (
        f"no tracepoint sched/sched_proces_exec: {events.parent}/sched_proces_exec/format does "
        "not exist; did you mean sched/sched_process_exec, sched/sched_process_exit? every "
        f"tracepoint is listed in {tmp_path}/available_events as SYSTEM:EVENT (a module's "
        "tracepoints appear once the module is loaded)")
    with pytest.raises(UnknownTracepointError, match="did you mean sched/sched_process_exec"):
        read_format("syscalls", "sched_process_exec", tracefs=tmp_path)
    for system, name in [("..", "x"), ("sched", "../../etc"), ("a/b", "c"), ("", "x")]:
        with pytest.raises(UnknownTracepointError, match="is not a tracepoint"):
            read_format(system, name, tracefs=tmp_path)


# --- generated field lines ---------------------------------------------------------------

TYPES = ["int", "unsigned int", "unsigned", "long", "unsigned long", "long long",
         "unsigned long long", "short", "unsigned short", "char", "signed char",
         "unsigned char", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "__u8",
         "__u16", "__u32", "__u64", "bool", "pid_t", "size_t", "umode_t", "dev_t",
         "enum dma_data_direction", "const char *", "char *", "void *", "const void *",
         "struct iocb * *", "void __seg_gs *", "const char *const *", "int *"]
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)


@st.composite
def field_lines(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    """A well-formed field line and what parsing it must give."""
    ty = draw(st.sampled_from(TYPES))
    name = draw(NAMES)
    kind = draw(st.sampled_from(["scalar", "array", "flexible", "data_loc", "rel_loc"]))
    offset, size = draw(st.integers(0, 65535)), draw(st.integers(0, 4096))
    signed = draw(st.booleans())
    sep = draw(st.sampled_from(["\t", " ", "\t\t", "  "]))
    if kind == "array":
        n = draw(st.integers(1, 64))
        decl, type_text, elem, length = f"{ty} {name}[{n}]", f"{ty}[{n}]", ty, n
    elif kind == "flexible":
        decl, type_text, elem, length = f"{ty} {name}[]", f"{ty}[]", ty, None
    elif kind in ("data_loc", "rel_loc"):
        decl = f"__{kind} {ty}[] {name}"
        type_text, elem, length = f"__{kind} {ty}[]", ty, None
    else:
        decl, type_text, elem, length = f"{ty} {name}", ty, ty, None
    line = (f"{sep}field:{decl};{sep}offset:{offset};{sep}size:{size};"
            f"{sep}signed:{int(signed)};")
    return line, {"name": name, "type_text": type_text, "element_type": elem,
                  "array_len": length, "offset": offset, "size": size, "signed": signed,
                  "is_array": kind != "scalar",
                  "data_loc": {"data_loc": DataLoc.DATA_LOC, "rel_loc": DataLoc.REL_LOC}.get(kind)}


@given(st.lists(field_lines(), min_size=1, max_size=12, unique_by=lambda x: x[1]["name"]))
def test_generated_formats_parse_to_exactly_their_fields(
        lines: list[tuple[str, dict[str, object]]]) -> None:
    body = "\n".join(line for line, _ in lines)
    text = f'name: gen\nID: 1\nformat:\n{body}\n\nprint fmt: ""\n'
    fmt = parse_format(text, "gen")
    for f, (_, want) in zip(fmt.fields, lines, strict=True):
        got = {k: getattr(f, k) for k in want}
        assert got == want
    for arg in tracepoint_args(fmt):  # the Tetragon model never raises either
        assert (arg.type is None) == (arg.inference.refusal is not None)


def _mutate(line: str, data: st.DataObject) -> str:
    where = data.draw(st.integers(0, len(line)))
    how = data.draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
    junk = data.draw(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=4))
    if how == "insert":
        return line[:where] + junk + line[where:]
    if how == "delete":
        return line[:where] + line[where + len(junk):]
    if how == "replace":
        return line[:where] + junk + line[where + len(junk):]
    return line[:where]


@given(st.lists(field_lines(), min_size=1, max_size=6, unique_by=lambda x: x[1]["name"]),
       st.data())
def test_damaged_field_lines_parse_or_are_rejected_naming_their_line(
        lines: list[tuple[str, dict[str, object]]], data: st.DataObject) -> None:
    victim = data.draw(st.integers(0, len(lines) - 1))
    body = [line for line, _ in lines]
    body[victim] = _mutate(body[victim], data)
    text = "name: gen\nID: 1\nformat:\n" + "\n".join(body) + "\n"
    try:
        fmt = parse_format(text, "gen", source="gen")
    except ValueError as e:
        # The damaged line, or a later one that the damage made a duplicate of.
        numbers = [int(n) for n in re.findall(r"^gen:(\d+):", str(e))]
        assert numbers and numbers[0] >= 4 + victim, str(e)
        event("rejected: " + re.sub(r"'.*'|\d+", "_", str(e).split(": ", 1)[1])[:40])
        return
    event("parsed")
    for arg in tracepoint_args(fmt):
        assert arg.index < len(fmt.fields)


@given(st.text(max_size=300))
def test_any_text_parses_or_raises_value_error(text: str) -> None:
    try:
        parse_format(text, source="t")
    except ValueError as e:
        assert str(e).startswith("t:"), str(e)


@given(st.text(alphabet=st.sampled_from("field:offsetizgn;[]_ \t*01234567\n"), max_size=200))
def test_field_like_noise_after_a_header_parses_or_raises_value_error(body: str) -> None:
    try:
        fmt = parse_format("name: n\nID: 2\nformat:\n" + body, source="t")
    except ValueError as e:
        assert re.match(r"t:\d+: ", str(e)), str(e)
        return
    tracepoint_args(fmt)


def test_a_repeated_field_name_is_kept_at_both_positions() -> None:
    """5.10's regmap/regcache_sync declares `type` twice; positions count."""
    fmt = parse_format(HEADER + "\tfield:int type;\toffset:8;\tsize:4;\tsigned:1;\n"
                       "\tfield:int type;\toffset:12;\tsize:4;\tsigned:1;\n")
    types = [f for f in fmt.fields if f.name == "type"]
    assert [f.offset for f in types] == [8, 12]
    assert fmt.field("type").offset == 8


def test_an_array_length_may_be_a_sum() -> None:
    """5.10's smbus/smbus_reply: `u8 buf[32 + 2]`."""
    fmt = parse_format(HEADER + "\tfield:u8 buf[32 + 2];\toffset:8;\tsize:34;\tsigned:0;\n")
    assert fmt.field("buf").array_len == 34


def test_an_array_length_the_parser_cannot_read_follows_from_the_size() -> None:
    """5.10's tcp/tcp_probe: `__u8 saddr[sizeof(struct sockaddr_in6)]`."""
    fmt = parse_format(HEADER + "\tfield:__u8 saddr[sizeof(struct sockaddr_in6)];"
                       "\toffset:8;\tsize:28;\tsigned:0;\n")
    assert fmt.field("saddr").array_len == 28
