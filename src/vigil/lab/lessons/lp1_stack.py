"""Pitfall 1: the 512-byte stack is per call chain; the per-CPU heap fixes it."""

from __future__ import annotations

import ctypes
import re
import struct
from typing import Any

from vigil.lab.lesson import LabContext, Lesson, LessonResult
from vigil.lab.loading import load_only
from vigil.libbpf import LoadError

OBJECT = "lab/p1_stack.bpf.o"
# argv[1] of the trigger: longer than a 256-byte buffer, shorter than 320.
ARG = "x" * 300
STACK_LINE = re.compile(r"stack|too large|too deep", re.IGNORECASE)


class Seen(ctypes.Structure):
    """struct seen in bpf/lab/p1_stack.bpf.c (size checked against the map)."""

    _fields_ = (
        ("file_len", ctypes.c_int32),
        ("arg_len", ctypes.c_int32),
        ("stage", ctypes.c_uint32),
        ("file", ctypes.c_char * 32),
        ("arg", ctypes.c_char * 32),
    )


def stack_lines(log: str) -> list[str]:
    """The verifier log's lines about the stack (the reason for the refusal)."""
    return [line for line in log.splitlines() if STACK_LINE.search(line)]


def try_load(ctx: LabContext, program: str, what: str) -> dict[str, Any]:
    ctx.show(f"{program}: {what}")
    try:
        load_only(OBJECT, program).close()
    except LoadError as e:
        lines = stack_lines(e.verifier_log)
        ctx.show(f"  refused by the verifier ({e.errno}):")
        for line in lines:
            ctx.show(f"    {line}")
        return {"kind": "load", "program": program, "loaded": False,
                "errno": e.errno, "log": lines}
    ctx.show("  loaded: this kernel gives the program a private stack per function "
             "(Linux 6.13+ on x86-64, programs without tail calls, where the JIT has them)")
    return {"kind": "load", "program": program, "loaded": True, "errno": 0, "log": []}


def show_seen(ctx: LabContext, tgid: int, s: Seen) -> dict[str, Any]:
    file, arg = s.file.decode(errors="replace"), s.arg.decode(errors="replace")
    argv1 = (f"argv[1] {arg[:24]!r}... ({s.arg_len} bytes)" if s.arg_len > 0
             else f"no argv[1] (read returned {s.arg_len})")
    ctx.show(f"  pid {tgid}: execve {file!r} ({s.file_len} bytes with the NUL), "
             f"{argv1}, recorded by stage {s.stage}")
    return {"kind": "exec", "pid": tgid, "file": file, "file_len": s.file_len,
            "arg": arg, "arg_len": s.arg_len, "stage": s.stage}


def run(ctx: LabContext) -> LessonResult:
    result = LessonResult()
    result.observations.append(try_load(
        ctx, "stack_chain_tail",
        "320 bytes on the stack + a call to a function with 320 more, and a tail call"))
    result.observations.append(try_load(
        ctx, "stack_chain", "the same without the tail call"))

    ctx.show("heap_chain_tail: the same buffers in a per-CPU array heap, "
             "tail-calling heap_report")
    with load_only(OBJECT, "heap_chain_tail", "heap_report") as obj:
        result.observations.append({"kind": "load", "program": "heap_chain_tail",
                                    "loaded": True, "errno": 0, "log": []})
        stage = struct.pack("I", obj.programs["heap_report"].fd)
        obj.maps["next_stage"].update(struct.pack("I", 0), stage)
        seen = obj.maps["seen"].typed(ctypes.c_uint32, Seen)
        obj.programs["heap_chain_tail"].attach()
        ctx.show("  loaded and attached to syscalls:sys_enter_execve; every execve "
                 "is recorded:")
        if ctx.trigger:
            result.triggered.append(ctx.run_trigger(["/bin/echo", ARG]))
        shown: set[int] = set()
        # Read at least once, however long loading took: the trigger has run.
        while True:
            for key in list(seen.keys()):
                tgid = int(key.value)
                if tgid in shown:
                    continue
                try:
                    value = seen[key]
                except KeyError:
                    continue
                shown.add(tgid)
                result.observations.append(show_seen(ctx, tgid, value))
                if tgid in result.triggered:
                    ctx.seen()
            if not ctx.running():
                break
            ctx.stop.wait(min(0.2, ctx.remaining()))
    execs = sum(1 for o in result.observations if o["kind"] == "exec")
    refused = [o["program"] for o in result.observations
               if o["kind"] == "load" and not o["loaded"]]
    result.summary = (f"refused: {', '.join(refused) or 'none'}; "
                      f"the heap version loaded and recorded {execs} execve calls")
    return result


LESSON = Lesson(
    key="p1",
    slug="stack",
    title="Pitfall: over 512 bytes of stack",
    teaches="the verifier sums the stack of a call chain; large buffers go in a per-CPU heap",
    title_zh="陷阱：栈超过 512 字节",
    teaches_zh="验证器按调用链累计栈深度；大缓冲区放进 per-CPU array「堆」",
    objects=(OBJECT,),
    run=run,
    needs=("tracepoint", "prog_array"),
    guide_section="§6.2",
)
