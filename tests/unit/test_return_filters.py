"""matchReturnArgs and matchReturnActions compiled (what the kernel's
vigil_sel_return and vigil_sel_actions(s, 1) read), their errors, the
agent dropping a call whose return they refused; and the string trie's keys
(Prefix, Postfix reversed, Equal with a NUL) on both sides of its limit."""

from __future__ import annotations

import ctypes

import pytest

from vigil.events.model import KprobeEvent
from vigil.sensors.plan import ArgPlan
from vigil.sensors.selectors import (
    ActionPlan,
    ArgFilter,
    SelectorPlan,
    compile_selectors,
    selector_strings,
    selector_values,
    trie_keys,
)
from vigil.wire.records import (
    SEL_TRIE_STR_MAX,
    SEL_VALUES_MAX,
    Action,
    ArgKind,
    Selectors,
    SelFlag,
    SelOp,
    SelStrKey,
    SelValueKey,
)

from .test_kprobe_returns import agent_with_read_hook, entry, return_record

STR = ArgPlan(1, ArgKind.STR_PTR, 8, 8, "string")
RET = ArgPlan(0, ArgKind.INT, 16, 4, "int", signed=True)


def compiled(sel: SelectorPlan, args: tuple[ArgPlan, ...] = (STR,),
             ret: ArgPlan | None = RET) -> Selectors:
    return Selectors.from_buffer_copy(compile_selectors([sel], args, ret=ret))


def test_return_filters_and_actions_compile() -> None:
    rec = compiled(SelectorPlan(
        ret_args=(ArgFilter(0, "GT", ("0",)), ArgFilter(0, "InMap", ("-2", "-13"))),
        ret_actions=(ActionPlan("Sigkill"), ActionPlan("Signal", arg_sig=10))))
    sel = rec.sel[0]
    assert (sel.nret_args, sel.nret_actions) == (2, 2)
    gt = sel.ret_args[0]
    assert (gt.index, gt.op, gt.nvalues, gt.size, gt.flags, gt.lo[0]) == (
        0, SelOp.GT, 1, 4, SelFlag.SIGNED, 0)
    assert (sel.ret_args[1].op, sel.ret_args[1].lo[0]) == (SelOp.IN_MAP, 25 + 1)
    assert [(a.action, a.arg) for a in sel.ret_actions[:2]] == [
        (Action.SIGKILL, 0), (Action.SIGNAL, 10)]
    keys = selector_values([SelectorPlan(ret_args=(ArgFilter(0, "InMap", ("-2", "-13")),))],
                           (STR,), RET)
    assert sorted(SelValueKey.from_buffer_copy(k).value for k in keys) == sorted(
        [(-2) & 0xFFFF_FFFF_FFFF_FFFF, (-13) & 0xFFFF_FFFF_FFFF_FFFF])
    assert {SelValueKey.from_buffer_copy(k).set for k in keys} == {25}


@pytest.mark.parametrize(("sel", "ret", "error"), [
    (SelectorPlan(ret_args=(ArgFilter(0, "GT", ("0",)),)), None,
     "selectors[0].matchReturnArgs: the hook reports no return; give it return: true and a "
     "returnArg"),
    (SelectorPlan(ret_actions=(ActionPlan("Sigkill"),)), None,
     "selectors[0].matchReturnActions: the hook reports no return; give it return: true and "
     "a returnArg"),
    (SelectorPlan(ret_args=(ArgFilter(1, "GT", ("0",)),)), RET,
     "selectors[0].matchReturnArgs[0].index: 1; the return value is index 0"),
    (SelectorPlan(ret_actions=(ActionPlan("Override", arg_error=-1),)), RET,
     "selectors[0].matchReturnActions[0].action: Override acts before the call runs; at its "
     "return it has nothing to stop"),
    (SelectorPlan(ret_actions=(ActionPlan("Post", rate_limit="1m"),)), RET,
     "selectors[0].matchReturnActions[0].rateLimit: vigil limits the rate of entries only "
     "(matchActions)"),
    (SelectorPlan(ret_args=(ArgFilter(0, "Prefix", ("x",)),)), RET,
     "selectors[0].matchReturnArgs[0].operator: Prefix does not apply to the int argument at "
     "index 0"),
    (SelectorPlan(ret_args=(ArgFilter(0, "Equal", ("1", "2", "3", "4", "5")),)), RET,
     "selectors[0].matchReturnArgs[0].values: 5 values; a filter takes 1 to 4"),
])
def test_return_filter_errors(sel: SelectorPlan, ret: ArgPlan | None, error: str) -> None:
    with pytest.raises(ValueError) as err:
        compile_selectors([sel], (STR,), ret=ret)
    assert str(err.value) == error


def test_the_agent_drops_a_call_whose_return_was_refused() -> None:
    agent, sink = agent_with_read_hook()
    agent.handle_batch([entry()])
    assert len(agent.pending) == 1
    agent.handle_batch([return_record([b"\x04" + bytes(7), b"\0" * 4], action=Action.NOPOST)])
    assert sink.events == [] and agent.pending == {} and not agent.decode_errors


def test_a_return_action_names_the_events_return_action() -> None:
    agent, sink = agent_with_read_hook()
    agent.handle_batch([entry()])
    agent.handle_batch([return_record([b"\x04" + bytes(7), b"\0" * 4],
                                      action=Action.SIGKILL)])
    ev, = sink.events
    assert isinstance(ev, KprobeEvent) and ev.return_action == "KPROBE_ACTION_SIGKILL"


# --- the string trie ------------------------------------------------------------

def key(raw: bytes) -> SelStrKey:
    return SelStrKey.from_buffer_copy(raw)


@pytest.mark.parametrize(("operator", "data"), [
    ("Prefix", b"/etc/"), ("NotPrefix", b"/etc/"), ("Postfix", b"/cte/"),
    ("NotPostfix", b"/cte/"), ("Equal", b"/etc/\0"), ("NotEqual", b"/etc/\0"),
])
def test_trie_keys(operator: str, data: bytes) -> None:
    k = key(trie_keys("w", operator, ["/etc/"], 7)[0])
    assert (k.prefixlen, k.set, bytes(k.data)) == (
        32 + 8 * len(data), 7, data + bytes(SEL_TRIE_STR_MAX - len(data)))


@pytest.mark.parametrize(("operator", "most"), [
    ("Prefix", SEL_TRIE_STR_MAX), ("Postfix", SEL_TRIE_STR_MAX),
    ("Equal", SEL_TRIE_STR_MAX - 1)])
def test_trie_value_limit_both_sides(operator: str, most: int) -> None:
    assert key(trie_keys("w", operator, ["a" * most], 0)[0]).prefixlen == \
        32 + 8 * SEL_TRIE_STR_MAX
    with pytest.raises(ValueError) as err:
        trie_keys("w", operator, ["a" * (most + 1)], 0)
    assert str(err.value) == (
        f"w.values[0]: {most + 1} bytes; a filter with more than {SEL_VALUES_MAX} values "
        f"takes values of at most {most} bytes (split it into filters of {SEL_VALUES_MAX} "
        "values, which take 256)")


@pytest.mark.parametrize("n", (SEL_VALUES_MAX, SEL_VALUES_MAX + 1))
def test_a_filter_goes_to_the_trie_past_four_values(n: int) -> None:
    values = tuple(f"/v{i}" for i in range(n))
    sel = SelectorPlan(args=(ArgFilter(1, "Prefix", values),))
    arg = compiled(sel, ret=None).sel[0].args[0]
    strings = selector_strings([sel], (STR,))
    if n <= SEL_VALUES_MAX:
        assert (arg.nvalues, arg.flags, strings) == (n, 0, [])
    else:
        assert (arg.nvalues, arg.flags, arg.lo[0]) == (0, SelFlag.TRIE, 0)
        assert sorted(bytes(key(k).data).rstrip(b"\0") for k in strings) == sorted(
            v.encode() for v in values)


def test_the_trie_key_layout_matches_ctypes() -> None:
    assert ctypes.sizeof(SelStrKey) == 8 + SEL_TRIE_STR_MAX
