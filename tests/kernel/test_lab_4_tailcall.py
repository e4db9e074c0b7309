"""Lesson 4 on the real kernel: every stage runs for a triggered exec, a tail
call into an empty slot comes back, and a chain stops at the kernel's limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.lab.lessons.l04_tailcall import describe

from .lab_runner import run_lesson

MAX_TAIL_CALL_CNT = 33  # include/linux/bpf.h


@pytest.mark.needs("tracepoint", "prog_array", "ringbuf")
def test_lesson_4_stages_run_and_empty_slots_fall_through() -> None:
    result, lines = run_lesson("4")

    assert len(result.triggered) == 3, "one trigger exec per phase"
    # The filter stage drops every other process: only our triggers arrive.
    assert {o["pid"] for o in result.observations} == set(result.triggered)
    full, looped, short = (
        next(o for o in result.observations if o["pid"] == pid) for pid in result.triggered
    )
    # Phase 0: all stages ran; output's call into empty slot 3 came back.
    assert full["ran"] == ["dispatch", "parse", "filter", "output"]
    assert (full["tail_calls"], full["failed_slot"]) == (3, 3)
    # Phase 1: `again` in slot 3 calls itself until the kernel refuses.
    assert looped["ran"] == ["dispatch", "parse", "filter", "output", "again"]
    assert (looped["tail_calls"], looped["failed_slot"]) == (MAX_TAIL_CALL_CNT, 3)
    # Phase 2: output removed at run time; filter's call comes back instead.
    assert short["ran"] == ["dispatch", "parse", "filter"]
    assert (short["tail_calls"], short["failed_slot"]) == (2, 2)
    # At sys_enter_execve the name is still the caller's (the forking thread's):
    # the parse stage saw it.
    comm = Path("/proc/thread-self/comm").read_text().strip()
    assert {o["comm"] for o in (full, looped, short)} == {comm}
    for event in (full, looped, short):
        assert "  " + describe(event) in lines
    assert "  " + describe(full) == (f"  pid {full['pid']} ({comm}): dispatch -> parse -> "
                                     "filter -> output; 3 tail calls, then the call into "
                                     "slot 3 came back")
