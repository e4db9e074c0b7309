"""The runtime on the running kernel: a second sensor added and removed while
it runs shares the base sensor's exec map and ring buffer, and the base
sensor's events go on, none lost."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from vigil.bpf_objects import object_path
from vigil.libbpf import Link, Object, open_object
from vigil.runtime import Runtime
from vigil.sensors.base import RecordDecoder, Sensor, SharedMaps
from vigil.wire.records import MsgHeader, Op, ProcKey

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "raw_tracepoint", "ringbuf")


class SharedTestRecord(ctypes.Structure):
    """struct shared_test_record in bpf/selftest/shared.bpf.c."""

    _fields_ = [("hdr", MsgHeader), ("key", ProcKey), ("found", ctypes.c_uint32),
                ("pad", ctypes.c_uint32)]


@dataclass
class Found:
    key: tuple[int, int]
    found: bool


def decode_test_record(rec: bytes) -> Found:
    r = SharedTestRecord.from_buffer_copy(rec)
    return Found((r.key.pid, r.key.ktime), bool(r.found))


class SharedMapsProbe(Sensor):
    """A second sensor: bpf/selftest/shared.bpf.o on the runtime's maps."""

    name = "shared-test"

    def __init__(self) -> None:
        self.obj: Object | None = None
        self.link: Link | None = None
        self.reused: list[str] = []

    def record_kinds(self) -> Mapping[int, RecordDecoder]:
        return {Op.TEST_FIRST: decode_test_record}

    def start(self, shared: SharedMaps | None) -> None:
        assert shared is not None
        with open_object(object_path("selftest/shared.bpf.o")) as spec:
            self.reused = shared.reuse_in(spec)
            spec.set_rodata("target_tgid", os.getpid())
            self.obj = spec.load()
        self.link = self.obj.programs["shared_on_getpgid"].attach()

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
        if self.obj is not None:
            self.obj.close()
            self.obj = None


def step_until(rt: Runtime, done: object, what: str) -> None:
    deadline = time.monotonic() + EVENT_TIMEOUT
    while not done():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {EVENT_TIMEOUT}s")
        rt.step(50)


def prog_id(fd: int) -> int:
    for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
        if line.startswith("prog_id:"):
            return int(line.split()[1])
    raise AssertionError(f"fd {fd} is not a BPF program")


def loaded_program_ids() -> set[int]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {p["id"] for p in json.loads(out)}


def run_marker(binary: Path) -> int:
    proc = subprocess.Popen([str(binary)])
    proc.wait()
    return proc.pid


def test_a_sensor_added_while_running_shares_the_maps_and_loses_nothing(
        runtime: tuple[Runtime, Collect], tmp_path: Path) -> None:
    rt, sink = runtime
    binary = tmp_path / "marker-true"
    shutil.copy("/bin/true", binary)
    pids = [run_marker(binary)]

    found: list[Found] = []
    probe = SharedMapsProbe()
    rt.add_sensor(probe, {Op.TEST_FIRST: found.append})
    assert probe.reused == ["vigil_execve_map", "vigil_match_seed", "vigil_task_baseline",
                            "vigil_events", "vigil_stats", "vigil_path_heap"]
    pids.append(run_marker(binary))
    os.getpgid(0)
    step_until(rt, lambda: found, "record from the second sensor")
    # The second object read the base sensor's exec map: it knows this
    # process by the identity the base sensor gave it.
    me = rt.cache.by_pid[os.getpid()]
    assert found == [Found(me.key, True)]

    assert probe.obj is not None
    ours = {prog_id(p.fd) for p in probe.obj.programs.values()}
    rt.remove_sensor("shared-test")
    assert Op.TEST_FIRST not in rt.agent.dispatch
    assert probe.obj is None
    assert not ours & loaded_program_ids()  # unloaded
    os.getpgid(0)
    pids.append(run_marker(binary))

    def all_exits() -> bool:
        return {e.process.pid for e in sink.events if e.kind == "process_exit"} >= set(pids)

    step_until(rt, all_exits, "exits of every marker")
    assert found == [Found(me.key, True)]  # nothing after removal
    for pid in pids:
        kinds = [e.kind for e in sink.events if e.process.pid == pid]
        assert kinds == ["process_exec", "process_exit"], (pid, kinds)
    assert rt.agent.decode_errors == {}


def test_a_sensor_cannot_take_a_running_op_or_name(runtime: tuple[Runtime, Collect]) -> None:
    rt, _ = runtime
    probe = SharedMapsProbe()
    rt.add_sensor(probe, {Op.TEST_FIRST: lambda msg: None})
    with pytest.raises(ValueError, match="'shared-test' is running already"):
        rt.add_sensor(SharedMapsProbe(), {Op.TEST_FIRST: lambda msg: None})
    rt.remove_sensor("shared-test")
    with pytest.raises(ValueError, match=r"no handler for record ops \[32512\]"):
        rt.add_sensor(SharedMapsProbe(), {})
