"""The selector compiler (sensors/selectors.py): what compiles, into which
bytes, and a clear ValueError naming the limit or the field for the rest.
The kernel side's behaviour is tests/kernel/test_tracepoint_selectors.py."""

from __future__ import annotations

import ctypes

import pytest

from vigil.sensors.plan import ArgPlan, TracepointHookPlan
from vigil.sensors.selectors import (
    ActionPlan,
    ArgFilter,
    PidFilter,
    SelectorPlan,
    compile_selectors,
    parse_int,
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
    SelFlag,
    SelOp,
)

# sys_enter_lseek's arguments as the plan has them, and a string: indexes
# are the tracefs field positions (common_* fields counted), as Tetragon's.
FD = ArgPlan(index=6, kind=ArgKind.INT, offset=16, size=4, tetragon_type="int", signed=True)
WHENCE = ArgPlan(index=8, kind=ArgKind.INT, offset=32, size=4, tetragon_type="uint32")
OFFSET = ArgPlan(index=7, kind=ArgKind.INT, offset=24, size=8, tetragon_type="int64",
                 signed=True)
NAME = ArgPlan(index=6, kind=ArgKind.STR_PTR, offset=16, size=8, tetragon_type="string")
ARGS = (FD, OFFSET, WHENCE)


def compiled(selectors: list[SelectorPlan], args: tuple[ArgPlan, ...] = ARGS) -> Selectors:
    raw = compile_selectors(selectors, args)
    assert len(raw) == ctypes.sizeof(Selectors)
    return Selectors.from_buffer_copy(raw)


def one(f: ArgFilter, args: tuple[ArgPlan, ...] = ARGS) -> Selectors:
    return compiled([SelectorPlan(args=(f,))], args)


def test_no_selectors_compile_to_zeros() -> None:
    raw = compile_selectors([], ARGS)
    assert raw == bytes(len(raw)) and Selectors.from_buffer_copy(raw).nsel == 0


def test_index_is_tetragons_and_compiles_to_the_position() -> None:
    rec = one(ArgFilter(WHENCE.index, "GT", ("5",)))
    arg = rec.sel[0].args[0]
    assert (rec.nsel, rec.sel[0].nargs) == (1, 1)
    assert (arg.index, arg.op, arg.nvalues, arg.size, arg.flags) == (2, SelOp.GT, 1, 4, 0)
    assert arg.lo[0] == 5


def test_signed_values_are_twos_complement_and_flagged() -> None:
    arg = one(ArgFilter(OFFSET.index, "InRange", ("-10:-5", "0x10:020"))).sel[0].args[0]
    assert arg.flags == SelFlag.SIGNED and arg.size == 8
    assert [arg.lo[0], arg.hi[0]] == [(1 << 64) - 10, (1 << 64) - 5]
    assert [arg.lo[1], arg.hi[1]] == [16, 16]  # Go's base 0: 020 is octal


def test_go_integer_spellings() -> None:
    assert [parse_int(t) for t in ("0x1f", "0o17", "017", "0b101", "1_000", "-0x10", "0")] == [
        31, 15, 15, 5, 1000, -16, 0]


@pytest.mark.parametrize(("op", "want"), [
    ("Equal", SelOp.STR_EQ), ("NotEqual", SelOp.STR_NEQ), ("Prefix", SelOp.PREFIX),
    ("NotPrefix", SelOp.NOT_PREFIX), ("Postfix", SelOp.POSTFIX),
    ("NotPostfix", SelOp.NOT_POSTFIX), ("prefix", SelOp.PREFIX),
])
def test_string_operators(op: str, want: SelOp) -> None:
    rec = one(ArgFilter(NAME.index, op, ("/etc/",)), (NAME,))
    assert rec.sel[0].args[0].op == want


@pytest.mark.parametrize(("op", "want"), [
    ("Equal", SelOp.EQ), ("NotEqual", SelOp.NEQ), ("GT", SelOp.GT), ("gt", SelOp.GT),
    ("LessThan", SelOp.LT), ("Mask", SelOp.MASK), ("InRange", SelOp.IN_RANGE),
    ("NotInRange", SelOp.NOT_IN_RANGE),
])
def test_integer_operators(op: str, want: SelOp) -> None:
    value = "1:2" if "Range" in op else "1"
    assert one(ArgFilter(FD.index, op, (value,))).sel[0].args[0].op == want


def test_string_values_share_a_padded_pool() -> None:
    rec = compiled([SelectorPlan(args=(ArgFilter(NAME.index, "Prefix", ("/etc/", "/usr/lib/")),)),
                    SelectorPlan(args=(ArgFilter(NAME.index, "Equal", ("/etc/",)),))], (NAME,))
    a, b = rec.sel[0].args[0], rec.sel[1].args[0]
    assert [(a.lo[0], a.hi[0]), (a.lo[1], a.hi[1]), (b.lo[0], b.hi[0])] == [
        (0, 5), (1, 9), (0, 5)]
    pool = bytes(rec.pool)
    assert pool[:8] == b"/etc/\0\0\0" and pool[8:24] == b"/usr/lib/" + bytes(7)


def test_pids_and_actions() -> None:
    rec = compiled([SelectorPlan(pids=(PidFilter("NotIn", (1, 2)), PidFilter("In", (7,))),
                                 actions=(ActionPlan("Signal", arg_sig=10),
                                          ActionPlan("NOPOST")))])
    sel = rec.sel[0]
    assert (sel.npids, sel.nactions) == (2, 2)
    assert (sel.pids[0].op, sel.pids[0].nvalues, list(sel.pids[0].values)[:2]) == (
        SelOp.PID_NOT_IN, 2, [1, 2])
    assert (sel.pids[1].op, sel.pids[1].values[0]) == (SelOp.PID_IN, 7)
    assert [(a.action, a.arg) for a in sel.actions[:2]] == [(Action.SIGNAL, 10),
                                                             (Action.NOPOST, 0)]


def test_limits_compile_at_the_limit() -> None:
    values = tuple(str(i) for i in range(SEL_VALUES_MAX))
    sel = SelectorPlan(
        pids=tuple(PidFilter("In", tuple(range(1, SEL_VALUES_MAX + 1)))
                   for _ in range(SEL_PIDS_MAX)),
        args=tuple(ArgFilter(FD.index, "Equal", values) for _ in range(SEL_ARGS_MAX)),
        actions=tuple(ActionPlan("Post") for _ in range(SEL_ACTIONS_MAX)))
    rec = compiled([sel] * SEL_MAX)
    assert rec.nsel == SEL_MAX and rec.sel[SEL_MAX - 1].nargs == SEL_ARGS_MAX
    longest = "x" * SEL_STR_MAX
    assert one(ArgFilter(NAME.index, "Equal", (longest,)), (NAME,)).sel[0].args[0].hi[0] == (
        SEL_STR_MAX)


@pytest.mark.parametrize(("selectors", "message"), [
    ([SelectorPlan()] * (SEL_MAX + 1), f"a hook takes at most {SEL_MAX}"),
    ([SelectorPlan(args=(ArgFilter(FD.index, "Equal", ("1",)),) * (SEL_ARGS_MAX + 1))],
     f"matchArgs: {SEL_ARGS_MAX + 1} entries; a selector takes at most {SEL_ARGS_MAX}"),
    ([SelectorPlan(pids=(PidFilter("In", (1,)),) * (SEL_PIDS_MAX + 1))],
     f"matchPIDs: {SEL_PIDS_MAX + 1} entries"),
    ([SelectorPlan(actions=(ActionPlan("Post"),) * (SEL_ACTIONS_MAX + 1))],
     f"matchActions: {SEL_ACTIONS_MAX + 1} entries"),
    ([SelectorPlan(args=(ArgFilter(FD.index, "Equal",
                                   tuple("1" * (SEL_VALUES_MAX + 1))),))],
     f"{SEL_VALUES_MAX + 1} values; a filter takes 1 to {SEL_VALUES_MAX}"),
    ([SelectorPlan(args=(ArgFilter(FD.index, "Equal", ()),))], "0 values"),
    ([SelectorPlan(pids=(PidFilter("In", tuple(range(SEL_VALUES_MAX + 1))),))],
     f"a matchPIDs filter takes 1 to {SEL_VALUES_MAX}"),
    ([SelectorPlan(pids=(PidFilter("In", ()),))], "0 values"),
])
def test_limits_refused_one_past(selectors: list[SelectorPlan], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_selectors(selectors, ARGS)


def test_string_value_one_byte_too_long() -> None:
    with pytest.raises(ValueError, match=rf"selectors\[0\].matchArgs\[0\].values\[0\]: "
                       rf"{SEL_STR_MAX + 1} bytes; a string value is at most {SEL_STR_MAX}"):
        one(ArgFilter(NAME.index, "Prefix", ("x" * (SEL_STR_MAX + 1),)), (NAME,))


def test_string_pool_full() -> None:
    per_value = SEL_STR_MAX
    fits = SEL_POOL_WORDS * 8 // per_value  # 32 distinct longest values
    sels = []
    for s in range(SEL_MAX):
        sels.append(SelectorPlan(args=tuple(
            ArgFilter(NAME.index, "Equal", tuple(f"{s}{f}{v}".ljust(per_value, "x")
                                                 for v in range(SEL_VALUES_MAX)))
            for f in range(SEL_ARGS_MAX))))
    assert fits < SEL_MAX * SEL_ARGS_MAX * SEL_VALUES_MAX
    with pytest.raises(ValueError, match=f"take more than {SEL_POOL_WORDS * 8} bytes"):
        compile_selectors(sels, (NAME,))


@pytest.mark.parametrize(("f", "message"), [
    (ArgFilter(WHENCE.index, "Equal", ("-1",)),
     r"-1 is out of range for the uint32 argument at index 8 \(0..4294967295\)"),
    (ArgFilter(WHENCE.index, "Equal", ("4294967296",)), "out of range"),
    (ArgFilter(WHENCE.index, "Equal", ("4294967295",)), None),
    (ArgFilter(FD.index, "GT", ("2147483648",)), r"-2147483648..2147483647"),
    (ArgFilter(FD.index, "GT", ("-2147483648",)), None),
    (ArgFilter(FD.index, "Equal", ("five",)), "'five' is not an integer"),
    (ArgFilter(FD.index, "InRange", ("10",)), "a range is 'min:max'"),
    (ArgFilter(FD.index, "InRange", ("1:2:3",)), "a range is 'min:max'"),
    (ArgFilter(FD.index, "InRange", ("20:10",)), "min is above max"),
    (ArgFilter(OFFSET.index, "NotInRange", ("-1:-2",)), "min is above max"),
    (ArgFilter(FD.index, "Prefix", ("/",)), "Prefix does not apply to the int argument"),
    (ArgFilter(FD.index, "InMap", ("0x10",)), "'0x10' is not a decimal integer"),
    (ArgFilter(FD.index, "NotInMap", ("1:2:3",)), "is not a value or a range"),
    (ArgFilter(FD.index, "InMap", ()), "InMap needs at least one value"),
    (ArgFilter(FD.index, "Sometimes", ("1",)), "unknown operator 'Sometimes'"),
    (ArgFilter(3, "Equal", ("1",)),
     r"index: 3 names no argument of this hook \(its arguments' indexes: 6, 7, 8\)"),
])
def test_bad_integer_filters(f: ArgFilter, message: str | None) -> None:
    if message is None:
        one(f)
        return
    with pytest.raises(ValueError, match=message):
        one(f)


def test_integer_operator_on_a_string() -> None:
    with pytest.raises(ValueError, match="GT does not apply to the string argument at index 6"):
        one(ArgFilter(NAME.index, "GT", ("1",)), (NAME,))


@pytest.mark.parametrize(("f", "message"), [
    (PidFilter("In", (1,), follow_forks=True, is_namespace_pid=True),
     r"matchPIDs\[0\].followForks: not supported yet together with isNamespacePID"),
    (PidFilter("Equal", (1,)), "matchPIDs takes In or NotIn"),
    (PidFilter("In", (-1,)), "-1 is not a pid"),
    (PidFilter("In", (1 << 32,)), "is not a pid"),
])
def test_bad_pid_filters(f: PidFilter, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_selectors([SelectorPlan(pids=(f,))], ARGS)


@pytest.mark.parametrize(("a", "message"), [
    (ActionPlan("Signal"), r"argSig: 0; Signal needs a signal number 1..64"),
    (ActionPlan("Signal", arg_sig=65), "1..64"),
    (ActionPlan("FollowFD"), "FollowFD is not supported yet"),
    (ActionPlan("Override", arg_error=1 << 31), r"argError: 2147483648 is not an int32"),
    (ActionPlan("Explode"), "unknown action 'Explode'"),
])
def test_bad_actions(a: ActionPlan, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_selectors([SelectorPlan(actions=(a,))], ARGS)


def test_action_names_ignore_case_as_tetragon() -> None:
    rec = compiled([SelectorPlan(actions=(ActionPlan("sigkill"), ActionPlan("SIGNAL", 64)))])
    assert [a.action for a in rec.sel[0].actions[:2]] == [Action.SIGKILL, Action.SIGNAL]


def test_plan_refuses_what_cannot_compile() -> None:
    with pytest.raises(ValueError, match="names no argument"):
        TracepointHookPlan(policy_name="p", subsys="syscalls", event="sys_enter_lseek",
                           args=ARGS, selectors=(SelectorPlan(args=(ArgFilter(0, "GT", ("1",)),)),))


@pytest.mark.parametrize("arg_error", [-1, -(1 << 31), 1, (1 << 31) - 1])
def test_override_keeps_argerror_as_an_int32(arg_error: int) -> None:
    """Both ends of the int32 range, negative and positive (Tetragon's CVE
    example returns 1); the kernel sign-extends the 32 bits it keeps."""
    out = Selectors.from_buffer_copy(compile_selectors(
        [SelectorPlan(actions=(ActionPlan("Override", arg_error=arg_error),))], ARGS))
    act = out.sel[0].actions[0]
    assert (act.action, ctypes.c_int32(act.arg).value) == (Action.OVERRIDE, arg_error)
