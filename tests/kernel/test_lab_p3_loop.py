"""Pitfall 3 on the real kernel: a loop to an unknown count is refused; a
constant bound and an open-coded iterator load and count exactly."""

from __future__ import annotations

import errno

import pytest

from vigil.kernel.probe import probe_all
from vigil.lab.lesson import LessonResult
from vigil.lab.lessons.lp3_loop import REFUSAL, expected_tally

from .lab_runner import run_lesson


@pytest.fixture(scope="module")
def result() -> LessonResult:
    return run_lesson("p3")[0]


def observed(result: LessonResult, kind: str, program: str) -> dict[str, object]:
    found = [o for o in result.observations if o["kind"] == kind and o["program"] == program]
    assert len(found) == 1, result.observations
    return found[0]


@pytest.mark.needs("tracepoint")
def test_unbounded_loop_is_refused(result: LessonResult) -> None:
    load = observed(result, "load", "lines_unbounded")
    assert load["loaded"] is False
    # EFAULT when the stack of branches still to walk overflowed ("sequence of
    # 8193 jumps"), E2BIG at the instruction budget, EINVAL/EACCES where the
    # back-edge itself is refused: the log says which, the errno misleads.
    assert load["errno"] in (errno.EFAULT, errno.E2BIG, errno.EINVAL, errno.EACCES)
    log = load["log"]
    assert isinstance(log, list)
    assert any(REFUSAL.search(line) for line in log), log
    assert not [o for o in result.observations
                if o["kind"] == "tally" and o["program"] == "lines_unbounded"]


@pytest.mark.needs("tracepoint")
def test_constant_bound_loads_and_counts_exactly(result: LessonResult) -> None:
    assert observed(result, "load", "lines_bounded")["loaded"] is True
    tally = observed(result, "tally", "lines_bounded")
    assert {k: tally[k] for k in ("writes", "bytes", "newlines", "cut")} == expected_tally()


@pytest.mark.needs("tracepoint")
def test_iterator_counts_exactly_where_the_kernel_has_it(result: LessonResult) -> None:
    load = observed(result, "load", "lines_iter")
    if not probe_all().has("bpf_for"):
        # Before 6.4 the bpf_iter_num kfuncs do not exist: the verifier refuses.
        assert load["loaded"] is False
        return
    assert load["loaded"] is True
    tally = observed(result, "tally", "lines_iter")
    assert {k: tally[k] for k in ("writes", "bytes", "newlines", "cut")} == expected_tally()
