"""A policy hook's record carries no byte of an earlier record (DESIGN §3:
every byte user space reads was written by this record), checked the way
the lab's pitfall 2 shows the bug: one process pinned to one CPU, so its two
events share the per-CPU heap slot, a long argument and then a short one.

read_arg (bpf/generic/tracepoint.bpf.c) pads each argument's slot to 8 bytes
and sends the padding: zero_padding() writes it, or it would still hold what
the previous record on this CPU had there (the lab's pitfall 2 shows that
bug; this test failed before the fix)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from vigil.kernel.tracefs_format import read_format
from vigil.runtime import Runtime
from vigil.sensors.plan import ArgPlan, TracepointHookPlan
from vigil.sensors.selectors import PidFilter, SelectorPlan
from vigil.wire.records import GENERIC_FIXED_SIZE, ArgKind, GenericRecord, MsgHeader

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

# Waits for "go", then opens a long and a short path that do not exist, both
# on CPU 0, so the second record is built over the first in one heap slot.
CHILD = """
import os, sys
os.sched_setaffinity(0, {0})
print("ready", flush=True)
sys.stdin.readline()
for path in sys.argv[1:]:
    try:
        os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        pass
"""


def slots(data: bytes, nargs: int) -> list[tuple[bytes, bytes]]:
    """Each argument's bytes and the padding of its slot after them."""
    out, off = [], 0
    for _ in range(nargs):
        n = int.from_bytes(data[off:off + 4], "little", signed=True)
        used = 4 + max(n, 0)
        end = off + ((used + 7) & ~7)
        out.append((data[off + 4:off + used], data[off + used:end]))
        off = end
    return out


def arguments(raw: Iterable[bytes], hook_id: int, pid: int) -> list[list[tuple[bytes, bytes]]]:
    """The argument slots of each of the hook's records for pid, in order."""
    out = []
    for r in raw:
        if len(r) < GENERIC_FIXED_SIZE or MsgHeader.from_buffer_copy(r).size != len(r):
            continue
        fixed = _Fixed.from_buffer_copy(r)
        if fixed.hook_id == hook_id and fixed.key.pid == pid:
            out.append(slots(r[GENERIC_FIXED_SIZE:], fixed.nargs))
    return out


class _Fixed(ctypes.Structure):
    # GenericRecord without `data`, whose c_char field would stop at a NUL.
    _fields_ = GenericRecord._fields_[:-1]


def test_padding_of_each_argument_is_this_records(runtime: tuple[Runtime, Collect],
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    rt, _ = runtime
    raw: list[bytes] = []
    handle = rt.agent.handle_batch

    def keep(records: Iterable[bytes]) -> None:
        batch = list(records)
        raw.extend(batch)
        handle(batch)

    monkeypatch.setattr(rt.agent, "handle_batch", keep)
    fmt = read_format("syscalls", "sys_enter_openat")
    names = [f.name for f in fmt.fields]
    filename, dfd = fmt.field("filename"), fmt.field("dfd")
    long_path = str(tmp_path / ("L" * 60))
    short_path = str(tmp_path / "s")
    child = subprocess.Popen([sys.executable, "-c", CHILD, long_path, short_path],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == b"ready"
        # Only the child's opens touch the heap: its pid is tested first.
        plan = TracepointHookPlan(
            policy_name="leftovers", subsys="syscalls", event="sys_enter_openat",
            args=(ArgPlan(names.index("filename"), ArgKind.STR_PTR, filename.offset,
                          filename.size, "string"),
                  ArgPlan(names.index("dfd"), ArgKind.INT, dfd.offset, 4, "int", True)),
            selectors=(SelectorPlan(pids=(PidFilter("In", (child.pid,)),)),))
        hook = rt.add_tracepoint(plan)
        child.stdin.write(b"go\n")
        child.stdin.close()
        assert child.wait(timeout=EVENT_TIMEOUT) == 0
        deadline = time.monotonic() + EVENT_TIMEOUT
        ours: list[list[tuple[bytes, bytes]]] = []
        while len(ours) < 2 and time.monotonic() < deadline:
            rt.step(50)
            ours = [a for a in arguments(raw, hook.hook_id, child.pid)
                    if a[0][0].startswith(os.fsencode(tmp_path))]
        rt.remove_tracepoint(hook)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert [a[0][0] for a in ours] == [long_path.encode(), short_path.encode()]
    (_, str_pad), (_, int_pad) = ours[1]
    # The string's NUL and the rest of its slot; the 4 bytes after the int's 8.
    assert (str_pad, int_pad) == (bytes(len(str_pad)), bytes(4))
