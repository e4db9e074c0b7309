"""The selector decoder (sensors/selectors_decode.py): compiling a plan and
decoding the bytes gives the plan back (in Tetragon's canonical spellings),
and bytes the compiler could not have written fail with the field named."""

from __future__ import annotations

import contextlib
import ctypes

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.sensors.plan import ArgPlan
from vigil.sensors.selectors import (
    ActionPlan,
    ArgFilter,
    PidFilter,
    SelectorPlan,
    compile_selectors,
)
from vigil.sensors.selectors_decode import (
    DecodedAction,
    DecodedArg,
    DecodedPids,
    DecodedSelector,
    decode_selectors,
)
from vigil.wire.records import (
    SEL_ACTIONS_MAX,
    SEL_ARGS_MAX,
    SEL_MAX,
    SEL_PIDS_MAX,
    SEL_POOL_WORDS,
    SEL_STR_MAX,
    SEL_VALUES_MAX,
    Action,
    ArgKind,
    Selectors,
    SelOp,
)

FD = ArgPlan(index=6, kind=ArgKind.INT, offset=16, size=4, tetragon_type="int32", signed=True)
OFFSET = ArgPlan(index=7, kind=ArgKind.INT, offset=24, size=8, tetragon_type="int64",
                 signed=True)
WHENCE = ArgPlan(index=8, kind=ArgKind.INT, offset=32, size=4, tetragon_type="uint32")
NAME = ArgPlan(index=9, kind=ArgKind.STR_PTR, offset=40, size=8, tetragon_type="string")
ARGS = (FD, OFFSET, WHENCE, NAME)
SIZE = ctypes.sizeof(Selectors)


def test_no_selectors_decode_to_none() -> None:
    got = decode_selectors(compile_selectors([], ARGS), ARGS)
    assert got.selectors == () and got.pool_bytes == 0
    assert got.pool_capacity == SEL_POOL_WORDS * 8


def test_each_field_decodes_as_the_kernel_holds_it() -> None:
    sel = SelectorPlan(
        pids=(PidFilter("NotIn", (1, 2)),),
        args=(ArgFilter(6, "eq", ("3", "-1")), ArgFilter(8, "InRange", ("0x10:0x20",)),
              ArgFilter(9, "Prefix", ("/etc/", "/root/.ssh"))),
        actions=(ActionPlan("signal", 10),),
    )
    got = decode_selectors(compile_selectors([sel], ARGS), ARGS)
    assert got.selectors == (DecodedSelector(
        pids=(DecodedPids(SelOp.PID_NOT_IN, (1, 2)),),
        args=(DecodedArg(0, 6, SelOp.EQ, 4, True, (3, -1)),
              DecodedArg(2, 8, SelOp.IN_RANGE, 4, False, ((16, 32),)),
              DecodedArg(3, 9, SelOp.PREFIX, 8, False, (b"/etc/", b"/root/.ssh"))),
        actions=(DecodedAction(Action.SIGNAL, 10),),
    ),)
    # "/etc/" takes one word, "/root/.ssh" two: 24 bytes of the pool.
    assert got.pool_bytes == 24


def test_shared_string_values_count_once_in_the_pool() -> None:
    sel = SelectorPlan(args=(ArgFilter(9, "Equal", ("12345678", "12345678", "x")),))
    assert decode_selectors(compile_selectors([sel], ARGS), ARGS).pool_bytes == 16


def test_pool_bytes_at_the_capacity() -> None:
    values = [f"{i:04}".ljust(SEL_STR_MAX, "a") for i in range(SEL_POOL_WORDS * 8 // SEL_STR_MAX)]
    filters = [ArgFilter(9, "Equal", tuple(values[i : i + SEL_VALUES_MAX]))
               for i in range(0, len(values), SEL_VALUES_MAX)]
    sels = [SelectorPlan(args=tuple(filters[i : i + SEL_ARGS_MAX]))
            for i in range(0, len(filters), SEL_ARGS_MAX)]
    got = decode_selectors(compile_selectors(sels, ARGS), ARGS)
    assert got.pool_bytes == got.pool_capacity == SEL_POOL_WORDS * 8
    assert got.selectors[-1].args[-1].values[-1] == values[-1].encode()


# --- round trip -----------------------------------------------------------------------

def _int_range(arg: ArgPlan) -> tuple[int, int]:
    bits = 8 * arg.size
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if arg.signed else (0, (1 << bits) - 1)


_INT_OPS = ("Equal", "NotEqual", "GT", "LT", "Mask", "InRange", "NotInRange")
_STR_OPS = ("Equal", "NotEqual", "Prefix", "NotPrefix", "Postfix", "NotPostfix")


@st.composite
def _arg_filter(draw: st.DrawFn, args: tuple[ArgPlan, ...]) -> ArgFilter:
    arg = draw(st.sampled_from(args))
    n = draw(st.integers(1, SEL_VALUES_MAX))
    if arg.kind is not ArgKind.INT:
        op = draw(st.sampled_from(_STR_OPS))
        text = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=10)
        values = draw(st.lists(text, min_size=n, max_size=n))
        return ArgFilter(arg.index, op, tuple(values))
    op = draw(st.sampled_from(_INT_OPS))
    ints = st.integers(*_int_range(arg))
    if op in ("InRange", "NotInRange"):
        pairs = draw(st.lists(st.tuples(ints, ints), min_size=n, max_size=n))
        return ArgFilter(arg.index, op, tuple(f"{min(p)}:{max(p)}" for p in pairs))
    return ArgFilter(arg.index, op, tuple(str(v) for v in draw(
        st.lists(ints, min_size=n, max_size=n))))


@st.composite
def _selector(draw: st.DrawFn, args: tuple[ArgPlan, ...]) -> SelectorPlan:
    # Fewer entries than the limits, so one example fits hypothesis's budget;
    # test_every_limit_at_once fills them all.
    pid_values = st.lists(st.integers(0, (1 << 32) - 1), min_size=1, max_size=SEL_VALUES_MAX)
    pids = draw(st.lists(st.builds(PidFilter, st.sampled_from(("In", "NotIn")),
                                   pid_values.map(tuple)), max_size=2))
    matched = draw(st.lists(_arg_filter(args), max_size=3))
    action = st.one_of(st.builds(ActionPlan, st.sampled_from(("Post", "NoPost", "Sigkill"))),
                       st.builds(ActionPlan, st.just("Signal"), st.integers(1, 64)))
    actions = draw(st.lists(action, max_size=SEL_ACTIONS_MAX))
    return SelectorPlan(tuple(pids), tuple(matched), tuple(actions))


_ARG_SETS = st.lists(st.sampled_from(ARGS), min_size=1, max_size=len(ARGS), unique=True
                     ).map(tuple)


@st.composite
def _hook(draw: st.DrawFn) -> tuple[tuple[ArgPlan, ...], list[SelectorPlan]]:
    args = draw(_ARG_SETS)
    return args, draw(st.lists(_selector(args), max_size=3))


@settings(max_examples=300)
@given(_hook())
def test_compile_then_decode_gives_back_the_plan(hook: tuple[tuple[ArgPlan, ...],
                                                             list[SelectorPlan]]) -> None:
    args, plans = hook
    raw = compile_selectors(plans, args)
    decoded = decode_selectors(raw, args)
    assert decoded.to_plans(args) == tuple(plans)
    assert compile_selectors(decoded.to_plans(args), args) == raw


def test_every_limit_at_once() -> None:
    pids = tuple(PidFilter("In", tuple(range(p, p + SEL_VALUES_MAX))) for p in range(SEL_PIDS_MAX))
    matched = (ArgFilter(6, "NotInRange", ("-2147483648:2147483647",) * SEL_VALUES_MAX),
               ArgFilter(7, "Mask", ("-9223372036854775808", "9223372036854775807", "0", "-1")),
               ArgFilter(8, "LT", ("4294967295", "0", "1", "2")),
               ArgFilter(9, "NotPostfix", ("", "a", "b" * SEL_STR_MAX, "c")),
               ArgFilter(9, "Equal", ("a", "b", "c", "d")))
    actions = (ActionPlan("Post"), ActionPlan("Sigkill"), ActionPlan("Signal", 64))
    plans = [SelectorPlan(pids, matched, actions)] * SEL_MAX
    raw = compile_selectors(plans, ARGS)
    assert decode_selectors(raw, ARGS).to_plans(ARGS) == tuple(plans)


@pytest.mark.parametrize(("spelled", "canonical"), [
    (ArgFilter(6, "eq", ("0x10", "010", "-0b1")), ArgFilter(6, "Equal", ("16", "8", "-1"))),
    (ArgFilter(8, "gt", ("1_000",)), ArgFilter(8, "GT", ("1000",))),
    (ArgFilter(9, "postfix", (".so",)), ArgFilter(9, "Postfix", (".so",))),
])
def test_other_spellings_decode_to_tetragons_canonical_one(spelled: ArgFilter,
                                                           canonical: ArgFilter) -> None:
    raw = compile_selectors([SelectorPlan(args=(spelled,))], ARGS)
    assert decode_selectors(raw, ARGS).to_plans(ARGS) == (SelectorPlan(args=(canonical,)),)


# --- bytes the compiler never writes --------------------------------------------------

def _corrupt(**fields: int) -> bytes:
    rec = Selectors.from_buffer_copy(compile_selectors(
        [SelectorPlan(args=(ArgFilter(6, "Equal", ("1",)),))], ARGS))
    for name, value in fields.items():
        target, _, attr = name.rpartition("__")
        obj = {"": rec, "sel": rec.sel[0], "arg": rec.sel[0].args[0]}[target]
        setattr(obj, attr, value)
    return bytes(rec)


@pytest.mark.parametrize(("fields", "message"), [
    ({"nsel": SEL_MAX + 1}, rf"nsel: {SEL_MAX + 1}, expected 0..{SEL_MAX}"),
    ({"sel__npids": SEL_PIDS_MAX + 1}, r"selectors\[0\].npids: 5, expected 0..4"),
    ({"sel__nargs": SEL_ARGS_MAX + 1}, r"selectors\[0\].nargs: 6, expected 0..5"),
    ({"sel__nactions": SEL_ACTIONS_MAX + 1}, r"selectors\[0\].nactions: 4, expected 0..3"),
    ({"arg__index": len(ARGS)}, r"matchArgs\[0\].index: 4, but the hook has 4 arguments"),
    ({"arg__op": 99}, r"matchArgs\[0\].op: unknown operator 99"),
    ({"arg__op": int(SelOp.PREFIX)}, r"matchArgs\[0\].op: operator PREFIX does not belong"),
    ({"arg__nvalues": 0}, r"matchArgs\[0\].nvalues: 0, expected 1..4"),
    ({"arg__nvalues": SEL_VALUES_MAX + 1}, r"matchArgs\[0\].nvalues: 5, expected 1..4"),
])
def test_impossible_bytes_name_the_field(fields: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_selectors(_corrupt(**fields), ARGS)


def test_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match=f"{SIZE - 1} bytes; struct vigil_selectors is {SIZE}"):
        decode_selectors(bytes(SIZE - 1), ARGS)


def test_a_string_past_the_pool_is_refused() -> None:
    rec = Selectors.from_buffer_copy(compile_selectors(
        [SelectorPlan(args=(ArgFilter(9, "Equal", ("x",)),))], ARGS))
    rec.sel[0].args[0].lo[0] = SEL_POOL_WORDS - 1
    rec.sel[0].args[0].hi[0] = 9
    with pytest.raises(ValueError, match="past the pool"):
        decode_selectors(bytes(rec), ARGS)
    rec.sel[0].args[0].lo[0], rec.sel[0].args[0].hi[0] = 0, SEL_STR_MAX + 1
    with pytest.raises(ValueError, match=f"a string of {SEL_STR_MAX + 1} bytes"):
        decode_selectors(bytes(rec), ARGS)


_VALID = compile_selectors([SelectorPlan(
    pids=(PidFilter("In", (1, 2)),),
    args=(ArgFilter(6, "InRange", ("-5:5",)), ArgFilter(9, "Prefix", ("/etc", "/usr/lib"))),
    actions=(ActionPlan("Signal", 9),))] * 2, ARGS)
_HEAD = Selectors.pool.offset  # the counts, operators and values; the pool follows


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, _HEAD - 1), st.integers(0, 255)), max_size=16))
def test_corrupted_bytes_decode_or_fail_with_value_error(flips: list[tuple[int, int]]) -> None:
    raw = bytearray(_VALID)
    for at, value in flips:
        raw[at] = value
    with contextlib.suppress(ValueError):
        decode_selectors(bytes(raw), ARGS)


# --- values the hook keeps in maps, sock operators, Override, returns ----------------

def _round_trip(sel: SelectorPlan, args: tuple[ArgPlan, ...],
                ret: ArgPlan | None = None) -> tuple[SelectorPlan, ...]:
    from vigil.sensors.selectors import selector_strings, selector_values

    raw = compile_selectors([sel], args, ret=ret)
    decoded = decode_selectors(raw, args, values=selector_values([sel], args, ret),
                               strings=selector_strings([sel], args), ret=ret)
    again = decoded.to_plans(args)
    assert compile_selectors(again, args, ret=ret) == raw
    return again


def test_map_held_values_decode_and_compile_back() -> None:
    from vigil.wire.records import ArgKind

    string = ArgPlan(1, ArgKind.STR_PTR, 8, 8, "string")
    integer = ArgPlan(0, ArgKind.INT, 0, 4, "int", signed=True)
    paths = tuple(f"/p{i}/" for i in range(6))
    sel = SelectorPlan(args=(ArgFilter(1, "Postfix", paths), ArgFilter(0, "InMap", ("-2", "7"))))
    (got,) = _round_trip(sel, (integer, string))
    assert got.args == (ArgFilter(1, "Postfix", tuple(sorted(paths))),
                        ArgFilter(0, "InMap", ("-2", "7")))


def test_sock_operators_decode_and_compile_back() -> None:
    from vigil.wire.records import ArgKind

    sock = ArgPlan(0, ArgKind.SOCK, 0, 8, "sock")
    sel = SelectorPlan(args=(ArgFilter(0, "NotDAddr", ("10.0.0.0/8", "::1/128")),
                             ArgFilter(0, "DPort", ("80:80", "8000:8080")),
                             ArgFilter(0, "SPortPriv", ()), ArgFilter(0, "Family", ("2",))))
    (got,) = _round_trip(sel, (sock,))
    assert got.args[0] == ArgFilter(0, "NotDAddr", ("10.0.0.0/8", "::1/128"))


def test_override_and_return_filters_decode_and_compile_back() -> None:
    from vigil.wire.records import ArgKind

    ret = ArgPlan(0, ArgKind.INT, 0, 4, "int", signed=True)
    sel = SelectorPlan(actions=(ActionPlan("Override", arg_error=-13),),
                       ret_args=(ArgFilter(0, "GT", ("0",)),),
                       ret_actions=(ActionPlan("Sigkill"),))
    (got,) = _round_trip(sel, (), ret)
    assert (got.actions, got.ret_args, got.ret_actions) == (
        (ActionPlan("Override", arg_error=-13),), (ArgFilter(0, "GT", ("0",)),),
        (ActionPlan("Sigkill"),))
