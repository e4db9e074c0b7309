"""`vigil policy explain`'s rendering on a made-up explanation (the real
figures are tests/kernel/test_policy_explain.py's): every form says the
same, sizes cross their units at the boundary, the budget verdict flips at
256 KiB, and a hot path is named."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest

from vigil.explain.memory import MapCost, ProgramCost
from vigil.explain.model import BUDGET, Explanation, HookExplanation, PolicyExplanation, SharedCost
from vigil.explain.render import read_text, render_plain, size_text, to_json
from vigil.sensors.plan import ArgPlan, TracepointHookPlan
from vigil.sensors.selectors import ArgFilter, SelectorPlan, compile_selectors
from vigil.sensors.selectors_decode import decode_selectors
from vigil.wire.records import ArgKind

FD = ArgPlan(5, ArgKind.INT, 16, 4, "int", True, "fd", field="fd", c_type="unsigned int",
             field_size=8)
NAME = ArgPlan(6, ArgKind.STR_PTR, 24, 8, "string", False, "", field="filename",
               c_type="const char *", field_size=8)


@pytest.mark.parametrize(("n", "text"), [
    (1023, "1023 B"), (1024, "1024 B (1.0 KiB)"),
    ((1 << 20) - 1, "1048575 B (1024.0 KiB)"), (1 << 20, "1048576 B (1.0 MiB)"),
])
def test_sizes_cross_units_at_the_boundary(n: int, text: str) -> None:
    assert size_text(n) == text


@pytest.mark.parametrize(("arg", "text"), [
    (FD, "4 of 8 B, signed"),
    (ArgPlan(5, ArgKind.INT, 16, 8, "uint64", False, field_size=8), "8 B, unsigned"),
    (ArgPlan(5, ArgKind.INT, 16, 4, "int32", True), "4 B, signed"),  # no field size known
    (ArgPlan(4, ArgKind.STR_ARRAY, 8, 16, "string"), "char array in the record, <=16 B"),
    (ArgPlan(4, ArgKind.STR_ARRAY, 8, 4096, "string"), "char array in the record, <=1023 B"),
    (ArgPlan(4, ArgKind.STR_DATALOC, 8, 4, "string"), "__data_loc string in the record, <=1023 B"),
    (NAME, "pointer to a string (user, else kernel), <=1023 B"),
])
def test_how_each_kind_is_read(arg: ArgPlan, text: str) -> None:
    assert read_text(arg) == text


def explanation(program_bytes: int, subsys: str = "syscalls") -> Explanation:
    plan = TracepointHookPlan("p", subsys, "sys_enter_openat", (FD, NAME),
                              selectors=(SelectorPlan(args=(ArgFilter(6, "Prefix", ("/etc",)),)),),
                              layout_source="/sys/kernel/tracing/events/x/y/format")
    sel = decode_selectors(plan.compiled_selectors(), plan.args)
    maps = (MapCost("vigil_selectors", "array", 4, 10560, 1, False, 12288, "selectors"),
            MapCost("vigil_generic_heap", "percpu_array", 4, 9272, 1, True, 18864, "heap"))
    hook = HookExplanation(1, plan, sel, maps, (ProgramCost("vigil_generic_tp", "tp",
                                                            program_bytes),))
    shared = SharedCost((MapCost("vigil_stats", "percpu_array", 4, 8, 11, True, 576),))
    return Explanation(cpus=2, shared=shared, policies=[PolicyExplanation("f.yaml", "p",
                                                                          (hook,))])


def plain(e: Explanation) -> list[str]:
    out = io.StringIO()
    render_plain(e, out)
    return out.getvalue().splitlines()


def test_plain_text_and_json_say_the_same() -> None:
    e = explanation(4096)
    lines = plain(e)
    got = to_json(e)
    hook = got["policies"][0]["hooks"][0]
    assert hook["memlock"] == 12288 + 18864 + 4096 == e.policies[0].memlock
    assert got["memlock"] == hook["memlock"] + 576
    decoded = '  matchArgs[0]: arg 6 (filename) string PREFIX {"/etc"}'
    assert hook["selectors"]["text"][1] == decoded
    assert "      " + decoded in lines
    assert "    hook total: 35248 B (34.4 KiB)" in lines
    assert lines[-1] == f"total: {got['memlock']} B (35.0 KiB) (2 possible CPUs)"
    assert "      vigil_generic_heap  percpu_array  4    9272   1        x2       18864    heap" \
        in lines
    json.dumps(got)  # all of it is JSON


@pytest.mark.parametrize(("memlock", "verdict"), [(BUDGET - 1, "under"), (BUDGET, "OVER")])
def test_budget_verdict_flips_at_256_kib(memlock: int, verdict: str) -> None:
    e = explanation(memlock - 12288 - 18864)
    (line,) = [x for x in plain(e) if x.startswith("  policy p:")]
    assert f"for 1 hook ({verdict} the 256 KiB aim)" in line
    assert to_json(e)["policies"][0]["within_budget"] is (verdict == "under")


@pytest.mark.parametrize(("subsys", "hot"), [("syscalls", True), ("raw_syscalls", True),
                                             ("sched", False)])
def test_hot_paths_are_named(subsys: str, hot: bool) -> None:
    e = explanation(4096, subsys)
    lines = plain(e)
    assert any(x.startswith("    HOT PATH: ") for x in lines) is hot
    assert to_json(e)["policies"][0]["hot_path_hooks"] == ([1] if hot else [])
    assert (e.policies[0].hooks[0].hot_path is not None) is hot


def test_no_selectors_and_no_hooks() -> None:
    plan = TracepointHookPlan("p", "sched", "sched_switch")
    sel = decode_selectors(compile_selectors([], ()), ())
    e = explanation(4096)
    e.policies = [PolicyExplanation("f.yaml", "p", (HookExplanation(1, plan, sel, (), ()),)),
                  PolicyExplanation("g.yaml", "q", ())]
    lines = plain(e)
    assert "      no selectors: every hit is posted" in lines
    assert "      none" in lines  # no arguments
    assert lines[lines.index("policy q (g.yaml)") + 1] == "  no hooks vigil loads"


def test_a_cgroup_scope_is_said() -> None:
    e = explanation(4096)
    assert to_json(e)["policies"][0]["cgroup_paths"] == []
    assert not [x for x in plain(e) if "scoped to" in x]
    hook = e.policies[0].hooks[0]
    scoped = replace(hook, plan=replace(hook.plan, cgroup_paths=("/a", "/b/c")))
    e.policies[0] = replace(e.policies[0], hooks=(scoped,))
    assert to_json(e)["policies"][0]["cgroup_paths"] == ["/a", "/b/c"]
    assert plain(e)[1] == ("  scoped to cgroups /a, /b/c and below (in the kernel: "
                           "bpf_current_task_under_cgroup, the first test of every hit)")
