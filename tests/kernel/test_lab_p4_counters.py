"""Pitfall 4 on the real kernel: two CPUs incrementing one counter. The
atomic and per-CPU counters are exact; the plain ones can only lose."""

from __future__ import annotations

import os

import pytest

from vigil.lab.lesson import LessonResult
from vigil.lab.lessons.lp4_counters import CALLS

from .lab_runner import run_lesson


@pytest.fixture(scope="module")
def result() -> LessonResult:
    return run_lesson("p4")[0]


def counts(result: LessonResult) -> dict[str, object]:
    found = [o for o in result.observations if o["kind"] == "counts"]
    assert len(found) == 1
    return found[0]


@pytest.mark.needs("tracepoint")
def test_spin_lock_is_refused_in_a_tracepoint(result: LessonResult) -> None:
    locked = next(o for o in result.observations if o.get("program") == "count_locked")
    assert locked["loaded"] is False
    assert any("cannot use bpf_spin_lock" in line for line in locked["log"]), locked


@pytest.mark.needs("tracepoint")
def test_atomic_and_percpu_counters_are_exact(result: LessonResult) -> None:
    c = counts(result)
    assert len(result.triggered) == 2
    assert c["expected"] == 2 * CALLS
    assert c["atomic"] == c["percpu"] == 2 * CALLS


@pytest.mark.needs("tracepoint")
def test_plain_increments_lose_updates_across_cpus(result: LessonResult) -> None:
    c = counts(result)
    plain, wide = c["plain"], c["wide"]
    assert isinstance(plain, int) and isinstance(wide, int)
    # Never more: a lost update only ever drops a count.
    assert plain <= 2 * CALLS and wide <= 2 * CALLS
    print(f"plain lost {2 * CALLS - plain}, wide lost {2 * CALLS - wide} "
          f"of {2 * CALLS} on CPUs {c['cpus']}")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: nothing runs the program concurrently, nothing to lose")
    # The widened window (a helper call between load and store) loses
    # hundreds to tens of thousands of the 400000 on two CPUs; the bare
    # `+= 1` loses some most runs, which is reported, not asserted.
    assert wide < 2 * CALLS
