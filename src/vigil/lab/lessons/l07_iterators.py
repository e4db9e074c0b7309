"""Lesson 7: a bounded loop, bpf_loop and bpf_for doing the same job; which of
them load is chosen at load time from what the feature probe found."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

from vigil.bpf_objects import object_path
from vigil.kernel.report import ProbeReport
from vigil.lab.lesson import LabContext, Lesson, LessonResult
from vigil.libbpf import RingBuffer, open_object

OBJECT = "lab/07_iterators.bpf.o"
PATH_LEN = 128
TRIGGER = "/usr/bin/true"


@dataclass(frozen=True)
class Variant:
    name: str  # as the lesson prints it
    program: str  # in bpf/lab/07_iterators.bpf.c
    feature: str  # the probe feature it needs beyond a tracepoint ("" for none)
    since: str  # the kernel that brought it


# In enum scan_variant order.
VARIANTS = (
    Variant("plain loop", "scan_plain", "", "5.3"),
    Variant("bpf_loop", "scan_bpf_loop", "bpf_loop", "5.17"),
    Variant("bpf_for", "scan_bpf_for", "bpf_for", "6.4"),
)


class ScanEvent(ctypes.Structure):
    """struct scan_event in bpf/lab/07_iterators.bpf.c (checked against its BTF
    by tests/unit/test_lab_7_iterators.py)."""

    _fields_ = (
        ("pid", ctypes.c_uint32),
        ("variant", ctypes.c_uint32),
        ("len", ctypes.c_uint32),
        ("slashes", ctypes.c_uint32),
        ("path", ctypes.c_char * PATH_LEN),
    )


def choose(report: ProbeReport) -> list[tuple[Variant, str]]:
    """Each variant with why it is not loaded ("" when it is)."""
    return [(v, "" if not v.feature or report.has(v.feature) else report.reason(v.feature))
            for v in VARIANTS]


def decode(raw: bytes) -> dict[str, Any]:
    e = ScanEvent.from_buffer_copy(raw[: ctypes.sizeof(ScanEvent)])
    name = VARIANTS[e.variant].name if e.variant < len(VARIANTS) else f"variant {e.variant}"
    return {"kind": "scan", "pid": e.pid, "variant": name, "len": e.len,
            "slashes": e.slashes, "path": e.path.decode("utf-8", "replace")}


def run(ctx: LabContext) -> LessonResult:
    from vigil.kernel.probe import probe_all

    result = LessonResult()
    chosen = choose(probe_all())
    with open_object(object_path(OBJECT)) as spec:
        for variant, missing in chosen:
            # A program the kernel cannot verify would fail the whole load.
            spec.programs[variant.program].autoload = not missing
            result.observations.append({"kind": "variant", "variant": variant.name,
                                        "loaded": not missing, "reason": missing})
            ctx.show(f"{variant.name} ({variant.since}+): "
                     + ("loaded" if not missing else f"not loaded: {missing}"))
        obj = spec.load()
    with obj, RingBuffer(obj.maps["events"]) as rb:
        for variant, missing in chosen:
            if not missing:
                obj.programs[variant.program].attach()
        ctx.show("attached to tracepoint sched:sched_process_exec; each loaded variant "
                 "counts the '/' in every exec'd path:")
        if ctx.trigger:
            result.triggered.append(ctx.run_trigger([TRIGGER]))
        else:
            ctx.show("try it: run programs by their full path in another terminal, "
                     "e.g. `/usr/bin/true`")
        # Each loaded variant sends one scan of the trigger's exec.
        waiting = {v.name for v, missing in chosen if not missing} if ctx.trigger else set()
        for raw in ctx.records(rb):
            event = decode(raw)
            ctx.show(f"pid {event['pid']} {event['path']}: {event['variant']} counted "
                     f"{event['slashes']} '/' in {event['len']} bytes")
            result.observations.append(event)
            if event["pid"] in result.triggered and event["variant"] in waiting:
                waiting.discard(event["variant"])
                if not waiting:
                    ctx.seen()
    loaded = [v.name for v, missing in chosen if not missing]
    scans = sum(1 for o in result.observations if o["kind"] == "scan")
    result.summary = f"{scans} scans by {', '.join(loaded)}"
    return result


LESSON = Lesson(
    key="7",
    slug="iterators",
    title="Loops: bounded, bpf_loop, bpf_for",
    teaches="three verifier-safe loops, and choosing at load time (autoload) which ones "
            "this kernel runs",
    title_zh="循环：有界循环、bpf_loop、bpf_for",
    teaches_zh="三种验证器接受的循环写法，以及在加载时（autoload）按内核能力选择程序",
    objects=(OBJECT,),
    run=run,
    needs=("tracepoint", "ringbuf"),
    guide_section="§3 Demo 7",
)
