"""Tracepoint formats and raw tracepoint prototypes of the running kernel.

Each format read from tracefs is checked against an independent source, the
kernel's BTF: a tracepoint's record is ``struct trace_event_raw_<class>``
(``struct trace_entry ent`` first, ``__data_loc`` fields named
``__data_loc_<name>``, ``char __data[]`` last), and a syscall event's record is
``struct syscall_trace_enter`` (``int nr`` then ``unsigned long args[]``).
Nothing here is compared with a kernel version or a captured file, so it holds
on every kernel of the VM matrix.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vigil.kernel.raw_tracepoint import UnknownRawTracepointError, raw_tracepoint
from vigil.kernel.tracefs_format import (
    DataLoc,
    TracepointFormat,
    UnknownTracepointError,
    available_tracepoints,
    read_format,
)
from vigil.kernel.tracepoint_args import ReadKind, resolve_arg, tracepoint_args
from vigil.libbpf.btf_types import Btf, BtfKind

pytestmark = pytest.mark.needs("tracepoint")


@pytest.fixture(scope="module")
def btf() -> Iterator[Btf]:
    with Btf.vmlinux() as kernel:
        yield kernel


def btf_fields(btf: Btf, struct_name: str) -> list[tuple[str, int, int, bool | None]]:
    """(name, byte offset, size, signed for scalar ints) of a struct's members."""
    out = []
    for m in btf.struct(struct_name).members:
        core = btf.type(btf.strip(m.type_id))
        signed = core.int_signed if core.kind is BtfKind.INT else None
        out.append((m.name, m.bit_offset // 8, btf.size_of(m.type_id), signed))
    return out


def format_fields(fmt: TracepointFormat) -> list[tuple[str, int, int]]:
    """(BTF member name, offset, size) of the fields after the common header."""
    return [(f"__data_loc_{f.name}" if f.data_loc is DataLoc.DATA_LOC else f.name,
             f.offset, f.size) for f in fmt.event_fields]


def assert_common_header(btf: Btf, fmt: TracepointFormat) -> None:
    assert [(f.name, f.offset, f.size, f.signed) for f in fmt.common_fields] == [
        (f"common_{name}", offset, size, signed)
        for name, offset, size, signed in btf_fields(btf, "trace_entry")]


@pytest.mark.parametrize(("system", "event", "raw_struct"), [
    ("sched", "sched_process_exec", "trace_event_raw_sched_process_exec"),
    ("raw_syscalls", "sys_enter", "trace_event_raw_sys_enter"),
    ("signal", "signal_generate", "trace_event_raw_signal_generate"),
])
def test_format_offsets_are_the_btf_record_struct(
        btf: Btf, system: str, event: str, raw_struct: str) -> None:
    fmt = read_format(system, event)
    assert (fmt.system, fmt.name) == (system, event)
    assert fmt.id > 0 and fmt.print_fmt
    assert_common_header(btf, fmt)
    members = btf_fields(btf, raw_struct)
    assert members[0][:2] == ("ent", 0)
    assert members[-1][0] == "__data"  # the dynamic payloads follow the fixed part
    assert format_fields(fmt) == [(name, offset, size) for name, offset, size, _ in members[1:-1]]
    ints = {name: signed for name, _, _, signed in members if signed is not None}
    scalars = [f for f in fmt.event_fields if not f.is_array and not f.is_dynamic]
    assert scalars and [f.signed for f in scalars] == [ints[f.name] for f in scalars]


def test_sched_process_exec_filename_is_data_loc(btf: Btf) -> None:
    fmt = read_format("sched", "sched_process_exec")
    filename = fmt.field("filename")
    assert (filename.type_text, filename.element_type, filename.data_loc, filename.size) == (
        "__data_loc char[]", "char", DataLoc.DATA_LOC, 4)
    assert [f.name for f in fmt.event_fields] == ["filename", "pid", "old_pid"]
    args = tracepoint_args(fmt)
    assert (args[4].field.name, args[4].read.kind, args[4].type) == (
        "filename", ReadKind.DATA_LOC, None)
    assert args[4].inference.suggested == "data_loc"
    assert resolve_arg(fmt, 4, "data_loc").read.offset == filename.offset


def test_raw_syscalls_sys_enter_args_array(btf: Btf) -> None:
    fmt = read_format("raw_syscalls", "sys_enter")
    args = fmt.field("args")
    (btf_args,) = [m for m in btf_fields(btf, "trace_event_raw_sys_enter") if m[0] == "args"]
    assert (args.type_text, args.array_len, args.size, args.offset) == (
        "unsigned long[6]", 6, btf_args[2], btf_args[1])
    model = [(a.index, a.field.name, a.type, a.inference.emitted) for a in tracepoint_args(fmt)]
    assert model[4:] == [(4, "id", "int64", 1), (5, "args", "const_buf", 6)]


def test_syscall_event_is_struct_syscall_trace_enter(btf: Btf) -> None:
    fmt = read_format("syscalls", "sys_enter_openat")
    assert_common_header(btf, fmt)
    members = {name: (offset, size, signed)
               for name, offset, size, signed in btf_fields(btf, "syscall_trace_enter")}
    nr_offset, nr_size, nr_signed = members["nr"]
    args_offset = members["args"][0]
    word = btf.size_of(btf.find("long unsigned int", BtfKind.INT) or 0)
    names = ["dfd", "filename", "flags", "mode"]
    assert [(f.name, f.offset, f.size, f.signed) for f in fmt.event_fields] == [
        ("__syscall_nr", nr_offset, nr_size, nr_signed),
        *[(name, args_offset + word * i, word, False) for i, name in enumerate(names)]]
    assert fmt.field("filename").type_text == "const char *"
    model = [(a.index, a.field.name, a.type) for a in tracepoint_args(fmt)]
    assert model[4:] == [(4, "__syscall_nr", "int32"), (5, "dfd", "uint64"),
                         (6, "filename", None), (7, "flags", "uint64"), (8, "mode", None)]


def test_signal_generate_comm_is_an_inline_char_array(btf: Btf) -> None:
    fmt = read_format("signal", "signal_generate")
    comm = tracepoint_args(fmt)[fmt.index_of("comm")]
    assert (comm.index, comm.field.type_text, comm.type, comm.inference.emitted) == (
        7, "char[16]", "const_buf", 0)
    assert (comm.read.kind, comm.read.array_len, comm.read.element_size) == (
        ReadKind.INLINE, 16, 1)


def test_every_format_of_this_kernel_parses() -> None:
    known = available_tracepoints()
    assert len(known) > 100
    for system, event in known:
        fmt = read_format(system, event)
        assert (fmt.system, fmt.name) == (system, event)
        for arg in tracepoint_args(fmt):
            assert (arg.type is None) == (arg.inference.refusal is not None)


def test_unknown_tracepoint_names_the_nearest() -> None:
    with pytest.raises(UnknownTracepointError) as exc:
        read_format("sched", "sched_proces_exec")
    assert "did you mean sched/sched_process_exec" in str(exc.value)
    assert "/sys/kernel/tracing/available_events" in str(exc.value)


# --- raw tracepoints ---------------------------------------------------------------------


def proto(event: str, btf: Btf) -> list[tuple[int, str, str, bool, str | None]]:
    rt = raw_tracepoint(event, btf=btf)
    return [(a.index, a.name, a.type_text, a.is_pointer, a.struct_name) for a in rt.args]


def test_raw_sched_process_fork_takes_two_tasks(btf: Btf) -> None:
    assert proto("sched_process_fork", btf) == [
        (0, "parent", "struct task_struct *", True, "task_struct"),
        (1, "child", "struct task_struct *", True, "task_struct"),
    ]


def test_raw_sys_enter_takes_regs_and_the_syscall_id(btf: Btf) -> None:
    rt = raw_tracepoint("sys_enter", btf=btf)
    assert proto("sys_enter", btf) == [
        (0, "regs", "struct pt_regs *", True, "pt_regs"),
        (1, "id", "long int", False, None),
    ]
    assert (rt.args[1].size, rt.args[1].signed) == (8, True)
    assert rt.arg(1).name == "id"
    with pytest.raises(ValueError, match=r"has 2 arguments but index 2 was requested; its "
                                         r"arguments: 0=regs: struct pt_regs \*, 1=id: long int"):
        rt.arg(2)


def test_raw_tracepoint_of_a_define_event_is_found_by_its_typedef(btf: Btf) -> None:
    # sched_wakeup has no __bpf_trace_sched_wakeup (its class is sched_wakeup_template).
    assert btf.find("__bpf_trace_sched_wakeup", BtfKind.FUNC) is None
    assert proto("sched_wakeup", btf) == [(0, "p", "struct task_struct *", True, "task_struct")]


def test_unknown_raw_tracepoints_say_what_to_use(btf: Btf) -> None:
    with pytest.raises(UnknownRawTracepointError, match="raw_syscalls/sys_enter"):
        raw_tracepoint("sys_enter_openat", system="syscalls", btf=btf)
    with pytest.raises(UnknownRawTracepointError, match="Did you mean sched_process_fork, "):
        raw_tracepoint("sched_proces_fork", btf=btf)
    with pytest.raises(UnknownRawTracepointError, match="is not a raw tracepoint name"):
        raw_tracepoint("sched/sched_process_fork", btf=btf)
