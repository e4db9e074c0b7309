"""Lesson 8 on the real kernel: fmod_ret fails one process's opens, nobody else's."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from vigil.kernel.probe import probe_all
from vigil.lab.lesson import LessonResult

from .lab_runner import run_lesson


def opens(result: LessonResult, phase: str, process: str) -> list[dict[str, Any]]:
    return [o for o in result.observations
            if o.get("phase") == phase and o.get("process") == process]


@pytest.mark.needs("fmod_ret")
def test_only_the_target_fails_and_only_while_attached() -> None:
    result, lines = run_lesson("8")
    target, other = result.triggered
    assert target != other

    before = opens(result, "before", "target")
    assert [o["errno"] for o in before] == [0], "the target opens the file before attach"

    attached = opens(result, "fmod_ret", "target")
    assert [(o["path"].rsplit("/", 1)[1], o["errno"]) for o in attached] == [
        ("note.txt", errno.EACCES),
        # security_file_open runs after the lookup: a missing file is still ENOENT
        ("missing.txt", errno.ENOENT),
    ]
    assert all(o["pid"] == target for o in attached)
    assert [o["errno"] for o in opens(result, "fmod_ret", "other")] == [0]
    assert [o["errno"] for o in opens(result, "fmod_ret", "lesson")] == [0]

    assert [o["errno"] for o in opens(result, "detached", "target")] == [0]

    counts = next(o for o in result.observations if o.get("map") == "failed")
    assert counts["fmod_ret"] == 1, "exactly the one existing-file open of the target"
    assert f"  [fmod_ret] target (pid {target}) open note.txt: EACCES" in lines
    assert f"  [fmod_ret] target (pid {target}) open missing.txt: ENOENT" in lines


@pytest.mark.needs("fmod_ret")
def test_override_return_is_loaded_only_where_the_probe_has_it() -> None:
    result, lines = run_lesson("8")
    counts = next(o for o in result.observations if o.get("map") == "failed")
    report = probe_all()
    has_override = report.has("override_return")
    assert counts["override_loaded"] is has_override
    if has_override:
        # the kprobe fails openat(2) itself, before the lookup: even the missing file
        assert [o["errno"] for o in opens(result, "override_return", "target")] == [
            errno.EACCES, errno.EACCES]
        assert [o["errno"] for o in opens(result, "override_return", "other")] == [0]
        assert counts["override_return"] == 2
    else:
        assert counts["override_return"] == 0
        assert not opens(result, "override_return", "target")
        assert (f"override_openat not loaded: override_return unavailable "
                f"({report.reason('override_return')})") in lines
