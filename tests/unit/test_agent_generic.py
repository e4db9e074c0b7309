"""The agent's generic-record path, without a kernel: a record in, the event
(built positionally on that hot path) equal to one built by field name."""

from __future__ import annotations

import struct

from vigil.agent import Agent
from vigil.events.model import PROCESS_TRACEPOINT, Arg, Event, TracepointEvent
from vigil.process.cache import ProcessCache
from vigil.process.clock import Clock
from vigil.process.model import Process
from vigil.sensors.plan import ArgPlan, TracepointHookPlan
from vigil.wire.records import ArgKind

from .test_generic_records import generic_record


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def encode(self, ev: Event) -> bytes:
        self.events.append(ev)
        return b"x\n"

    def write(self, line: bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    def reopen(self) -> None: ...
    def loss_counts(self) -> dict[str, int]:
        return {}


def test_record_to_event_field_by_field() -> None:
    clock = Clock(monotonic_to_wall=1000, boottime_to_wall=0)
    cache = ProcessCache("vm", clock)
    parent = cache.insert(Process(key=(1, 1), exec_id="p", pid=1, tid=1, binary="/sbin/init",
                                  arguments="", cwd="/", flags=0, start_time="t"))
    child = cache.insert(Process(key=(10, 3), exec_id="c", pid=10, tid=10, binary="/bin/x",
                                 arguments="", cwd="/", flags=0, start_time="t",
                                 parent_key=(1, 1)))
    sink = Sink()
    agent = Agent(cache, sink, sink.encode)
    plan = TracepointHookPlan(
        "pol", "syscalls", "sys_enter_openat",
        (ArgPlan(5, ArgKind.INT, 16, 8, "int64", signed=True, label="dfd"),
         ArgPlan(6, ArgKind.STR_PTR, 24, 8, "string")),
        message="m", tags=("a", "b"))
    agent.add_hook(7, plan)
    agent.handle_batch([generic_record([struct.pack("<q", -100), b"/etc/passwd"])])
    assert sink.events == [TracepointEvent(
        kind=PROCESS_TRACEPOINT, time_ns=5 + 1000, process=child, parent=parent,
        ancestors=[], status=0, signal="", subsys="syscalls", event="sys_enter_openat",
        args=[Arg("long_arg", -100, "dfd"), Arg("string_arg", "/etc/passwd")],
        policy_name="pol", action="KPROBE_ACTION_POST", message="m", tags=("a", "b"))]
    assert agent.seen[PROCESS_TRACEPOINT] == agent.exported == 1


def test_unknown_action_keeps_tetragons_unknown_name() -> None:
    cache = ProcessCache("vm", Clock(0, 0))
    sink = Sink()
    agent = Agent(cache, sink, sink.encode)
    agent.add_hook(7, TracepointHookPlan("pol", "s", "e"))
    rec = bytearray(generic_record([]))
    struct.pack_into("=I", rec, 40, 99)  # action
    agent.handle_batch([bytes(rec)])
    assert [e.action for e in sink.events if isinstance(e, TracepointEvent)] == [
        "KPROBE_ACTION_UNKNOWN"]
