"""Lesson 3 on the real kernel: an exec of a uniquely named binary arrives
through the ring buffer with its pid, parent, new comm and file name."""

from __future__ import annotations

import os
import tempfile

import pytest

from vigil.lab.lessons.l03_execve import TRIGGER_NAME

from .lab_runner import run_lesson


@pytest.mark.needs("tracepoint", "ringbuf")
def test_lesson_3_reports_the_triggers_exec_with_its_filename() -> None:
    result, lines = run_lesson("3")

    absolute, relative = result.triggered
    by_pid = {o["pid"]: o for o in result.observations}
    assert absolute in by_pid and relative in by_pid, "an event per trigger exec"
    first, second = by_pid[absolute], by_pid[relative]
    # The file name is the execve argument as given, read from the record:
    # TMPDIR/vigil-lab-3-XXXXXXXX/TRIGGER_NAME (only the directory's tail is unknown).
    directory, name = os.path.split(first["filename"])
    assert name == TRIGGER_NAME
    parent, scratch = os.path.split(directory)
    assert parent == tempfile.gettempdir()
    assert scratch.startswith("vigil-lab-3-") and scratch != "vigil-lab-3-"
    assert second["filename"] == f"./{TRIGGER_NAME}"
    for event in (first, second):
        # After the exec: the new program's name (15 chars), our own children.
        assert event["comm"] == TRIGGER_NAME[:15]
        assert event["ppid"] == os.getpid()
        assert event["uid"] == os.getuid()
        assert event["tail_zeroed"]
    assert (f"pid {absolute} (ppid {os.getpid()}, uid {os.getuid()}) "
            f"comm={TRIGGER_NAME[:15]} filename={first['filename']}") in lines
