"""Lesson 1: a tracepoint program and bpf_printk."""

from __future__ import annotations

from vigil.bpf_objects import object_path
from vigil.lab.lesson import LabContext, Lesson, LessonResult
from vigil.lab.tracepipe import TracePipe
from vigil.libbpf import open_object

PREFIX = "vigil-lab hello: "


def run(ctx: LabContext) -> LessonResult:
    result = LessonResult()
    with open_object(object_path("lab/01_hello.bpf.o")) as spec:
        obj = spec.load()
    with obj, TracePipe() as pipe:
        obj.programs["hello_execve"].attach()
        ctx.show("attached to tracepoint syscalls:sys_enter_execve; "
                 "every execve on this machine now prints a line:")
        if ctx.trigger:
            result.triggered.append(ctx.run_trigger(["/bin/true"]))
        while ctx.running():
            for line in pipe.read(timeout=min(0.2, ctx.remaining())):
                if not line.msg.startswith(PREFIX):
                    continue
                ctx.show(line.raw.strip())
                result.observations.append({"pid": line.pid, "comm": line.comm,
                                            "msg": line.msg[len(PREFIX):]})
                if line.pid in result.triggered:
                    ctx.seen()  # the trigger is single-threaded: its pid printed
    result.summary = f"{len(result.observations)} execve calls printed"
    return result


LESSON = Lesson(
    key="1",
    slug="hello",
    title="Hello, tracepoint",
    teaches="program structure: SEC() names the hook, the licence, bpf_printk and trace_pipe",
    title_zh="Hello World：tracepoint",
    teaches_zh="程序结构：SEC() 指定挂载点、license 声明、bpf_printk 与 trace_pipe",
    objects=("lab/01_hello.bpf.o",),
    run=run,
    needs=("tracepoint",),
    guide_section="§3 Demo 1",
)
