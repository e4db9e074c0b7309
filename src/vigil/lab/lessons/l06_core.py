"""Lesson 6: CO-RE reads (chains, field and type existence, flavours) and argv."""

from __future__ import annotations

import ctypes
from typing import Any

from vigil.bpf_objects import object_path
from vigil.lab.lesson import LabContext, Lesson, LessonResult
from vigil.libbpf import RingBuffer, open_object

OBJECT = "lab/06_core.bpf.o"
ARGS_MAX = 256
TRIGGER = ("/bin/echo", "vigil-lab-6", "two words", "")  # an empty argument counts too

# What each existence answer means, in the order the lesson prints them.
QUESTIONS = {
    "has_state": "task_struct.__state exists (5.14+; before: `long state`)",
    "has_cap_val": "kernel_cap_t.val exists (6.3+; before: `__u32 cap[2]`)",
    "has_iter_num": "struct bpf_iter_num exists (6.4+: open-coded iterators)",
}


class ExecEvent(ctypes.Structure):
    """struct exec_event in bpf/lab/06_core.bpf.c (checked against its BTF by
    tests/unit/test_lab_6_core.py)."""

    _fields_ = (
        ("pid", ctypes.c_uint32),
        ("ppid", ctypes.c_uint32),
        ("state", ctypes.c_uint32),
        ("args_len", ctypes.c_uint32),
        ("has_state", ctypes.c_uint8),
        ("has_cap_val", ctypes.c_uint8),
        ("has_iter_num", ctypes.c_uint8),
        ("args_truncated", ctypes.c_uint8),
        ("comm", ctypes.c_char * 16),
        ("args", ctypes.c_char * ARGS_MAX),
    )


def split_args(raw: bytes) -> list[str]:
    """argv as the kernel keeps it: each argument NUL-terminated, back to back.
    A truncated buffer ends inside its last argument, kept as far as read."""
    if not raw:
        return []
    parts = raw.split(b"\0")
    if raw.endswith(b"\0"):
        parts.pop()  # after the last argument's terminator
    return [p.decode("utf-8", "replace") for p in parts]


def decode(raw: bytes) -> dict[str, Any]:
    e = ExecEvent.from_buffer_copy(raw[: ctypes.sizeof(ExecEvent)])
    # Not e.args: ctypes cuts a char array at its first NUL, argv has many.
    start = ExecEvent.args.offset
    args = raw[start : start + min(e.args_len, ARGS_MAX)]
    return {
        "pid": e.pid,
        "ppid": e.ppid,
        "comm": e.comm.decode("utf-8", "replace"),
        "argv": split_args(args),
        "args_truncated": bool(e.args_truncated),
        "state": e.state,
        "has_state": bool(e.has_state),
        "has_cap_val": bool(e.has_cap_val),
        "has_iter_num": bool(e.has_iter_num),
    }


def run(ctx: LabContext) -> LessonResult:
    result = LessonResult()
    with open_object(object_path(OBJECT)) as spec:
        obj = spec.load()
    with obj, RingBuffer(obj.maps["events"]) as rb:
        obj.programs["core_exec"].attach()
        ctx.show("attached to tracepoint sched:sched_process_exec; every exec prints "
                 "its parent, argv and task state, read through CO-RE:")
        if ctx.trigger:
            result.triggered.append(ctx.run_trigger(list(TRIGGER)))
        else:
            ctx.show("try it: run commands with arguments in another terminal, "
                     "e.g. `ls -l /tmp`")
        answered = False
        for raw in ctx.records(rb):
            event = decode(raw)
            if not answered:
                # The same on every event: libbpf fixed them at load time.
                for key, question in QUESTIONS.items():
                    ctx.show(f"  on this kernel: {question}: {'yes' if event[key] else 'no'}")
                answered = True
            field = "__state" if event["has_state"] else "state"
            more = " (truncated)" if event["args_truncated"] else ""
            ctx.show(f"pid {event['pid']} ppid {event['ppid']} ({event['comm']}) "
                     f"argv={event['argv']!r}{more} {field}={event['state']}")
            result.observations.append(event)
            if event["pid"] in result.triggered:
                ctx.seen()
    result.summary = f"{len(result.observations)} execs read through CO-RE"
    return result


LESSON = Lesson(
    key="6",
    slug="core",
    title="CO-RE: one object, every kernel",
    teaches="BPF_CORE_READ chains, bpf_core_field_exists/type_exists, ___flavour structs, "
            "argv from mm->arg_start",
    title_zh="CO-RE：一次编译，到处运行",
    teaches_zh="BPF_CORE_READ 链式读取、bpf_core_field_exists/type_exists、___flavor 结构体、"
               "从 mm->arg_start 读取 argv",
    objects=(OBJECT,),
    run=run,
    needs=("tracepoint", "ringbuf", "btf"),
    guide_section="§3 Demo 6",
)
