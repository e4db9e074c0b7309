"""Lesson 2 on the real kernel: the fixed counters are exact under load from
every CPU, and the guide's lookup-then-insert never counts more than that."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.lab.lessons.l02_maps import MIN_CALLS

from .lab_runner import run_lesson


@pytest.mark.needs("tracepoint")
def test_lesson_2_fixed_counters_are_exact_under_concurrent_execve() -> None:
    result, lines = run_lesson("2")

    assert result.triggered, "the lesson starts one trigger child per CPU"
    per_pid = {o["pid"]: o["calls"] for o in result.observations if o["kind"] == "pid"}
    # Only the trigger's children are counted (parent_tgid knob).
    assert set(per_pid) == set(result.triggered)
    totals: dict[str, Any] = next(o for o in result.observations if o["kind"] == "totals")
    expected = totals["expected"]
    # Every child made thousands of calls (plus its own start), all counted.
    assert expected >= (MIN_CALLS + 1) * len(result.triggered)
    assert sum(per_pid.values()) == expected
    assert totals["fixed"] == expected
    assert totals["shared"] == expected
    assert totals["percpu_sum"] == expected
    # The racy pattern can only lose counts, never invent them.
    assert totals["guide"] <= expected
    cpus = "+".join(str(n) for n in totals["percpu"])
    assert lines[-2:] == ["final:", (
        f"  guide's hash {totals['guide']} · fixed hash {expected} · "
        f"shared array {expected} · per-CPU array {cpus} = {expected}")]
