"""Lesson 6 on the running kernel: argv and parent of a real child read through
CO-RE, and the lesson's field/type existence answers agree with what the
kernel's own BTF (/sys/kernel/btf/vmlinux, read by bpftool) says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

import pytest

from vigil.lab.lessons.l06_core import QUESTIONS, TRIGGER

from .lab_runner import run_lesson

BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"
_TYPE = re.compile(r"^\[(\d+)\] (\w+) '([^']*)'(.*)$")
_MEMBER = re.compile(r"^\t'([^']*)'")
_TYPE_ID = re.compile(r"\btype_id=(\d+)")


@dataclass
class BtfType:
    kind: str
    name: str
    type_id: int = 0  # what a TYPEDEF (or pointer, ...) refers to
    members: list[str] = field(default_factory=list)


def kernel_btf() -> dict[int, BtfType]:
    """Every type of the running kernel, from `bpftool btf dump ... format raw`."""
    out = subprocess.run([BPFTOOL, "btf", "dump", "file", "/sys/kernel/btf/vmlinux",
                          "format", "raw"], check=True, capture_output=True, text=True).stdout
    types: dict[int, BtfType] = {}
    current: BtfType | None = None
    for line in out.splitlines():
        if m := _TYPE.match(line):
            ref = _TYPE_ID.search(m[4])
            current = types[int(m[1])] = BtfType(m[2], m[3], int(ref[1]) if ref else 0)
        elif current is not None and (m := _MEMBER.match(line)):
            current.members.append(m[1])
    return types


def struct_named(types: dict[int, BtfType], name: str) -> BtfType | None:
    return next((t for t in types.values() if t.kind == "STRUCT" and t.name == name), None)


def typedef_struct(types: dict[int, BtfType], name: str) -> BtfType:
    td = next(t for t in types.values() if t.kind == "TYPEDEF" and t.name == name)
    return types[td.type_id]


@pytest.mark.needs("tracepoint", "ringbuf", "btf")
def test_lesson_6_reads_argv_and_answers_like_the_kernels_btf() -> None:
    result, lines = run_lesson("6")

    assert len(result.triggered) == 1
    ours = [o for o in result.observations if o["pid"] == result.triggered[0]]
    assert len(ours) == 1, f"one exec event for the child; saw {result.observations}"
    event = ours[0]
    # argv from mm->arg_start..arg_end, every argument, the empty one too.
    assert event["argv"] == list(TRIGGER)
    assert not event["args_truncated"]
    assert event["comm"] == "echo"
    # task->real_parent->tgid: the child was forked by this process.
    assert event["ppid"] == os.getpid()
    # At sched_process_exec the task is running: TASK_RUNNING is 0, read from
    # __state or, before 5.14, from the old `state` through the flavour.
    assert event["state"] == 0

    btf = kernel_btf()
    task = struct_named(btf, "task_struct")
    assert task is not None
    assert event["has_state"] == ("__state" in task.members)
    assert event["has_state"] != ("state" in task.members)  # exactly one of the two
    caps = typedef_struct(btf, "kernel_cap_t")
    assert event["has_cap_val"] == ("val" in caps.members)
    assert event["has_cap_val"] != ("cap" in caps.members)
    assert event["has_iter_num"] == (struct_named(btf, "bpf_iter_num") is not None)

    # What a person sees: the answers once, then the child's line.
    answers = [f"  on this kernel: {question}: {'yes' if event[key] else 'no'}"
               for key, question in QUESTIONS.items()]
    assert [line for line in lines if line.startswith("  on this kernel: ")] == answers
    field_name = "__state" if event["has_state"] else "state"
    assert (f"pid {event['pid']} ppid {os.getpid()} (echo) argv={list(TRIGGER)!r} "
            f"{field_name}=0") in lines
