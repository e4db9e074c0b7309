"""Lesson 8: fmod_ret fails security_file_open for one process;
bpf_override_return where the kernel has it."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from vigil.bpf_objects import object_path
from vigil.closing import Closable
from vigil.lab.lesson import LabContext, Lesson, LessonResult
from vigil.libbpf import Object, open_object

__all__ = ["ERROR", "LESSON", "ProbeChild", "errno_name", "run"]

OBJECT = "lab/08_fmod_ret.bpf.o"
ERROR = errno.EACCES  # what the target's opens fail with

# The probe child's whole program: one request per line ("open PATH",
# "start PATH" or "ping"), one answer per line (the errno, 0 when it worked).
# -I -S: no site packages, so it starts fast and opens nothing once it runs.
_CHILD = """\
import os, sys
for line in sys.stdin:
    verb, _, path = line.rstrip("\\n").partition(" ")
    try:
        if verb == "open":
            os.close(os.open(path, os.O_RDONLY))
        elif verb == "start":
            os.waitpid(os.posix_spawn(path, [path], {}), 0)
        print(0, flush=True)
    except OSError as e:
        print(e.errno, flush=True)
"""


def errno_name(err: int) -> str:
    return "ok" if err == 0 else errno.errorcode.get(err, str(err))


class ProbeChild(Closable):
    """A child process that opens files and starts programs when asked, and
    answers with the errno. It is fully started before a lesson loads its
    program, so its pid can be a load-time knob and it needs no file after."""

    __slots__ = ("_proc",)

    def __init__(self, ctx: LabContext, **popen: Any) -> None:
        self._proc = ctx.spawn([sys.executable, "-I", "-S", "-c", _CHILD],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, **popen)
        self.ask("ping", "")  # wait until it is running and listening

    @property
    def pid(self) -> int:
        return self._proc.pid

    def ask(self, verb: str, path: str | Path) -> int:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(f"{verb} {path}\n".encode())
        self._proc.stdin.flush()
        answer = self._proc.stdout.readline()
        if not answer:
            raise RuntimeError(f"probe child {self.pid} exited (status {self._proc.wait()})")
        return int(answer)

    def open(self, path: str | Path) -> int:
        return self.ask("open", path)

    def start(self, path: str | Path) -> int:
        """posix_spawn(path) and wait; the errno of the exec, 0 if it ran."""
        return self.ask("start", path)

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


def _failed(obj: Object) -> tuple[int, int]:
    """The `failed` counters: (by fmod_ret, by override_return)."""
    m = obj.maps["failed"]
    by_fmod_ret, by_override = (int.from_bytes(m.lookup(i.to_bytes(4, "little")), "little")
                                for i in (0, 1))
    return by_fmod_ret, by_override


def _override_return() -> tuple[bool, str]:
    from vigil.kernel.probe import probe_all

    report = probe_all()
    return report.has("override_return"), report.reason("override_return")


def run(ctx: LabContext) -> LessonResult:
    result = LessonResult()
    override, why = _override_return()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vigil-lab-8-")))
        note, missing = tmp / "note.txt", tmp / "missing.txt"
        note.write_text("lesson 8\n")
        target = other = None
        if ctx.trigger:
            target = stack.enter_context(ProbeChild(ctx))
            other = stack.enter_context(ProbeChild(ctx))
            result.triggered += [target.pid, other.pid]
            tgid = target.pid
        else:
            tgid = os.getppid()

        spec = stack.enter_context(open_object(object_path(OBJECT)))
        spec.set_rodata("target_tgid", tgid)
        spec.set_rodata("error", -ERROR)
        spec.programs["override_openat"].autoload = override
        obj = stack.enter_context(spec.load())

        def check(phase: str, who: str, child: ProbeChild | None, path: Path) -> None:
            if child is None:  # the lesson itself
                try:
                    os.close(os.open(path, os.O_RDONLY))
                    err = 0
                except OSError as e:
                    err = e.errno or 0
                pid = os.getpid()
            else:
                err, pid = child.open(path), child.pid
            obs: dict[str, Any] = {"phase": phase, "process": who, "pid": pid, "op": "open",
                                   "path": str(path), "errno": err, "result": errno_name(err)}
            result.observations.append(obs)
            ctx.show(f"  [{phase}] {who} (pid {pid}) open {path.name}: {obs['result']}")

        if target is not None:
            check("before", "target", target, note)
        link = obj.programs["fail_file_open"].attach()
        ctx.show(f"attached fmod_ret/security_file_open: opens by pid {tgid} fail with "
                 f"-{errno_name(ERROR)}")
        if target is not None:
            check("fmod_ret", "target", target, note)
            check("fmod_ret", "target", target, missing)
            check("fmod_ret", "other", other, note)
            check("fmod_ret", "lesson", None, note)
            ctx.seen()  # each check above waited for its answer
        else:
            comm = Path(f"/proc/{tgid}/comm").read_text().strip()
            ctx.show(f"the target is this command's parent, pid {tgid} ({comm}). If it is your "
                     "shell, run `read line < /etc/hostname` there: it fails (Permission denied); "
                     "`cat /etc/hostname` works, because cat is another process.")
        seen = 0
        while ctx.running():
            time.sleep(min(0.2, ctx.remaining()))
            count = _failed(obj)[0]
            if count != seen:
                ctx.show(f"  security_file_open failed {count} times for pid {tgid}")
                seen = count
        link.close()
        if target is not None:
            check("detached", "target", target, note)

        if override:
            link = obj.programs["override_openat"].attach()
            ctx.show("attached kprobe + bpf_override_return on openat(2)")
            if target is not None:
                check("override_return", "target", target, note)
                check("override_return", "target", target, missing)
                check("override_return", "other", other, note)
            link.close()
        else:
            ctx.show(f"override_openat not loaded: override_return unavailable ({why})")
        by_fmod_ret, by_override = _failed(obj)
        result.observations.append({"map": "failed", "fmod_ret": by_fmod_ret,
                                    "override_return": by_override,
                                    "override_loaded": override, "override_reason": why})
        ctx.show(f"map failed: fmod_ret {by_fmod_ret}, override_return {by_override}")
    result.summary = (f"fmod_ret failed {by_fmod_ret} opens of pid {tgid} with "
                      f"{errno_name(ERROR)}; override_return "
                      + (f"failed {by_override}" if override else f"not loaded: {why}"))
    return result


LESSON = Lesson(
    key="8",
    slug="fmod-ret",
    title="fmod_ret and override_return",
    teaches="make a kernel function fail for one process: fmod_ret on a security_* hook, "
            "and why bpf_override_return rarely exists",
    title_zh="fmod_ret 与 override_return",
    teaches_zh="让内核函数只对一个进程失败：security_* 钩子上的 fmod_ret，以及为何 "
               "bpf_override_return 往往不可用",
    objects=(OBJECT,),
    run=run,
    needs=("fmod_ret",),
    guide_section="§3 Demo 8",
)
