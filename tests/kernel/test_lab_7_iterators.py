"""Lesson 7 on the running kernel: every loop variant this kernel can load
counts the same thing, and exactly the variants the probe offers are loaded
(5.10: the plain loop only; 6.1: and bpf_loop; 6.4+: and bpf_for)."""

from __future__ import annotations

import pytest

from vigil.kernel.probe import probe_all
from vigil.lab.lesson import LessonResult
from vigil.lab.lessons.l07_iterators import TRIGGER, VARIANTS

from .lab_runner import run_lesson


@pytest.fixture(scope="module")
def lesson_run() -> tuple[LessonResult, list[str]]:
    return run_lesson("7")


def scans_of_trigger(result: LessonResult) -> dict[str, dict[str, object]]:
    assert len(result.triggered) == 1
    scans = [o for o in result.observations
             if o["kind"] == "scan" and o["pid"] == result.triggered[0]]
    by_variant = {str(o["variant"]): o for o in scans}
    assert len(by_variant) == len(scans), f"one scan per variant; saw {scans}"
    return by_variant


@pytest.mark.parametrize("variant", [
    pytest.param(v.name, id=v.program,
                 marks=pytest.mark.needs(*(("tracepoint", "ringbuf") + ((v.feature,) if v.feature
                                                                        else ()))))
    for v in VARIANTS
])
def test_lesson_7_variant_counts_like_the_others(
    variant: str, lesson_run: tuple[LessonResult, list[str]]
) -> None:
    result, lines = lesson_run
    scans = scans_of_trigger(result)
    assert variant in scans, f"{variant} saw no exec of {TRIGGER}; saw {sorted(scans)}"
    ours = scans[variant]
    assert ours["path"] == TRIGGER
    assert ours["len"] == len(TRIGGER)
    assert ours["slashes"] == TRIGGER.count("/")
    # Every variant that ran agrees with every other.
    assert {(o["len"], o["slashes"]) for o in scans.values()} == {(len(TRIGGER), 3)}
    assert (f"pid {result.triggered[0]} {TRIGGER}: {variant} counted 3 '/' in "
            f"{len(TRIGGER)} bytes") in lines


@pytest.mark.needs("tracepoint", "ringbuf")
def test_lesson_7_loads_exactly_what_the_probe_offers(
    lesson_run: tuple[LessonResult, list[str]]
) -> None:
    result, lines = lesson_run
    report = probe_all()
    chosen = {o["variant"]: o for o in result.observations if o["kind"] == "variant"}
    assert set(chosen) == {v.name for v in VARIANTS}
    scans = scans_of_trigger(result)
    for v in VARIANTS:
        offered = not v.feature or report.has(v.feature)
        assert chosen[v.name]["loaded"] == offered, v.name
        # A variant left out must say why, in the probe's words, and see nothing.
        if not offered:
            assert chosen[v.name]["reason"] == report.reason(v.feature)
            assert f"{v.name} ({v.since}+): not loaded: {report.reason(v.feature)}" in lines
        assert (v.name in scans) == offered, v.name
