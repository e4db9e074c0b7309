"""Lesson 3: the sched_process_exec record and a ring buffer."""

from __future__ import annotations

import ctypes
import shutil
import tempfile
from ctypes import c_char, c_uint32, c_uint64
from pathlib import Path
from typing import Any

from vigil.bpf_objects import object_path
from vigil.lab.lesson import LabContext, Lesson, LessonResult
from vigil.libbpf import RingBuffer, open_object

TRIGGER_NAME = "vigil-lab-3-exec"  # a copy of /bin/true under a name nothing else uses


class ExecEvent(ctypes.Structure):
    """struct exec_event in bpf/lab/03_execve.bpf.c (checked against its BTF
    by tests/unit/test_lab_3_execve.py):

        __u32 pid; __u32 ppid; __u32 uid; char comm[16]; char filename[256];
    """

    _fields_ = (
        ("pid", c_uint32),
        ("ppid", c_uint32),
        ("uid", c_uint32),
        ("comm", c_char * 16),
        ("filename", c_char * 256),
    )


def decode(raw: bytes) -> dict[str, Any]:
    """One ring-buffer record as a plain dict."""
    if len(raw) != ctypes.sizeof(ExecEvent):
        raise ValueError(f"exec_event is {ctypes.sizeof(ExecEvent)} bytes; got {len(raw)}: "
                         "is the object older than this module?")
    e = ExecEvent.from_buffer_copy(raw)
    name = e.filename  # c_char arrays read up to the first NUL
    tail = bytes(raw[ExecEvent.filename.offset + len(name):])
    return {
        "pid": e.pid, "ppid": e.ppid, "uid": e.uid,
        "comm": e.comm.decode("utf-8", "replace"),
        "filename": name.decode("utf-8", "replace"),
        # What follows the name must be zeros: nothing left from older events.
        "tail_zeroed": not tail.strip(b"\0"),
    }


def _format(event: dict[str, Any]) -> str:
    return (f"pid {event['pid']} (ppid {event['ppid']}, uid {event['uid']}) "
            f"comm={event['comm']} filename={event['filename']}")


def run(ctx: LabContext) -> LessonResult:
    result = LessonResult()
    with open_object(object_path("lab/03_execve.bpf.o")) as spec:
        obj = spec.load()
    with obj, RingBuffer(obj.maps["events"]) as ring, \
            tempfile.TemporaryDirectory(prefix="vigil-lab-3-") as tmp:
        obj.programs["trace_exec"].attach()
        ctx.show("attached to tracepoint sched:sched_process_exec; one event per "
                 "successful exec on this machine:")
        if ctx.trigger:
            binary = Path(tmp) / TRIGGER_NAME
            shutil.copy("/bin/true", binary)
            # Once by absolute path, once relative: the event carries the name
            # exactly as the caller passed it to execve.
            result.triggered.append(ctx.run_trigger([str(binary)]))
            result.triggered.append(ctx.run_trigger([f"./{TRIGGER_NAME}"], cwd=tmp))
        waiting = set(result.triggered)
        for raw in ctx.records(ring):
            event = decode(raw)
            ctx.show(_format(event))
            result.observations.append(event)
            if event["pid"] in waiting:
                waiting.discard(event["pid"])
                if not waiting:
                    ctx.seen()
        dropped = sum(int(v.value) for v in
                      obj.maps["dropped"].typed(c_uint32, c_uint64).get_percpu(0))
    result.summary = f"{len(result.observations)} exec events, {dropped} dropped (ring buffer full)"
    return result


LESSON = Lesson(
    key="3",
    slug="execve",
    title="The exec tracepoint and a ring buffer",
    teaches="a tracepoint's record (__data_loc strings), CO-RE reads, and events "
            "to user space through a ring buffer",
    title_zh="Tracepoint 详解：execve 监控与 ring buffer",
    teaches_zh="tracepoint 上下文记录（__data_loc 字符串）、CO-RE 读取，"
               "以及经 ring buffer 把事件送到用户态",
    objects=("lab/03_execve.bpf.o",),
    run=run,
    needs=("tracepoint", "ringbuf"),
    guide_section="§3 Demo 3",
)
