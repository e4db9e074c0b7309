"""Each lesson run on the real kernel, asserting what it is meant to show."""

from __future__ import annotations

import pytest

from vigil.lab.lesson import LabContext, LessonResult
from vigil.lab.registry import get_lesson


def run_lesson(key: str, duration: float = 2.0, **kwargs: object) -> LessonResult:
    lines: list[str] = []
    ctx = LabContext(duration=duration, show=lines.append, **kwargs)  # type: ignore[arg-type]
    return get_lesson(key).run(ctx)


@pytest.mark.needs("tracepoint")
def test_lesson_1_hello_prints_the_triggers_execve() -> None:
    result = run_lesson("1")
    assert result.triggered
    pids = {o["pid"] for o in result.observations}
    assert result.triggered[0] in pids
    ours = next(o for o in result.observations if o["pid"] == result.triggered[0])
    assert ours["msg"].startswith(f"execve by pid {result.triggered[0]} (")
