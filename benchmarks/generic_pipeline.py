#!/usr/bin/env python3
"""Generic-event pipeline benchmark: the agent's Python cost per policy event,
without a kernel.

A measurement, not a test (see docs/benchmarks.md). It builds N generic
tracepoint records byte for byte, as bpf/generic/tracepoint.bpf.c writes them,
for one process that has a parent in the process cache, and hands them to
the agent in ring-buffer-sized batches: decode, process lookup, event,
filter, Tetragon JSON, writer (an export file in a temporary directory, or
/dev/null). It prints the CPU time per event, so a change to any of those
steps shows up here at once, steadier than in the syscall storm (which adds
the kernel, the ring buffer's callbacks and the machine's other load).

    .venv/bin/python benchmarks/generic_pipeline.py                 # no arguments
    .venv/bin/python benchmarks/generic_pipeline.py --args int,str  # with arguments
    .venv/bin/python benchmarks/generic_pipeline.py --profile       # cProfile's top items
    .venv/bin/python benchmarks/generic_pipeline.py --instructions  # under callgrind

--instructions counts the machine instructions per event instead (valgrind's
callgrind, about a minute): the same figure however loaded the machine is, so
a change of a few per cent shows where CPU time would drown it in noise. It is
the difference between a run of N + 10,000 events and one of N (start-up,
imports and building the records cancel out), divided by 10,000.
"""

from __future__ import annotations

import argparse
import cProfile
import ctypes
import pstats
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vigil.agent import Agent
from vigil.encode.tetragon import JsonEncoder, RenderOptions
from vigil.export.writers import RotatingFileWriter
from vigil.process.cache import ProcessCache
from vigil.process.clock import Clock
from vigil.process.model import Process, exec_id
from vigil.sensors.plan import ArgPlan, TracepointHookPlan
from vigil.wire.records import GENERIC_FIXED_SIZE, Action, ArgKind, GenericRecord, Op

NODE = "bench"
PID, KTIME, PPID, PKTIME = 4242, 7_000_000_000, 4000, 6_000_000_000
ARG_KINDS = {
    "int": (ArgPlan(5, ArgKind.INT, 16, 8, "int64", signed=True, label="fd"),
            struct.pack("<q", -100)),
    "str": (ArgPlan(6, ArgKind.STR_PTR, 24, 8, "string", label="path"), b"/etc/passwd"),
}


def record(ktime: int, args: list[bytes], hook_id: int = 1) -> bytes:
    data = b""
    for a in args:
        slot = struct.pack("=i", len(a)) + a
        data += slot + bytes(-len(slot) % 8)
    r = GenericRecord()
    r.hdr.op, r.hdr.ktime = Op.GENERIC_TRACEPOINT, ktime
    r.key.pid, r.key.ktime, r.tid, r.hook_id, r.action = PID, KTIME, PID, hook_id, Action.POST
    r.nargs, r.data_len = len(args), len(data)
    ctypes.memmove(ctypes.addressof(r) + GENERIC_FIXED_SIZE, data, len(data))
    r.hdr.size = GENERIC_FIXED_SIZE + len(data)
    return bytes(r)[: r.hdr.size]


def process(pid: int, ktime: int, binary: str, parent: tuple[int, int] | None) -> Process:
    return Process(key=(pid, ktime), exec_id=exec_id(NODE, ktime, pid), pid=pid, tid=pid,
                   binary=binary, arguments="1000000", cwd="/tmp", flags=1,
                   start_time="2026-12-01T00:00:00.000000001Z", uid=0, auid=0xFFFFFFFF,
                   cap_permitted=(1 << 41) - 1, cap_effective=(1 << 41) - 1,
                   parent_key=parent)


def build_agent(args: list[str], out: Path) -> tuple[Agent, RotatingFileWriter]:
    cache = ProcessCache(NODE, Clock(monotonic_to_wall=1_764_547_200_000_000_000,
                                     boottime_to_wall=0))
    cache.insert(process(PPID, PKTIME, "/usr/bin/python3", None))
    cache.insert(process(PID, KTIME, "/tmp/storm", (PPID, PKTIME)))
    writer = RotatingFileWriter(str(out), max_bytes=1 << 40)
    agent = Agent(cache, writer, JsonEncoder(RenderOptions(NODE)).encode)
    agent.add_hook(1, TracepointHookPlan(
        "bench", "syscalls", "sys_enter_openat", tuple(ARG_KINDS[a][0] for a in args),
        message="bench message", tags=("bench",)))
    return agent, writer


def instructions(opts: argparse.Namespace) -> int:
    """Instructions per event, from two runs of this script under callgrind."""
    if shutil.which("valgrind") is None:
        print("--instructions needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 1
    counts = []
    for events in (2_000, 12_000):
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
             __file__, "--events", str(events), "--rounds", "1", "--batch", str(opts.batch),
             "--args", opts.args], capture_output=True, text=True)
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode or not found:
            print(done.stdout + done.stderr, file=sys.stderr)
            return 1
        counts.append(int(found.group(1)))
    print(f"generic pipeline: args [{opts.args}], batches of {opts.batch:,}: "
          f"{(counts[1] - counts[0]) // 10_000:,} instructions per event (callgrind)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=2_000,
                    help="records per ring-buffer batch (the storm's are 1,000-20,000)")
    ap.add_argument("--args", default="", help="comma-separated argument kinds: int, str")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="print cProfile's top items")
    ap.add_argument("--instructions", action="store_true",
                    help="count instructions per event under callgrind instead of CPU time")
    opts = ap.parse_args()
    if opts.instructions:
        return instructions(opts)
    kinds = [a for a in opts.args.split(",") if a]
    unknown = set(kinds) - set(ARG_KINDS)
    if unknown:
        ap.error(f"--args: unknown kind {', '.join(sorted(unknown))}; known: int, str")
    raw = [ARG_KINDS[a][1] for a in kinds]
    # Distinct times, a new second now and then, as a real storm's.
    recs = [record(1_000_000_000 + i * 397, raw) for i in range(opts.events)]
    batches = [recs[i:i + opts.batch] for i in range(0, len(recs), opts.batch)]
    per_event = []
    with tempfile.TemporaryDirectory(prefix="vigil-pipeline-") as tmp:
        for r in range(opts.rounds):
            agent, writer = build_agent(kinds, Path(tmp) / f"out-{r}.json")
            prof = cProfile.Profile() if opts.profile and r == opts.rounds - 1 else None
            t0 = time.process_time()
            if prof is not None:
                prof.enable()
            for batch in batches:
                agent.handle_batch(batch)
            writer.close()
            if prof is not None:
                prof.disable()
            used = time.process_time() - t0
            if agent.exported != opts.events:
                print(f"exported {agent.exported} of {opts.events}: {agent.decode_errors}",
                      file=sys.stderr)
                return 1
            if prof is None:
                per_event.append(used / opts.events * 1e6)
            (Path(tmp) / f"out-{r}.json").unlink()
    print(f"generic pipeline: {opts.events:,} events, args [{opts.args}], batches of "
          f"{opts.batch:,}: {statistics.median(per_event):.2f} µs CPU per event "
          f"(median of {len(per_event)}; min {min(per_event):.2f})")
    if opts.profile:
        pstats.Stats(prof).sort_stats("tottime").print_stats(18)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
