"""Lesson 5 on a kernel with kprobes: the kprobe/kretprobe pair joins each
do_unlinkat call's path with its signed return value."""

from __future__ import annotations

import errno
import os
import tempfile

import pytest

from .lab_runner import run_lesson


@pytest.mark.needs("kprobe", "kretprobe", "ringbuf")
def test_lesson_5_joins_path_and_signed_return_value() -> None:
    result, lines = run_lesson("5")

    assert len(result.triggered) == 2
    first, second = result.triggered
    ours = {o["pid"]: o for o in result.observations if o["pid"] in result.triggered}
    assert set(ours) == {first, second}, f"no event for a trigger; saw {result.observations}"

    # The same path both times; the entry probe read it, the return probe reported it:
    # TMPDIR/vigil-lab-5-XXXXXXXX/doomed (only the directory's tail is unknown).
    path = ours[first]["path"]
    assert ours[second]["path"] == path
    directory, name = os.path.split(path)
    assert name == "doomed"
    parent, scratch = os.path.split(directory)
    assert parent == tempfile.gettempdir()
    assert scratch.startswith("vigil-lab-5-") and scratch != "vigil-lab-5-"
    assert {ours[first]["comm"], ours[second]["comm"]} == {"unlink"}
    # The file existed the first time and not the second: 0, then -ENOENT, signed.
    assert ours[first]["ret"] == 0
    assert ours[first]["errno"] == ""
    assert ours[second]["ret"] == -errno.ENOENT
    assert ours[second]["errno"] == "ENOENT"
    # What a person sees: the errno by name, not 4294967294.
    assert f'pid {first} (unlink): do_unlinkat("{path}") = 0' in lines
    assert f'pid {second} (unlink): do_unlinkat("{path}") = -2 (ENOENT)' in lines
