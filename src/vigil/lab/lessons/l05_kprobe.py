"""Lesson 5: a kprobe/kretprobe pair on do_unlinkat, entry argument and return value
in one event."""

from __future__ import annotations

import ctypes
import errno
import shutil
import tempfile
from pathlib import Path
from typing import Any

from vigil.bpf_objects import object_path
from vigil.lab.lesson import LabContext, Lesson, LessonResult
from vigil.libbpf import RingBuffer, open_object

OBJECT = "lab/05_kprobe.bpf.o"
PATH_MAX_LEN = 256


class UnlinkEvent(ctypes.Structure):
    """struct unlink_event { __u32 pid; __s32 ret; char comm[16]; char path[256]; };

    (bpf/lab/05_kprobe.bpf.c; tests/unit/test_lab_5_kprobe.py checks it against
    the object's BTF)"""

    _fields_ = (
        ("pid", ctypes.c_uint32),
        ("ret", ctypes.c_int32),
        ("comm", ctypes.c_char * 16),
        ("path", ctypes.c_char * PATH_MAX_LEN),
    )


def describe_return(ret: int) -> str:
    """0 -> '0'; -2 -> '-2 (ENOENT)'."""
    if ret < 0 and -ret in errno.errorcode:
        return f"{ret} ({errno.errorcode[-ret]})"
    return str(ret)


def decode(raw: bytes) -> dict[str, Any]:
    e = UnlinkEvent.from_buffer_copy(raw[: ctypes.sizeof(UnlinkEvent)])
    return {
        "pid": e.pid,
        "comm": e.comm.decode("utf-8", "replace"),
        "path": e.path.decode("utf-8", "replace"),
        "ret": e.ret,
        "errno": errno.errorcode.get(-e.ret, "") if e.ret < 0 else "",
    }


def _trigger(ctx: LabContext, result: LessonResult, scratch: Path) -> None:
    """unlink(1) calls unlink(2) once: first on a file (0), then on it again (-ENOENT)."""
    target = scratch / "doomed"
    target.write_text("bye\n")
    unlink = shutil.which("unlink") or "/usr/bin/unlink"
    for _ in range(2):
        result.triggered.append(ctx.run_trigger([unlink, str(target)]))


def run(ctx: LabContext) -> LessonResult:
    result = LessonResult()
    with open_object(object_path(OBJECT)) as spec:
        obj = spec.load()
    with obj, RingBuffer(obj.maps["events"]) as rb, \
            tempfile.TemporaryDirectory(prefix="vigil-lab-5-") as scratch:
        obj.programs["unlink_entry"].attach()
        obj.programs["unlink_exit"].attach()
        ctx.show("attached kprobe and kretprobe to do_unlinkat; every unlink on this "
                 "machine now prints its path and return value:")
        if ctx.trigger:
            _trigger(ctx, result, Path(scratch))
        else:
            ctx.show("try it: in another terminal, `touch /tmp/x; unlink /tmp/x; unlink /tmp/x`")
        waiting = set(result.triggered)
        for raw in ctx.records(rb):
            event = decode(raw)
            ctx.show(f"pid {event['pid']} ({event['comm']}): do_unlinkat(\"{event['path']}\")"
                     f" = {describe_return(event['ret'])}")
            result.observations.append(event)
            if event["pid"] in waiting:
                waiting.discard(event["pid"])
                if not waiting:
                    ctx.seen()
    failed = sum(1 for o in result.observations if o["ret"] < 0)
    result.summary = (f"{len(result.observations)} do_unlinkat calls seen, "
                      f"{failed} of them failed with a negative errno")
    return result


LESSON = Lesson(
    key="5",
    slug="kprobe",
    title="kprobe and kretprobe",
    teaches="a kprobe/kretprobe pair: arguments at entry, kept in a map keyed by "
            "pid_tgid, joined with the signed return value",
    title_zh="kprobe 与 kretprobe",
    teaches_zh="kprobe/kretprobe 配对：入口读参数，按 pid_tgid 存入 map，出口与有符号返回值合并",
    objects=(OBJECT,),
    run=run,
    needs=("kprobe", "kretprobe", "ringbuf"),
    guide_section="§3 Demo 5",
)
