"""Pitfall 3: a loop without a provable bound is refused; bound it or iterate."""

from __future__ import annotations

import ctypes
import re
import sys
import time

from vigil.lab.lesson import LabContext, Lesson, LessonResult
from vigil.lab.loading import load_only
from vigil.lab.triggers import go, reap, start_waiting
from vigil.libbpf import LoadError

OBJECT = "lab/p3_loop.bpf.o"
CHUNK = 256  # bytes of each write the programs look at (CHUNK in the C)
SHORT = b"alpha\nbeta\ngamma\n"
LONG = b"".join(b"%09d\n" % i for i in range(100))  # 1000 bytes, 100 lines
WRITES = (SHORT, LONG)
NL = b"\n"
# Why the verifier gave up, across kernels: 5.3+ walk the loop until a limit;
# older ones refuse any backward jump.
REFUSAL = re.compile(r"too complex|too large|infinite loop|back-edge|unbounded", re.IGNORECASE)

# Says it is ready, waits for the go, then writes its arguments to /dev/null.
TRIGGER = """
import os, sys
print("ready", flush=True)
sys.stdin.readline()
fd = os.open("/dev/null", os.O_WRONLY)
for text in sys.argv[1:]:
    os.write(fd, text.encode())
os.close(fd)
"""


class Tally(ctypes.Structure):
    """struct tally in bpf/lab/p3_loop.bpf.c (size checked against the map)."""

    _fields_ = (
        ("writes", ctypes.c_uint64),
        ("bytes", ctypes.c_uint64),
        ("newlines", ctypes.c_uint64),
        ("cut", ctypes.c_uint64),
    )


def expected_tally(writes: tuple[bytes, ...] = WRITES, chunk: int = CHUNK) -> dict[str, int]:
    """What a program that looks at the first `chunk` bytes of each write counts."""
    return {
        "writes": len(writes),
        "bytes": sum(min(len(w), chunk) for w in writes),
        "newlines": sum(w[:chunk].count(b"\n") for w in writes),
        "cut": sum(1 for w in writes if len(w) > chunk),
    }


def refusal_lines(log: str, context: int = 2) -> list[str]:
    """The line saying why, the `context` lines before it (where the walk
    stopped: the loop counter's value) and the verifier's totals."""
    lines = log.rstrip("\n").splitlines()
    for n, line in enumerate(lines):
        if REFUSAL.search(line):
            picked = lines[max(0, n - context) : n + 1]
            picked += [x for x in lines[n + 1 :] if x.startswith("processed ")][:1]
            return picked
    return lines[-context - 1 :]


def count_lines(ctx: LabContext, program: str, what: str, share: float,
                result: LessonResult) -> None:
    """Load one program, let the trigger write, show what it counted."""
    ctx.show(f"{program}: {what}")
    argv = [sys.executable, "-c", TRIGGER, *(w.decode() for w in WRITES)]
    child = start_waiting(ctx, argv) if ctx.trigger else None
    try:
        started = time.monotonic()
        try:
            obj = load_only(OBJECT, program, target_tgid=child.pid if child else 0)
        except LoadError as e:
            lines = refusal_lines(e.verifier_log)
            ctx.show(f"  refused by the verifier ({e.errno}):")
            for line in lines:
                ctx.show(f"    {line}")
            result.observations.append({"kind": "load", "program": program, "loaded": False,
                                        "errno": e.errno, "log": lines,
                                        "seconds": round(time.monotonic() - started, 2)})
            return
        with obj:
            result.observations.append({"kind": "load", "program": program, "loaded": True,
                                        "errno": 0, "log": [], "seconds": 0.0})
            obj.programs[program].attach()
            if child is not None:
                result.triggered.append(child.pid)
                ctx.show(f"  loaded; pid {child.pid} writes " + ", then ".join(
                    f"{len(w)} bytes ({w.count(NL)} lines)" for w in WRITES) + " to /dev/null")
                go(child)
            else:
                ctx.show("  loaded; counting the lines every process writes")
                ctx.stop.wait(share)
            tally = obj.maps["tally"].typed(ctypes.c_uint32, Tally)[0]
            seen = {name: int(getattr(tally, name)) for name, _ in Tally._fields_}
            ctx.show(f"  {seen['writes']} writes, {seen['newlines']} newlines in the first "
                     f"{CHUNK} bytes of each ({seen['bytes']} bytes looked at; "
                     f"{seen['cut']} of the writes were longer)")
            result.observations.append({"kind": "tally", "program": program, **seen})
    finally:
        if child is not None:
            reap(child)


def run(ctx: LabContext) -> LessonResult:
    result = LessonResult()
    phases = (
        ("lines_unbounded", "loops to the write's byte count"),
        ("lines_bounded", f"copies up to {CHUNK} bytes into a heap, loops to the constant {CHUNK}"),
        ("lines_iter", "the same with an open-coded iterator (bpf_for, kernel 6.4+)"),
    )
    for n, (program, what) in enumerate(phases):
        count_lines(ctx, program, what, ctx.remaining() / (len(phases) - n), result)
    refused = [o["program"] for o in result.observations
               if o["kind"] == "load" and not o["loaded"]]
    counted = {o["program"]: o["newlines"] for o in result.observations if o["kind"] == "tally"}
    result.summary = (f"refused: {', '.join(refused) or 'none'}; newlines counted: "
                      + ", ".join(f"{p} {n}" for p, n in counted.items()))
    return result


LESSON = Lesson(
    key="p3",
    slug="loop",
    title="Pitfall: a loop the verifier cannot bound",
    teaches="the verifier walks loops; give it a constant bound or an iterator (bpf_for, bpf_loop)",
    title_zh="陷阱：验证器无法证明有界的循环",
    teaches_zh="验证器逐次走完循环；给它常量上界，或用迭代器（bpf_for、bpf_loop）",
    objects=(OBJECT,),
    run=run,
    needs=("tracepoint",),
    guide_section="§6.1, §5.1",
)
