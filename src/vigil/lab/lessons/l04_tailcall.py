"""Lesson 4: tail calls through a prog array that user space fills."""

from __future__ import annotations

import ctypes
import os
from ctypes import c_char, c_uint32
from typing import Any

from vigil.bpf_objects import object_path
from vigil.lab.lesson import LabContext, Lesson, LessonResult
from vigil.libbpf import RingBuffer, TypedMap, open_object

# The slots of the prog array `stages` and the programs user space puts there.
SLOTS = {0: "parse", 1: "filter", 2: "output", 3: "again"}
SLOT_OUTPUT, SLOT_EXTRA = 2, 3
# RAN_* bits in bpf/lab/04_tailcall.bpf.c, in chain order.
RAN = ("dispatch", "parse", "filter", "output", "again")


class ChainEvent(ctypes.Structure):
    """struct chain_event in bpf/lab/04_tailcall.bpf.c (checked against its
    BTF by tests/unit/test_lab_4_tailcall.py):

        __u32 pid; __u32 ran; __u32 tail_calls; __u32 failed_slot; char comm[16];
    """

    _fields_ = (
        ("pid", c_uint32),
        ("ran", c_uint32),
        ("tail_calls", c_uint32),
        ("failed_slot", c_uint32),
        ("comm", c_char * 16),
    )


def decode(raw: bytes) -> dict[str, Any]:
    if len(raw) != ctypes.sizeof(ChainEvent):
        raise ValueError(f"chain_event is {ctypes.sizeof(ChainEvent)} bytes; got {len(raw)}: "
                         "is the object older than this module?")
    e = ChainEvent.from_buffer_copy(raw)
    return {
        "pid": e.pid,
        "comm": e.comm.decode("utf-8", "replace"),
        "ran": [name for bit, name in enumerate(RAN) if e.ran & (1 << bit)],
        "tail_calls": e.tail_calls,
        "failed_slot": e.failed_slot,
    }


def describe(event: dict[str, Any]) -> str:
    stages = " -> ".join(n for n in event["ran"] if n != "again")
    if "again" in event["ran"]:
        stages += f" -> again x{event['tail_calls'] - len(event['ran']) + 2}"
    return (f"pid {event['pid']} ({event['comm']}): {stages}; {event['tail_calls']} tail "
            f"calls, then the call into slot {event['failed_slot']} came back")


# (what user space changes, why) before each trigger exec.
PHASES = (
    ("slots 0-2 = parse, filter, output; slot 3 empty",
     "output's tail call into the empty slot 3 comes back and it sends the event"),
    ("slot 3 = again (it tail-calls itself)",
     "again runs until the chain's tail calls are used up"),
    ("slot 2 (output) removed, slot 3 emptied",
     "filter's tail call into slot 2 comes back: the chain stops a stage early"),
)


def _configure(stages: TypedMap[c_uint32, c_uint32], fds: dict[str, int], phase: int) -> None:
    if phase == 0:
        for slot in (0, 1, 2):
            stages[slot] = fds[SLOTS[slot]]
    elif phase == 1:
        stages[SLOT_EXTRA] = fds["again"]
    else:
        del stages[SLOT_EXTRA]
        del stages[SLOT_OUTPUT]


def _wait_for(ring: RingBuffer, pid: int, ctx: LabContext, seen: list[dict[str, Any]]) -> None:
    for raw in ctx.records(ring):
        event = decode(raw)
        seen.append(event)
        ctx.show("  " + describe(event))
        if event["pid"] == pid:
            return


def run(ctx: LabContext) -> LessonResult:
    result = LessonResult()
    with open_object(object_path("lab/04_tailcall.bpf.o")) as spec:
        if ctx.trigger:
            spec.set_rodata("parent_tgid", os.getpid())
        obj = spec.load()
    with obj, RingBuffer(obj.maps["events"]) as ring:
        stages = obj.maps["stages"].typed(c_uint32, c_uint32)
        fds = {name: obj.programs[name].fd for name in SLOTS.values()}
        _configure(stages, fds, 0)  # before attaching: no chain finds slot 0 empty
        obj.programs["dispatch"].attach()
        ctx.show("attached dispatch to syscalls:sys_enter_execve; it tail-calls slot 0 "
                 "of the prog array `stages`")
        if ctx.trigger:
            for phase, (change, expect) in enumerate(PHASES):
                if phase:
                    _configure(stages, fds, phase)
                ctx.show(f"{change}: {expect}")
                pid = ctx.run_trigger(["/bin/true"])
                result.triggered.append(pid)
                seen: list[dict[str, Any]] = []
                _wait_for(ring, pid, ctx, seen)
                result.observations += [dict(e, phase=phase) for e in seen]
        else:
            ctx.show(f"{PHASES[0][0]}: run commands and watch their chains")
            for raw in ctx.records(ring):
                event = decode(raw)
                ctx.show("  " + describe(event))
                result.observations.append(dict(event, phase=0))
    most = max((o["tail_calls"] for o in result.observations), default=0)
    result.summary = (f"{len(result.observations)} chains seen; the longest made {most} "
                      "tail calls")
    return result


LESSON = Lesson(
    key="4",
    slug="tailcall",
    title="Tail calls",
    teaches="a prog array filled from user space, bpf_tail_call between stages, "
            "state in a per-CPU map, and the tail-call limit",
    title_zh="Tail Call 链式调用",
    teaches_zh="由用户态填充的 prog array、阶段之间的 bpf_tail_call、"
               "用 per-CPU map 传递状态，以及尾调用次数上限",
    objects=("lab/04_tailcall.bpf.o",),
    run=run,
    needs=("tracepoint", "prog_array", "ringbuf"),
    guide_section="§3 Demo 4",
)
