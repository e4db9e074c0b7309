"""Lesson 2: hash, array and per-CPU array maps, and counting from two CPUs."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, MutableMapping
from ctypes import c_uint32, c_uint64
from pathlib import Path
from typing import Any

from vigil.bpf_objects import object_path
from vigil.lab.lesson import LabContext, Lesson, LessonResult
from vigil.libbpf import Map, open_object

SLOT_SHIFT = 16  # count_exec's slot: bpf_ktime_get_ns() >> 16, about 65 us
HAMMER_SECONDS = 1.0  # how long each trigger child calls execve, at least
MIN_CALLS = 2000  # and how many times, at least, however slow the machine
MAX_CHILDREN = 4

# One trigger child per CPU: pinned, started together, each calling execve on
# a path that does not exist as fast as it can. The call fails at once, but
# sys_enter_execve has already fired. It prints how many calls it made.
CHILD = """
import os, sys, time
cpu, seconds, missing = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
least = int(sys.argv[4])
os.sched_setaffinity(0, {cpu})
sys.stdin.readline()
calls, end = 0, time.monotonic() + seconds
while time.monotonic() < end or calls < least:
    for _ in range(500):
        try:
            os.execv(missing, [missing])
        except OSError:
            pass
    calls += 500
print(calls, flush=True)
"""


def drain(slots: MutableMapping[c_uint64, c_uint64], before: int | None) -> int:
    """Remove the slots older than `before` (all if None); return their sum.

    The program only writes the current slot, so older ones are final.
    """
    done = [key for key in slots if before is None or key.value < before]
    return sum(int(slots.pop(key).value) for key in done)


class _Counts:
    """The lesson's maps, read the way a person would check them."""

    def __init__(self, maps: Mapping[str, Map]) -> None:
        self.exec_count = maps["exec_count"].typed(c_uint32, c_uint64)
        self.guide_slots = maps["guide_slots"].typed(c_uint64, c_uint64)
        self.fixed_slots = maps["fixed_slots"].typed(c_uint64, c_uint64)
        self.shared = maps["shared_total"].typed(c_uint32, c_uint64)
        self.percpu = maps["percpu_total"].typed(c_uint32, c_uint64)
        self.guide = 0  # slots drained so far
        self.fixed = 0

    def update(self, final: bool) -> dict[str, Any]:
        before = None if final else (time.monotonic_ns() >> SLOT_SHIFT) - 4
        self.guide += drain(self.guide_slots, before)
        self.fixed += drain(self.fixed_slots, before)
        per_cpu = [int(v.value) for v in self.percpu.get_percpu(0)]
        return {
            "kind": "totals",
            # Slots still in the maps count too, so the figures are current.
            "guide": self.guide + sum(int(v.value) for v in self.guide_slots.values()),
            "fixed": self.fixed + sum(int(v.value) for v in self.fixed_slots.values()),
            "shared": int(self.shared[0].value),
            "percpu": per_cpu,
            "percpu_sum": sum(per_cpu),
        }

    def per_pid(self) -> dict[int, int]:
        return {int(k.value): int(v.value) for k, v in self.exec_count.items()}


def _totals_line(t: dict[str, Any]) -> str:
    cpus = "+".join(str(n) for n in t["percpu"])
    return (f"  guide's hash {t['guide']} · fixed hash {t['fixed']} · "
            f"shared array {t['shared']} · per-CPU array {cpus} = {t['percpu_sum']}")


def _start_children(missing: Path) -> list[subprocess.Popen[str]]:
    cpus = sorted(os.sched_getaffinity(0))[:MAX_CHILDREN]
    return [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(cpu), str(HAMMER_SECONDS), str(missing),
             str(MIN_CALLS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for cpu in cpus
    ]


def run(ctx: LabContext) -> LessonResult:
    result = LessonResult()
    with open_object(object_path("lab/02_maps.bpf.o")) as spec:
        if ctx.trigger:
            # Count only our own children, so the totals can be checked.
            spec.set_rodata("parent_tgid", os.getpid())
        obj = spec.load()
    with obj, tempfile.TemporaryDirectory(prefix="vigil-lab-2-") as tmp:
        counts = _Counts(obj.maps)
        link = obj.programs["count_exec"].attach()
        children: list[subprocess.Popen[str]] = []
        if ctx.trigger:
            children = _start_children(Path(tmp) / "no-such-program")
            result.triggered = [child.pid for child in children]
            ctx.show(f"attached to syscalls:sys_enter_execve; {len(children)} children, one "
                     f"per CPU, call execve on a missing file for {HAMMER_SECONDS:g} s:")
            for child in children:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
        else:
            ctx.show("attached to syscalls:sys_enter_execve; every execve on this machine "
                     "is counted five ways:")
        while ctx.running():
            if children and all(child.poll() is not None for child in children):
                break
            ctx.stop.wait(min(0.5, ctx.remaining()))
            pids = counts.per_pid()
            ctx.show("exec_count (tgid -> calls): " + (", ".join(
                f"{pid}: {n}" for pid, n in sorted(pids.items(), key=lambda i: -i[1])[:6])
                or "empty"))
            ctx.show(_totals_line(counts.update(final=False)))
        made = []
        for child in children:
            out, _ = child.communicate(timeout=HAMMER_SECONDS + 30)
            made.append(int(out.strip() or 0))
        # Then detach: after this nothing changes, so the final figures are exact.
        link.close()
        totals = counts.update(final=True)
        for pid, n in sorted(counts.per_pid().items()):
            result.observations.append({"kind": "pid", "pid": pid, "calls": n})
        # Each child's count plus the execve that started it.
        totals["expected"] = sum(n + 1 for n in made) if children else None
        result.observations.append(totals)
    ctx.show("final:")
    ctx.show(_totals_line(totals))
    exact = {totals["fixed"], totals["shared"], totals["percpu_sum"]}
    counted = (f"{totals['fixed']} execve calls counted by the fixed hash, the shared array "
               "and the per-CPU array" if len(exact) == 1 else
               f"the exact counters disagree: fixed hash {totals['fixed']}, shared array "
               f"{totals['shared']}, per-CPU array {totals['percpu_sum']}")
    calls_made = f" ({totals['expected']} made)" if children else ""
    lost = totals["fixed"] - totals["guide"]
    result.summary = (f"{counted}{calls_made}; the guide's lookup-then-insert lost {lost}"
                      + ("" if lost or not children else " this time (run it again)"))
    return result


LESSON = Lesson(
    key="2",
    slug="maps",
    title="Maps: hash, array, per-CPU array",
    teaches="the three map types, reading them from user space, and counting "
            "from two CPUs without losing updates",
    title_zh="BPF Map 基础：hash、array、per-CPU array",
    teaches_zh="三种 map 类型、从用户态读取 map，以及多 CPU 并发计数不丢失更新",
    objects=("lab/02_maps.bpf.o",),
    run=run,
    needs=("tracepoint",),
    guide_section="§3 Demo 2",
)
