"""Pitfall 2 on the real kernel: a per-CPU heap that is not cleared sends the
previous event's bytes; the cleared one sends zeros."""

from __future__ import annotations

import pytest

from vigil.lab.lesson import LessonResult
from vigil.lab.lessons.lp2_heap_leak import LONG_PATH, SHORT_PATH

from .lab_runner import run_lesson


@pytest.fixture(scope="module")
def result() -> LessonResult:
    return run_lesson("p2")[0]


def records(result: LessonResult, variant: str) -> list[dict[str, object]]:
    return [o for o in result.observations if o["variant"] == variant]


@pytest.mark.needs("tracepoint", "ringbuf")
def test_only_the_trigger_is_recorded_in_order(result: LessonResult) -> None:
    assert result.triggered
    for variant in ("leaky", "zeroed"):
        recs = records(result, variant)
        assert [r["pid"] for r in recs] == [result.triggered[0]] * 2
        assert [r["name"] for r in recs] == [LONG_PATH, SHORT_PATH]
        assert [r["name_len"] for r in recs] == [len(LONG_PATH) + 1, len(SHORT_PATH) + 1]


@pytest.mark.needs("tracepoint", "ringbuf")
def test_uncleared_heap_leaks_the_previous_path(result: LessonResult) -> None:
    first, second = records(result, "leaky")
    assert first["leaked"] == ""  # the heap starts zeroed
    # The short path and its NUL overwrote the start; the rest is the long one's.
    assert second["leaked"] == LONG_PATH[len(SHORT_PATH) + 1 :]


@pytest.mark.needs("tracepoint", "ringbuf")
def test_cleared_heap_sends_only_zeros(result: LessonResult) -> None:
    assert [r["leaked"] for r in records(result, "zeroed")] == ["", ""]
