"""Every program writing to the shared ring buffer batches its wake-ups
(bpf/lib/shared_maps.bpf.h, wakeup_bytes): the base sensor's and each policy
hook's, read back from the loaded objects' frozen .rodata with bpftool."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from vigil.libbpf import Object
from vigil.libbpf.maps import map_info
from vigil.runtime import Runtime, RuntimeConfig
from vigil.sensors.plan import TracepointHookPlan

from .runtime_sink import Collect

pytestmark = [pytest.mark.needs("tracepoint", "ringbuf"),
              pytest.mark.skipif(shutil.which("bpftool") is None, reason="needs bpftool")]


def rodata(obj: Object) -> dict[str, object]:
    """The object's .rodata variables by name, as the kernel holds them."""
    (ro,) = [m for m in obj.maps.values() if m.name.endswith(".rodata")]
    out = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(map_info(ro.fd).id)],
                         capture_output=True, text=True, check=True).stdout
    (entry,) = json.loads(out)
    values: dict[str, object] = {}
    for var in entry["formatted"]["value"][".rodata"]:
        values.update(var)
    return values


@pytest.mark.parametrize(("ring_bytes", "wakeup"), [(8 << 20, 64 << 10), (64 << 10, 16 << 10)])
def test_policy_hooks_wake_the_reader_as_the_base_sensor_does(ring_bytes: int,
                                                              wakeup: int) -> None:
    sink = Collect()
    rt = Runtime(RuntimeConfig(node_name="test", ringbuf_bytes=ring_bytes), sink, sink.encode)
    rt.start()
    with rt:
        hook = rt.add_tracepoint(TracepointHookPlan("wake", "syscalls", "sys_enter_getppid"))
        assert rodata(rt.base.obj)["wakeup_bytes"] == wakeup
        assert hook._obj is not None
        assert rodata(hook._obj)["wakeup_bytes"] == wakeup
        # Still delivered: the reader drains the buffer on its timer too.
        child = subprocess.Popen(["/usr/bin/python3", "-c", "import os; os.getppid()"])
        child.wait()
        for _ in range(100):
            rt.step(50)
            if any(e.process.pid == child.pid and e.kind == "process_tracepoint"
                   for e in sink.events):
                break
        assert any(e.process.pid == child.pid and e.kind == "process_tracepoint"
                   for e in sink.events)


def test_a_reader_asleep_on_an_empty_buffer_is_woken_by_a_burst() -> None:
    """Forced wake-ups only when the unread data crosses a multiple of
    wakeup_bytes: a burst of records well past it (here 16 KiB of a 64 KiB
    buffer) still wakes a reader that went to sleep before it began, long
    before the poll's own timeout would have."""
    import time

    sink = Collect()
    rt = Runtime(RuntimeConfig(node_name="test", ringbuf_bytes=64 << 10), sink, sink.encode)
    rt.start()
    with rt:
        rt.add_tracepoint(TracepointHookPlan("wake", "syscalls", "sys_enter_getppid"))
        ring = rt._ring
        assert ring is not None
        rt.agent.handle_batch(ring.consume())
        # 1,000 records of 56 bytes each, once the reader below is asleep.
        child = subprocess.Popen(["/usr/bin/python3", "-c", "import os, time; time.sleep(1)\n"
                                  "for _ in range(1000): os.getppid()"])
        t0 = time.monotonic()
        records = ring.poll(60_000)
        waited = time.monotonic() - t0
        child.wait()
        assert records
        assert waited < 30, f"no wake-up: poll returned after its timeout ({waited:.1f} s)"
