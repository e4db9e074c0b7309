"""Each lesson run on the real kernel, asserting what it is meant to show."""

from __future__ import annotations

from pathlib import Path

import pytest

from .lab_runner import run_lesson


@pytest.mark.needs("tracepoint")
def test_lesson_1_hello_prints_the_triggers_execve() -> None:
    result, _ = run_lesson("1")
    (pid,) = result.triggered
    pids = {o["pid"] for o in result.observations}
    assert pid in pids
    ours = next(o for o in result.observations if o["pid"] == pid)
    # sys_enter_execve runs before the exec: the name is still the forking thread's.
    comm = Path("/proc/thread-self/comm").read_text().strip()
    assert ours["msg"] == f"execve by pid {pid} ({comm})"
