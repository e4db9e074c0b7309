"""Lesson 3 on the real kernel: an exec of a uniquely named binary arrives
through the ring buffer with its pid, parent, new comm and file name."""

from __future__ import annotations

import os

import pytest

from vigil.lab.lesson import LabContext
from vigil.lab.lessons.l03_execve import TRIGGER_NAME
from vigil.lab.registry import get_lesson


@pytest.mark.needs("tracepoint", "ringbuf")
def test_lesson_3_reports_the_triggers_exec_with_its_filename() -> None:
    lines: list[str] = []
    result = get_lesson("3").run(LabContext(duration=2.0, show=lines.append))

    absolute, relative = result.triggered
    by_pid = {o["pid"]: o for o in result.observations}
    assert absolute in by_pid and relative in by_pid, "an event per trigger exec"
    first, second = by_pid[absolute], by_pid[relative]
    # The file name is the execve argument as given, read from the record.
    assert os.path.isabs(first["filename"])
    assert os.path.basename(first["filename"]) == TRIGGER_NAME
    assert first["filename"].split("/")[-2].startswith("vigil-lab-3-")
    assert second["filename"] == f"./{TRIGGER_NAME}"
    for event in (first, second):
        # After the exec: the new program's name (15 chars), our own children.
        assert event["comm"] == TRIGGER_NAME[:15]
        assert event["ppid"] == os.getpid()
        assert event["uid"] == os.getuid()
        assert event["tail_zeroed"]
    assert any(line.startswith(f"pid {absolute} ") for line in lines)
