"""The generic tracepoint sensor on the running kernel: a hook added to a
running runtime reads each kind of argument from real tracepoint records of
real child processes, and its events are Tetragon's process_tracepoint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from google.protobuf import json_format

from vigil.events.model import Arg, TracepointEvent
from vigil.kernel.tracefs_format import FormatField, read_format
from vigil.runtime import Runtime
from vigil.sensors.plan import ArgPlan, TracepointHookPlan
from vigil.wire.records import ArgKind

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")


# How wide Tetragon reads each integer type, whatever the field's size (a
# syscall tracepoint gives `int dfd` an 8-byte slot).
WIDTH = {"int": (4, True), "int64": (8, True), "uint64": (8, False), "uint32": (4, False)}


def plan_arg(index: int, f: FormatField, kind: ArgKind, tetragon_type: str) -> ArgPlan:
    size, signed = WIDTH.get(tetragon_type, (f.size, f.signed))
    return ArgPlan(index=index, kind=kind, offset=f.offset, size=size,
                   tetragon_type=tetragon_type, signed=signed)


def tracepoint_events(rt: Runtime, sink: Collect, pid: int, want: int) -> list[TracepointEvent]:
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        found = [e for e in sink.events
                 if isinstance(e, TracepointEvent) and e.process.pid == pid]
        if len(found) >= want or time.monotonic() > deadline:
            return found
        rt.step(50)


def test_openat_arguments_from_a_real_child(runtime: tuple[Runtime, Collect],
                                            tmp_path: Path) -> None:
    """syscalls/sys_enter_openat: a long, a user-space string, a long."""
    rt, sink = runtime
    fmt = read_format("syscalls", "sys_enter_openat")
    names = [f.name for f in fmt.fields]
    dfd, filename, flags = (fmt.field(n) for n in ("dfd", "filename", "flags"))
    plan = TracepointHookPlan(
        policy_name="openat-test", subsys="syscalls", event="sys_enter_openat",
        args=(plan_arg(names.index("dfd"), dfd, ArgKind.INT, "int"),
              plan_arg(names.index("filename"), filename, ArgKind.STR_PTR, "string"),
              plan_arg(names.index("flags"), flags, ArgKind.INT, "uint64")),
        message="a file was opened", tags=("test", "openat"))
    hook = rt.add_tracepoint(plan)
    target = tmp_path / ("f" * 200)
    target.write_text("x")
    code = (f"import os; fd = os.open({str(target)!r}, os.O_RDONLY | os.O_CLOEXEC, "
            f"dir_fd=None); os.close(fd)")
    child = subprocess.Popen(["/usr/bin/python3", "-c", code])
    child.wait()
    events = tracepoint_events(rt, sink, child.pid, 1)
    rt.remove_tracepoint(hook)
    ours = [e for e in events if e.args[1] == Arg("string_arg", str(target))]
    assert len(ours) == 1, [e.args for e in events]
    ev = ours[0]
    assert ev.args == [Arg("int_arg", -100), Arg("string_arg", str(target)),
                       Arg("size_arg", os.O_RDONLY | os.O_CLOEXEC)]  # AT_FDCWD is -100
    assert (ev.subsys, ev.event, ev.policy_name) == ("syscalls", "sys_enter_openat",
                                                      "openat-test")
    assert ev.process.binary == "/usr/bin/python3"
    assert ev.parent is not None and ev.parent.pid == os.getpid()
    line = json.loads(sink.lines[sink.events.index(ev)])
    body = line["process_tracepoint"]
    assert body["args"] == [{"int_arg": -100}, {"string_arg": str(target)},
                            {"size_arg": str(os.O_RDONLY | os.O_CLOEXEC)}]
    assert (body["action"], body["message"], body["tags"]) == (
        "KPROBE_ACTION_POST", "a file was opened", ["test", "openat"])
    from vigil.api.gen.tetragon import events_pb2

    json_format.Parse(sink.lines[sink.events.index(ev)], events_pb2.GetEventsResponse(),
                      ignore_unknown_fields=False)


def test_data_loc_string_and_int_of_sched_process_exec(runtime: tuple[Runtime, Collect],
                                                        tmp_path: Path) -> None:
    rt, sink = runtime
    fmt = read_format("sched", "sched_process_exec")
    names = [f.name for f in fmt.fields]
    plan = TracepointHookPlan(
        policy_name="exec-test", subsys="sched", event="sched_process_exec",
        args=(plan_arg(names.index("filename"), fmt.field("filename"), ArgKind.STR_DATALOC,
                       "string"),
              plan_arg(names.index("pid"), fmt.field("pid"), ArgKind.INT, "int")))
    hook = rt.add_tracepoint(plan)
    binary = tmp_path / "tp-true"
    shutil.copy("/bin/true", binary)
    child = subprocess.Popen([str(binary)])
    child.wait()
    events = tracepoint_events(rt, sink, child.pid, 1)
    rt.remove_tracepoint(hook)
    assert [e.args for e in events] == [[Arg("string_arg", str(binary)),
                                         Arg("int_arg", child.pid)]]
    # The hook's event names the process the base sensor saw exec.
    assert events[0].process.binary == str(binary)


def test_fixed_char_arrays_of_task_rename(runtime: tuple[Runtime, Collect]) -> None:
    """task/task_rename's oldcomm[16] and newcomm[16]: read within each field."""
    rt, sink = runtime
    fmt = read_format("task", "task_rename")
    names = [f.name for f in fmt.fields]
    old, new = fmt.field("oldcomm"), fmt.field("newcomm")
    assert (old.is_array, old.data_loc, new.size) == (True, None, 16)
    hook = rt.add_tracepoint(TracepointHookPlan(
        policy_name="rename-test", subsys="task", event="task_rename",
        args=(plan_arg(names.index("oldcomm"), old, ArgKind.STR_ARRAY, "string"),
              plan_arg(names.index("newcomm"), new, ArgKind.STR_ARRAY, "string"))))
    code = "open('/proc/self/comm', 'w').write('fifteen-chars-x')"
    child = subprocess.Popen(["/usr/bin/python3", "-c", code])
    child.wait()
    events = tracepoint_events(rt, sink, child.pid, 2)
    rt.remove_tracepoint(hook)
    forked_as = Path("/proc/self/comm").read_text().strip()  # the child's comm until exec
    assert [e.args for e in events] == [
        [Arg("string_arg", forked_as), Arg("string_arg", "python3")],  # exec renames
        [Arg("string_arg", "python3"), Arg("string_arg", "fifteen-chars-x")]]


def test_removed_hook_stops_and_loses_nothing_it_wrote(runtime: tuple[Runtime, Collect],
                                                        tmp_path: Path) -> None:
    rt, sink = runtime
    fmt = read_format("syscalls", "sys_enter_getppid")
    hook = rt.add_tracepoint(TracepointHookPlan(
        policy_name="getppid", subsys="syscalls", event="sys_enter_getppid"))
    for _ in range(5):
        os.getppid()
    rt.remove_tracepoint(hook)  # handles what the hook already wrote
    before = [e for e in sink.events if isinstance(e, TracepointEvent)
              and e.process.pid == os.getpid()]
    os.getppid()
    rt.step(0)
    after = [e for e in sink.events if isinstance(e, TracepointEvent)
             and e.process.pid == os.getpid()]
    assert len(before) == 5 and after == before
    assert fmt.name == "sys_enter_getppid"
    assert rt.agent.hooks == {} and rt.sensors == {}
