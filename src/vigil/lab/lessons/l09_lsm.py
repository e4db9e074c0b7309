"""Lesson 9: BPF LSM programs deny one file's open and exec from one directory."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile
from contextlib import nullcontext
from ctypes import c_char, c_uint32, c_uint64
from pathlib import Path
from typing import Any

from vigil.bpf_objects import object_path
from vigil.lab.lesson import LabContext, Lesson, LessonResult
from vigil.lab.lessons.l08_fmod_ret import ProbeChild, errno_name
from vigil.libbpf import Object, RingBuffer, open_object

__all__ = ["LESSON", "Denial", "run"]

OBJECT = "lab/09_lsm.bpf.o"
DENY_OPEN, DENY_EXEC_INSIDE = 1, 2  # the rules a mark carries
HOOKS = {DENY_OPEN: "file_open", DENY_EXEC_INSIDE: "bprm_check_security"}


class Denial(ctypes.Structure):
    """struct denial of bpf/lab/09_lsm.bpf.c (tests compare it with the object's BTF)."""

    _fields_ = (
        ("rule", c_uint32),
        ("tgid", c_uint32),
        ("ino", c_uint64),
        ("comm", c_char * 16),
    )


def _mark(obj: Object, path: Path, rule: int) -> None:
    """Tag path's inode with a rule: inode storage maps take an open fd as key."""
    fd = os.open(path, os.O_RDONLY)
    try:
        obj.maps["marks"].update(fd.to_bytes(4, "little"), rule.to_bytes(4, "little"))
    finally:
        os.close(fd)


def _denial(raw: bytes) -> dict[str, Any]:
    d = Denial.from_buffer_copy(raw[: ctypes.sizeof(Denial)])
    return {"denied": HOOKS.get(d.rule, str(d.rule)), "pid": d.tgid, "ino": d.ino,
            "comm": d.comm.decode(errors="replace")}


def run(ctx: LabContext) -> LessonResult:
    result = LessonResult()
    with tempfile.TemporaryDirectory(prefix="vigil-lab-9-") as tmpname:
        tmp = Path(tmpname)
        secret, public = tmp / "secret.txt", tmp / "public.txt"
        secret.write_text("no one may open this while lesson 9 runs\n")
        public.write_text("anyone may open this\n")
        blocked, allowed = tmp / "blocked", tmp / "allowed"
        blocked.mkdir()
        allowed.mkdir()
        program = blocked / "true"
        shutil.copy2("/bin/true", program)
        shutil.copy2("/bin/true", allowed / "true")
        (tmp / "link").symlink_to(program)
        os.link(program, allowed / "hardlink")

        # The child works in `blocked`, so its "./true" is the blocked program.
        child_cm = ProbeChild(ctx, cwd=blocked) if ctx.trigger else nullcontext(None)
        with child_cm as child:

            def check(phase: str, op: str, path: str | Path, how: str) -> None:
                assert child is not None
                err = child.open(path) if op == "open" else child.start(path)
                result.observations.append({"phase": phase, "op": op, "path": str(path),
                                            "how": how, "pid": child.pid, "errno": err,
                                            "result": errno_name(err)})
                ctx.show(f"  [{phase}] {op} {path} ({how}): {errno_name(err)}")

            if child is not None:
                result.triggered.append(child.pid)
                check("before", "open", secret, "the file")
                check("before", "exec", program, "absolute path")

            with open_object(object_path(OBJECT)) as spec:
                obj = spec.load()
            with obj, RingBuffer(obj.maps["denials"]) as rb:
                _mark(obj, secret, DENY_OPEN)
                _mark(obj, blocked, DENY_EXEC_INSIDE)
                obj.programs["deny_open"].attach()
                obj.programs["deny_exec"].attach()
                ctx.show(f"attached lsm/file_open (denies {secret}) and "
                         f"lsm/bprm_check_security (denies programs in {blocked}/)")
                if child is None:
                    ctx.show(f"try it in another terminal: `cat {secret}` and `{program}` fail "
                             f"with Permission denied; `cat {public}` and `{allowed}/true` work")
                else:
                    check("attached", "open", secret, "the file")
                    check("attached", "open", public, "another file, same directory")
                    check("attached", "exec", program, "absolute path")
                    check("attached", "exec", "./true", "relative path")
                    check("attached", "exec", f"{blocked}/../blocked/true", "path with ..")
                    check("attached", "exec", tmp / "link", "symlink from elsewhere")
                    check("attached", "exec", allowed / "true", "a copy elsewhere")
                    check("attached", "exec", allowed / "hardlink", "hard link elsewhere")
                    check("attached", "exec", "/bin/true", "a system program")
                # One denial record per check the programs refused.
                waiting = sum(1 for o in result.observations
                              if o.get("phase") == "attached" and o["errno"] == errno.EPERM)
                if child is not None and not waiting:
                    ctx.seen()
                for raw in ctx.records(rb):
                    obs = _denial(raw)
                    result.observations.append(obs)
                    ctx.show(f"  denied {obs['denied']} to pid {obs['pid']} "
                             f"({obs['comm']}), inode {obs['ino']}")
                    waiting -= 1
                    if child is not None and not waiting:
                        ctx.seen()
            # Closing the object detached both programs: everything works again.
            if child is not None:
                check("detached", "open", secret, "the file")
                check("detached", "exec", program, "absolute path")
    denials = [o for o in result.observations if "denied" in o]
    result.summary = f"{len(denials)} denials: " + (
        ", ".join(f"{o['denied']} to pid {o['pid']}" for o in denials) or "none")
    return result


LESSON = Lesson(
    key="9",
    slug="lsm",
    title="LSM hooks",
    teaches="BPF LSM programs decide: deny one file's open and exec from one directory, "
            "by inode, not by path string",
    title_zh="LSM 钩子",
    teaches_zh="BPF LSM 程序做出裁决：按 inode 而非路径字符串，"
               "拒绝打开某个文件、拒绝从某个目录执行",
    objects=(OBJECT,),
    run=run,
    needs=("lsm", "ringbuf"),
    guide_section="§3 Demo 9",
)
