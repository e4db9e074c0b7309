"""How a raw tracepoint's arguments are planned from their BTF description
(vigil.sensors.raw_tracepoint_compile), and how its program type is chosen:
pure logic, on TP_PROTOs written out here (tests/kernel/test_raw_tracepoints.py
plans real ones from the kernel's BTF and runs them)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.kernel.raw_tracepoint import MAX_RAW_INDEX, RawTracepoint, RawTracepointArg
from vigil.kernel.report import Feature
from vigil.policy.support import PLANNED
from vigil.sensors.plan import STRUCT_TYPE_KINDS
from vigil.sensors.raw_tracepoint_compile import (
    RAW_PROGRAM_RUNGS,
    STRUCT_TYPES,
    ProgramChoice,
    choose_raw_program,
    raw_arg_plan,
)
from vigil.wire.records import ArgKind


def integer(text: str, size: int, signed: bool, index: int = 0) -> RawTracepointArg:
    return RawTracepointArg(index, "n", 1, text, size, signed, False, None, None, True)


def pointer(pointee: str, struct: str | None = None, index: int = 0) -> RawTracepointArg:
    return RawTracepointArg(index, "p", 2, f"{pointee} *", 8, False, True, pointee, struct)


def by_value(text: str) -> RawTracepointArg:
    """A struct passed by value: neither an integer nor a pointer."""
    return RawTracepointArg(0, "s", 3, text, 16, False, False, None, None)


def tp(*args: RawTracepointArg) -> RawTracepoint:
    numbered = tuple(RawTracepointArg(i, *(getattr(a, f) for f in (
        "name", "type_id", "type_text", "size", "signed", "is_pointer", "pointee",
        "struct_name", "is_integer"))) for i, a in enumerate(args))
    return RawTracepoint("ev", 99, numbered, None)


@pytest.mark.parametrize(("size", "signed", "name"), [
    (1, True, "int8"), (1, False, "uint8"), (2, True, "int16"), (2, False, "uint16"),
    (4, True, "int"), (4, False, "uint32"), (8, True, "int64"), (8, False, "uint64")])
def test_an_integer_is_read_at_its_width_with_btfs_signedness(size: int, signed: bool,
                                                              name: str) -> None:
    p = raw_arg_plan(tp(integer("x", size, signed)), 0, "auto", "lbl")
    assert (p.kind, p.offset, p.size, p.tetragon_type, p.signed, p.label) == (
        ArgKind.INT, 0, size, name, signed, "lbl")


@given(st.lists(st.tuples(st.sampled_from([1, 2, 4, 8]), st.booleans()),
                min_size=MAX_RAW_INDEX + 1, max_size=MAX_RAW_INDEX + 3),
       st.integers(0, MAX_RAW_INDEX))
def test_argument_i_is_read_from_slot_i(ints: list[tuple[int, bool]], index: int) -> None:
    rt = tp(*(integer("x", size, signed) for size, signed in ints))
    p = raw_arg_plan(rt, index, "auto")
    assert (p.index, p.offset, p.size, p.signed) == (index, 8 * index, *ints[index])


def test_only_the_first_five_arguments_are_read() -> None:
    rt = tp(*(integer("int", 4, True) for _ in range(MAX_RAW_INDEX + 2)))
    assert raw_arg_plan(rt, MAX_RAW_INDEX, "auto").offset == 8 * MAX_RAW_INDEX
    with pytest.raises(ValueError, match=rf"index {MAX_RAW_INDEX + 1} is past the first "
                                         rf"{MAX_RAW_INDEX + 1} arguments"):
        raw_arg_plan(rt, MAX_RAW_INDEX + 1, "auto")
    with pytest.raises(ValueError, match="has 6 arguments but index 6 was requested"):
        raw_arg_plan(rt, MAX_RAW_INDEX + 2, "auto")


@pytest.mark.parametrize("pointee", ["char", "const char", "unsigned char", "signed char",
                                     "const volatile char"])
def test_a_char_pointer_is_a_string(pointee: str) -> None:
    for ty in ("auto", "string"):
        p = raw_arg_plan(tp(pointer(pointee)), 0, ty)
        assert (p.kind, p.offset, p.tetragon_type) == (ArgKind.STR_PTR, 0, "string")


@pytest.mark.parametrize("pointee", ["u8", "const u8", "void", "int", "struct task_struct"])
def test_other_pointers_are_their_value_and_hold_no_string(pointee: str) -> None:
    struct = pointee.removeprefix("struct ") if pointee.startswith("struct") else None
    # Never inferred: the value is a kernel address.
    with pytest.raises(ValueError, match=rf"argument 0 \(p: {pointee} \*\): a pointer is not "
                                         r"read by default \(its value is a kernel address\)"):
        raw_arg_plan(tp(pointer(pointee, struct)), 0, "auto")
    p = raw_arg_plan(tp(pointer(pointee, struct)), 0, "uint64")
    assert (p.kind, p.size, p.tetragon_type, p.signed) == (ArgKind.INT, 8, "uint64", False)
    with pytest.raises(ValueError, match=rf"argument 0 \(p: {pointee} \*\) holds no string"):
        raw_arg_plan(tp(pointer(pointee, struct)), 0, "string")


@pytest.mark.parametrize("struct", sorted(s for s, t in STRUCT_TYPES.items()
                                           if t in STRUCT_TYPE_KINDS))
def test_a_pointer_tetragon_reads_with_its_own_type_is_read_so(struct: str) -> None:
    """Inferred from BTF (auto) and given, as Tetragon reads it."""
    reader = STRUCT_TYPES[struct]
    c_type = "union bpf_attr" if reader == "bpf_attr" else f"struct {struct}"
    want = "struct sockaddr" if reader == "sockaddr_un" else c_type
    for type_ in ("auto", reader):
        p = raw_arg_plan(tp(pointer(c_type, struct)), 0, type_)
        assert (p.kind, p.tetragon_type, p.size, p.offset) == (
            STRUCT_TYPE_KINDS[reader], reader, 8, 0)
    with pytest.raises(ValueError) as err:
        raw_arg_plan(tp(pointer("struct other", "other")), 0, reader)
    assert str(err.value) == (f"raw tracepoint ev argument 0 (p: struct other *): type "
                              f"{reader} reads a {want} *")


def test_every_struct_tetragon_reads_has_its_reader() -> None:
    assert set(STRUCT_TYPES.values()) <= set(STRUCT_TYPE_KINDS)


def test_every_struct_reader_is_a_tetragon_type_planned_for_issue_9() -> None:
    assert {PLANNED.get(f"spec.tracepoints[].args[].type={t}") for t in
            STRUCT_TYPES.values()} == {"issue 9"}
    assert STRUCT_TYPES["sk_buff"] == "skb" and STRUCT_TYPES["linux_binprm"] == "linux_binprm"


@pytest.mark.parametrize(("ty", "size", "width", "signed", "name"), [
    ("int", 4, 4, True, "int"), ("int", 8, 4, True, "int"), ("int", 2, 2, True, "int"),
    ("uint64", 4, 4, False, "uint64"), ("uint64", 8, 8, False, "uint64"),
    ("int64", 1, 1, True, "int64"), ("sint16", 8, 2, True, "int16"),
    ("long", 8, 8, True, "int64"), ("ulong", 8, 8, False, "uint64"),
    ("size_t", 8, 8, False, "size_t"), ("uint8", 4, 1, False, "uint8")])
def test_a_given_integer_type_reads_no_more_than_the_c_type(ty: str, size: int, width: int,
                                                           signed: bool, name: str) -> None:
    p = raw_arg_plan(tp(integer("x", size, not signed)), 0, ty)
    assert (p.kind, p.size, p.signed, p.tetragon_type) == (ArgKind.INT, width, signed, name)


def test_types_that_do_not_fit_the_argument_say_why() -> None:
    with pytest.raises(ValueError, match=r"\(s: struct x\) is not an integer or a pointer; "
                                         r"int cannot read it"):
        raw_arg_plan(tp(by_value("struct x")), 0, "int")
    with pytest.raises(ValueError, match=r"\(s: struct x\): no type can be inferred for it"):
        raw_arg_plan(tp(by_value("struct x")), 0, "auto")
    with pytest.raises(ValueError, match=r"\(n: int\) holds no string"):
        raw_arg_plan(tp(integer("int", 4, True)), 0, "string")
    with pytest.raises(ValueError, match="data_loc is a tracefs record's string"):
        raw_arg_plan(tp(pointer("char")), 0, "data_loc")
    with pytest.raises(ValueError, match=r"type char_iovec is not supported yet \(issue 9\)"):
        raw_arg_plan(tp(pointer("struct iovec", "iovec")), 0, "char_iovec")
    with pytest.raises(ValueError, match=r"type syscall64 is read from a tracefs record only, "
                                         r"not yet from a raw tracepoint \(use raw: false\)"):
        raw_arg_plan(tp(integer("long", 8, True)), 0, "syscall64")


def probes(**available: bool) -> dict[str, Feature]:
    return {name: Feature(name, ok, "yes" if ok else f"{name} refused: EPERM")
            for name, ok in available.items()}


def test_raw_tracepoint_is_preferred() -> None:
    found = probes(raw_tracepoint=True, tp_btf=True)
    choice = choose_raw_program(found.__getitem__)
    assert choice == ProgramChoice("raw_tracepoint", f"{RAW_PROGRAM_RUNGS[0][1]} (probe: yes)")


def test_tp_btf_when_the_kernel_refuses_raw_tracepoint() -> None:
    found = probes(raw_tracepoint=False, tp_btf=True)
    choice = choose_raw_program(found.__getitem__)
    assert choice == ProgramChoice("tp_btf", f"{RAW_PROGRAM_RUNGS[1][1]} (probe: yes); "
                                             "raw_tracepoint unavailable: raw_tracepoint "
                                             "refused: EPERM")


def test_no_rung_is_an_error_with_every_reason() -> None:
    found = probes(raw_tracepoint=False, tp_btf=False)
    with pytest.raises(ValueError) as err:
        choose_raw_program(found.__getitem__)
    assert str(err.value) == (
        "this kernel runs no raw tracepoint program: raw_tracepoint unavailable: "
        "raw_tracepoint refused: EPERM; tp_btf unavailable: tp_btf refused: EPERM")
