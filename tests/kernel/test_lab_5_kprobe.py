"""Lesson 5 on a kernel with kprobes: the kprobe/kretprobe pair joins each
do_unlinkat call's path with its signed return value."""

from __future__ import annotations

import errno
import os
import tempfile

import pytest

from vigil.lab.lesson import LabContext
from vigil.lab.registry import get_lesson

# Under TCG (the VM matrix) each exec is slow; the lesson drains its ring
# buffer once more after the duration in any case.
DURATION = 3.0 if os.environ.get("VIGIL_VM") else 1.5


@pytest.mark.needs("kprobe", "kretprobe", "ringbuf")
def test_lesson_5_joins_path_and_signed_return_value() -> None:
    lines: list[str] = []
    result = get_lesson("5").run(LabContext(duration=DURATION, show=lines.append))

    assert len(result.triggered) == 2
    first, second = result.triggered
    ours = {o["pid"]: o for o in result.observations if o["pid"] in result.triggered}
    assert set(ours) == {first, second}, f"no event for a trigger; saw {result.observations}"

    # The same path both times; the entry probe read it, the return probe reported it.
    assert ours[first]["path"] == ours[second]["path"]
    assert ours[first]["path"].startswith(os.path.join(tempfile.gettempdir(), "vigil-lab-5-"))
    assert ours[first]["path"].endswith("/doomed")
    assert {ours[first]["comm"], ours[second]["comm"]} == {"unlink"}
    # The file existed the first time and not the second: 0, then -ENOENT, signed.
    assert ours[first]["ret"] == 0
    assert ours[second]["ret"] == -errno.ENOENT
    assert ours[second]["errno"] == "ENOENT"
    # What a person sees: the errno by name, not 4294967294.
    assert any(f"pid {second} (unlink)" in line and line.endswith(" = -2 (ENOENT)")
               for line in lines), lines
