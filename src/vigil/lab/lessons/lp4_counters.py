"""Pitfall 4: a plain increment of a shared counter loses updates."""

from __future__ import annotations

import ctypes
import os
import struct
import subprocess
import sys
from typing import Any

from vigil.lab.lesson import LabContext, Lesson, LessonResult
from vigil.lab.loading import load_only
from vigil.lab.triggers import go, reap, start_waiting
from vigil.libbpf import LoadError, Object

OBJECT = "lab/p4_counters.bpf.o"
CALLS = 200_000  # getppid calls per worker; about 0.1 s each
SHARED = ("plain", "wide", "atomic")  # index order of the `shared` array map

# Pins itself to a CPU, says it is ready, waits for the go, calls getppid n times.
WORKER = """
import os, sys
os.sched_setaffinity(0, {int(sys.argv[1])})
n = int(sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()
call = os.getppid
for _ in range(n):
    call()
"""


def worker_cpus() -> tuple[int, int]:
    """Two different CPUs when this process may use two; else the one twice."""
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) > 1 else (cpus[0], cpus[0])


def lost(counts: dict[str, int], expected: int) -> dict[str, int]:
    return {name: expected - counts[name] for name in (*SHARED, "percpu")}


def try_spin_lock(ctx: LabContext) -> dict[str, Any]:
    ctx.show("count_locked: the guide's bpf_spin_lock around the increment")
    try:
        load_only(OBJECT, "count_locked").close()
    except LoadError as e:
        lines = [x for x in e.verifier_log.splitlines() if "spin_lock" in x]
        ctx.show(f"  refused by the verifier ({e.errno}): {'; '.join(lines)}")
        return {"kind": "load", "program": "count_locked", "loaded": False,
                "errno": e.errno, "log": lines}
    ctx.show("  loaded: this kernel lets this program type take a bpf_spin_lock")
    return {"kind": "load", "program": "count_locked", "loaded": True, "errno": 0, "log": []}


def start_workers(ctx: LabContext, obj: Object) -> list[subprocess.Popen[bytes]]:
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for cpu in worker_cpus():
            child = start_waiting(ctx, [sys.executable, "-c", WORKER, str(cpu), str(CALLS)])
            workers.append(child)
            obj.maps["workers"].update(struct.pack("I", child.pid), b"\x01")
    except BaseException:
        reap(*workers)  # a worker that started must not outlive a failed start
        raise
    return workers


def read_counts(obj: Object) -> dict[str, int]:
    shared = obj.maps["shared"].typed(ctypes.c_uint32, ctypes.c_uint64)
    percpu = obj.maps["percpu"].typed(ctypes.c_uint32, ctypes.c_uint64)
    counts = {name: int(shared[i].value) for i, name in enumerate(SHARED)}
    counts["percpu"] = percpu.sum_percpu(0)
    return counts


def run(ctx: LabContext) -> LessonResult:
    result = LessonResult()
    result.observations.append(try_spin_lock(ctx))

    ctx.show("count_calls: counts getppid calls four ways (plain, wide, atomic, per-CPU)")
    workers: list[subprocess.Popen[bytes]] = []
    with load_only(OBJECT, "count_calls", count_all=int(not ctx.trigger)) as obj:
        try:
            if ctx.trigger:
                workers = start_workers(ctx, obj)
                result.triggered.extend(w.pid for w in workers)
            obj.programs["count_calls"].attach()
            if workers:
                cpus = ", ".join(str(c) for c in worker_cpus())
                ctx.show(f"  pids {', '.join(str(w.pid) for w in workers)} on CPUs {cpus} "
                         f"call getppid {CALLS} times each, at the same time")
                go(*workers)
            else:
                ctx.show("  counting every getppid call on this machine; in two other "
                         "terminals at once run: python3 -c 'import os; "
                         "[os.getppid() for _ in range(10**6)]'")
                ctx.stop.wait(ctx.remaining())
            counts = read_counts(obj)
        finally:
            reap(*workers)
    expected = CALLS * len(workers) if workers else counts["atomic"]
    missing = lost(counts, expected)
    for name in (*SHARED, "percpu"):
        ctx.show(f"  {name:<7} {counts[name]:>9}   lost {missing[name]}")
    result.observations.append({"kind": "counts", "expected": expected,
                                "cpus": list(worker_cpus()), **counts})
    result.summary = (f"{expected} calls: plain lost {missing['plain']}, wide lost "
                      f"{missing['wide']}, atomic lost {missing['atomic']}, "
                      f"per-CPU lost {missing['percpu']}")
    return result


LESSON = Lesson(
    key="p4",
    slug="counters",
    title="Pitfall: a shared counter that loses updates",
    teaches="*count += 1 races between CPUs: use __sync_fetch_and_add or a per-CPU counter",
    title_zh="陷阱：丢失更新的共享计数器",
    teaches_zh="*count += 1 在多 CPU 间竞争：用 __sync_fetch_and_add 或 per-CPU 计数器",
    objects=(OBJECT,),
    run=run,
    needs=("tracepoint",),
    guide_section="§6.3",
)
