"""Lesson 10: a complete process monitor, filter -> enrich -> output."""

from __future__ import annotations

import ctypes
import os
import pwd
from ctypes import c_char, c_uint32, c_uint64
from typing import Any

from vigil.bpf_objects import object_path
from vigil.lab.lesson import LabContext, Lesson, LessonResult
from vigil.libbpf import RingBuffer, open_object

__all__ = ["LESSON", "ExecRecord", "decode", "run"]

OBJECT = "lab/10_monitor.bpf.o"
F_TRUNC_ARGS, F_ERROR_ARGS = 1, 2


class ExecRecord(ctypes.Structure):
    """struct exec_record of bpf/lab/10_monitor.bpf.c (tests compare it with the object's BTF)."""

    _fields_ = (
        ("ktime", c_uint64),
        ("cgroup_id", c_uint64),
        ("pid", c_uint32),
        ("ppid", c_uint32),
        ("uid", c_uint32),
        ("euid", c_uint32),
        ("gid", c_uint32),
        ("egid", c_uint32),
        ("args_len", c_uint32),
        ("flags", c_uint32),
        ("comm", c_char * 16),
        ("parent_comm", c_char * 16),
        ("filename", c_char * 256),
        ("args", c_char * 256),
    )


def decode(raw: bytes) -> dict[str, Any]:
    """One record as a plain dict. argv is split on the NULs that end each
    argument, within args_len: bytes past it are not part of this record."""
    r = ExecRecord.from_buffer_copy(raw[: ctypes.sizeof(ExecRecord)])
    start = ExecRecord.args.offset
    args = raw[start : start + min(r.args_len, 256)]
    # After the last NUL there is nothing, unless the argv was truncated.
    argv = args.removesuffix(b"\0").split(b"\0") if args else []
    return {
        "pid": r.pid, "ppid": r.ppid, "parent_comm": r.parent_comm.decode(errors="replace"),
        "comm": r.comm.decode(errors="replace"),
        "filename": r.filename.decode(errors="replace"),
        "argv": [a.decode(errors="replace") for a in argv],
        "args_truncated": bool(r.flags & F_TRUNC_ARGS),
        "uid": r.uid, "euid": r.euid, "gid": r.gid, "egid": r.egid,
        "cgroup_id": r.cgroup_id, "ktime": r.ktime,
    }


def _nobody() -> int:
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


def _line(e: dict[str, Any]) -> str:
    return (f"  exec {' '.join([e['filename'], *e['argv'][1:]])}: pid {e['pid']} ({e['comm']}), "
            f"uid {e['uid']} euid {e['euid']}, parent {e['ppid']} ({e['parent_comm']}), "
            f"cgroup {e['cgroup_id']}")


def run(ctx: LabContext) -> LessonResult:
    result = LessonResult()
    # With its own trigger the lesson watches uid "nobody" and starts programs
    # both as nobody (seen) and as itself (filtered out in the kernel).
    # Without, it watches whoever ran sudo, or root.
    uid = _nobody() if ctx.trigger else int(os.environ.get("SUDO_UID", os.getuid()))
    with open_object(object_path(OBJECT)) as spec:
        spec.set_rodata("filter_uid", 1)
        spec.set_rodata("uid", uid)
        obj = spec.load()
    with obj, RingBuffer(obj.maps["records"]) as rb:
        obj.programs["monitor_exec"].attach()
        ctx.show(f"attached tp/sched/sched_process_exec; filter: real uid {uid}")
        if ctx.trigger:
            as_uid: dict[str, Any] = {"user": uid, "group": uid, "extra_groups": []}
            # A long argv first, then a short one: the short record must not
            # show the long one's tail.
            result.triggered.append(ctx.run_trigger(
                ["/bin/echo", "vigil-lab-10", "a-long-argument-" + "x" * 64], **as_uid))
            result.triggered.append(ctx.run_trigger(["/bin/true", "vigil-lab-10"], **as_uid))
            result.triggered.append(ctx.run_trigger(["/bin/true", "vigil-lab-10", "not-me"]))
            ctx.show(f"started pids {result.triggered}: the first two as uid {uid}, "
                     "the third as this process's uid (filtered out)")
        else:
            ctx.show(f"run programs as uid {uid} (e.g. in your own shell) to see them")
        # The first two triggers pass the filter; the third never arrives.
        waiting = set(result.triggered[:2])
        for raw in ctx.records(rb):
            event = decode(raw)
            result.observations.append(event)
            ctx.show(_line(event))
            if event["pid"] in waiting:
                waiting.discard(event["pid"])
                if not waiting:
                    ctx.seen()
        lost = int.from_bytes(obj.maps["lost"].lookup(bytes(4)), "little")
    result.summary = f"{len(result.observations)} execs by uid {uid}, {lost} lost"
    return result


LESSON = Lesson(
    key="10",
    slug="monitor",
    title="A complete process monitor",
    teaches="filter in the kernel first, enrich (parent, creds, cgroup, argv), "
            "output zeroed records through a ring buffer",
    title_zh="完整的进程监控系统",
    teaches_zh="先在内核中过滤，再丰富信息（父进程、凭证、cgroup、argv），"
               "最后通过 ring buffer 输出清零的记录",
    objects=(OBJECT,),
    run=run,
    needs=("tracepoint", "ringbuf"),
    guide_section="§3 Demo 10",
)
