"""Runs a lesson from a kernel test: until the lesson has seen what its own
triggers did, never for a fixed window.

`duration` becomes only the bound on that wait (`LabContext.until_seen`): a
fast kernel returns at once, a TCG guest of the VM matrix under load may use
much of it. VIGIL_TEST_LAB_TIMEOUT overrides the bound, like the timeouts of
vigil_runner.py.
"""

from __future__ import annotations

import os
from typing import Any

from vigil.lab.lesson import LabContext, LessonResult
from vigil.lab.registry import get_lesson

LAB_TIMEOUT = float(os.environ.get("VIGIL_TEST_LAB_TIMEOUT", "120"))


def run_lesson(key: str, **kwargs: Any) -> tuple[LessonResult, list[str]]:
    """Run lesson `key` with its triggers; (what it observed, what it printed)."""
    lines: list[str] = []
    ctx = LabContext(duration=LAB_TIMEOUT, until_seen=True, show=lines.append, **kwargs)
    return get_lesson(key).run(ctx), lines
