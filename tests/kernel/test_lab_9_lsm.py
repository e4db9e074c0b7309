"""Lesson 9 on the real kernel: BPF LSM programs deny one file and one
directory's programs to a real child, and nothing else."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from vigil.lab.lesson import LessonResult

from .lab_runner import run_lesson


def results(result: LessonResult, phase: str) -> dict[str, int]:
    return {o["how"] if o["op"] == "exec" else f"open {o['how']}": o["errno"]
            for o in result.observations if o.get("phase") == phase}


@pytest.mark.needs("lsm", "ringbuf")
def test_lsm_denies_the_file_and_the_directory_only_while_attached() -> None:
    result, _ = run_lesson("9")
    (child,) = result.triggered

    assert results(result, "before") == {"open the file": 0, "absolute path": 0}
    assert results(result, "attached") == {
        "open the file": errno.EPERM,
        "open another file, same directory": 0,
        # the directory is checked by inode: every spelling of the path is caught
        "absolute path": errno.EPERM,
        "relative path": errno.EPERM,
        "path with ..": errno.EPERM,
        "symlink from elsewhere": errno.EPERM,
        "a copy elsewhere": 0,
        # a rule on the directory is a rule on a name: another name escapes it
        "hard link elsewhere": 0,
        "a system program": 0,
    }
    assert results(result, "detached") == {"open the file": 0, "absolute path": 0}

    denials: list[dict[str, Any]] = [o for o in result.observations if "denied" in o]
    opens = [d for d in denials if d["denied"] == "file_open"]
    execs = [d for d in denials if d["denied"] == "bprm_check_security"]
    assert len(opens) == 1 and len(execs) == 4, denials
    assert opens[0]["pid"] == child
    # posix_spawn's new process is denied before it becomes the program: still the child's name
    assert all(d["pid"] != child for d in execs)
    assert len({d["ino"] for d in execs}) == 1, "one program, however it was named"
