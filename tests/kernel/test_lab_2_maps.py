"""Lesson 2 on the real kernel: the fixed counters are exact under load from
every CPU, and the guide's lookup-then-insert never counts more than that."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.lab.lesson import LabContext
from vigil.lab.registry import get_lesson


@pytest.mark.needs("tracepoint")
def test_lesson_2_fixed_counters_are_exact_under_concurrent_execve() -> None:
    lines: list[str] = []
    result = get_lesson("2").run(LabContext(duration=60, show=lines.append))

    assert result.triggered, "the lesson starts one trigger child per CPU"
    per_pid = {o["pid"]: o["calls"] for o in result.observations if o["kind"] == "pid"}
    # Only the trigger's children are counted (parent_tgid knob).
    assert set(per_pid) == set(result.triggered)
    totals: dict[str, Any] = next(o for o in result.observations if o["kind"] == "totals")
    expected = totals["expected"]
    # Every child made thousands of calls (plus its own start), all counted.
    assert expected > 1000 * len(result.triggered)
    assert sum(per_pid.values()) == expected
    assert totals["fixed"] == expected
    assert totals["shared"] == expected
    assert totals["percpu_sum"] == expected
    # The racy pattern can only lose counts, never invent them.
    assert totals["guide"] <= expected
    assert lines[-1].startswith("  guide's hash ")
