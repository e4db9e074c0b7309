"""Pitfall 2: an uninitialised per-CPU heap leaks the previous event's bytes."""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

from vigil.bpf_objects import object_path
from vigil.lab.lesson import LabContext, Lesson, LessonResult
from vigil.lab.triggers import go, reap, start_waiting
from vigil.libbpf import RingBuffer, open_object

OBJECT = "lab/p2_heap_leak.bpf.o"
VARIANTS = {1: "leaky", 2: "zeroed"}
# Nonexistent paths: the first long, the second short. Both opens run on one
# CPU, so both records are built in the same heap slot.
LONG_PATH = "/vigil-lab/p2/home/alice/.ssh/id_ed25519"
SHORT_PATH = "/vigil-lab/p2/x"

# Pins itself to one CPU, says it is ready, waits for the go, opens the paths.
TRIGGER = """
import os, sys
os.sched_setaffinity(0, {int(sys.argv[1])})
print("ready", flush=True)
sys.stdin.readline()
for path in sys.argv[2:]:
    try:
        os.close(os.open(path, os.O_RDONLY))
    except OSError:
        pass
"""


class OpenRec(ctypes.Structure):
    """struct open_rec in bpf/lab/p2_heap_leak.bpf.c."""

    _fields_ = (
        ("tgid", ctypes.c_uint32),
        ("variant", ctypes.c_uint32),
        ("name_len", ctypes.c_int32),
        ("name", ctypes.c_char * 64),
    )


def decode(raw: bytes) -> dict[str, Any]:
    """A record as a person reads it: the path, and what follows its NUL."""
    if len(raw) != ctypes.sizeof(OpenRec):
        raise ValueError(f"open_rec is {ctypes.sizeof(OpenRec)} bytes, the record {len(raw)}: "
                         "rebuild the BPF objects (make build)")
    rec = OpenRec.from_buffer_copy(raw)
    start = OpenRec.name.offset
    name = raw[start : start + OpenRec.name.size]
    end = rec.name_len if 0 < rec.name_len <= len(name) else 0
    # Every non-NUL byte after the string's own NUL came from an earlier event.
    leaked = bytes(b for b in name[end:] if b)
    return {
        "variant": VARIANTS.get(rec.variant, str(rec.variant)),
        "pid": rec.tgid,
        "name": name[: max(end - 1, 0)].decode(errors="replace"),
        "name_len": rec.name_len,
        "leaked": leaked.decode(errors="replace"),
    }


def describe(o: dict[str, Any]) -> str:
    tail = f" + stale bytes {o['leaked']!r}" if o["leaked"] else " + zeros"
    return f"  {o['variant']:<6} pid {o['pid']}: {o['name']!r}{tail}"


def run(ctx: LabContext) -> LessonResult:
    result = LessonResult()
    child = None
    cpu = min(os.sched_getaffinity(0))
    if ctx.trigger:
        child = start_waiting(ctx, [sys.executable, "-c", TRIGGER, str(cpu),
                                    LONG_PATH, SHORT_PATH])
        result.triggered.append(child.pid)
    try:
        with open_object(object_path(OBJECT)) as spec:
            spec.set_rodata("target_tgid", child.pid if child else 0)
            obj = spec.load()
        with obj, RingBuffer(obj.maps["records"]) as rb:
            obj.programs["leaky"].attach()
            obj.programs["zeroed"].attach()
            ctx.show("two programs on syscalls:sys_enter_openat build each record in a "
                     "per-CPU heap; 'leaky' does not clear it, 'zeroed' does:")
            if child is not None:
                ctx.show(f"pid {child.pid} on CPU {cpu} opens {LONG_PATH!r}, then {SHORT_PATH!r}")
                go(child)
            else:
                ctx.show("open a long path, then a short one, on one CPU, e.g.: "
                         "taskset -c 0 sh -c 'cat /a/long/path/that/is/not/there; cat /b'")
            # The trigger's two opens, each recorded by both programs.
            waiting = 2 * len(VARIANTS)
            for raw in ctx.records(rb):
                o = decode(raw)
                ctx.show(describe(o))
                result.observations.append(o)
                if child is not None and o["pid"] == child.pid:
                    waiting -= 1
                    if not waiting:
                        ctx.seen()
    finally:
        if child is not None:
            reap(child)
    leaks = [o for o in result.observations if o["leaked"]]
    by_variant = {v: sum(1 for o in leaks if o["variant"] == v) for v in VARIANTS.values()}
    result.summary = (f"{len(result.observations)} records; stale bytes in "
                      f"{by_variant['leaky']} from 'leaky', {by_variant['zeroed']} from 'zeroed'")
    return result


LESSON = Lesson(
    key="p2",
    slug="heap-leak",
    title="Pitfall: an uninitialised per-CPU heap",
    teaches="a heap slot keeps the last event's bytes: clear the record, or send only what "
            "was written",
    title_zh="陷阱：未初始化的 per-CPU 堆",
    teaches_zh="堆槽位保留上一个事件的字节：先清零记录，或只发送写入的字节",
    objects=(OBJECT,),
    run=run,
    needs=("tracepoint", "ringbuf"),
    guide_section="§6.2, §6.4, §4.1",
)
