"""Selectors and actions of the generic tracepoint sensor, evaluated in the
kernel: real children make exactly the calls a test names, after the hook is
attached, and only what the selectors accept reaches user space.

The child waits on stdin until its hook is attached, then calls
lseek(fd, offset, whence) for each pair it was given (an invalid whence or
offset fails with EINVAL after the tracepoint fired) or opens each path, and
prints the signals its own handler saw. Python's own lseeks use whence 0..2
and offsets >= 0, which no filter here accepts together with the child's pid.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from vigil.events.model import Arg, TracepointEvent
from vigil.kernel.tracefs_format import read_format
from vigil.runtime import Runtime, RuntimeConfig
from vigil.sensors.generic_tracepoint import TracepointSensor
from vigil.sensors.plan import ArgPlan, TracepointHookPlan
from vigil.sensors.selectors import ActionPlan, ArgFilter, PidFilter, SelectorPlan
from vigil.wire.records import ArgKind

from .test_generic_tracepoint import Collect, plan_arg

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

CHILD = """
import json, os, signal, sys
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
fd = os.open('/dev/null', os.O_RDONLY)
calls = json.loads(sys.argv[1])
print('ready', flush=True)
sys.stdin.readline()
for c in calls:
    try:
        if isinstance(c, str):
            os.close(os.open(c, os.O_RDONLY))
        else:
            os.lseek(fd, c[0], c[1])
    except OSError:
        pass
print(json.dumps(got), flush=True)
"""


@pytest.fixture
def runtime() -> Iterator[tuple[Runtime, Collect]]:
    sink = Collect()
    rt = Runtime(RuntimeConfig(node_name="test"), sink, sink.encode)
    rt.start()
    with rt:
        yield rt, sink


def lseek_args() -> tuple[ArgPlan, ...]:
    fmt = read_format("syscalls", "sys_enter_lseek")
    names = [f.name for f in fmt.fields]
    return (plan_arg(names.index("fd"), fmt.field("fd"), ArgKind.INT, "int"),
            plan_arg(names.index("offset"), fmt.field("offset"), ArgKind.INT, "int64"),
            plan_arg(names.index("whence"), fmt.field("whence"), ArgKind.INT, "uint32"))


def openat_args() -> tuple[ArgPlan, ...]:
    fmt = read_format("syscalls", "sys_enter_openat")
    names = [f.name for f in fmt.fields]
    return (plan_arg(names.index("filename"), fmt.field("filename"), ArgKind.STR_PTR,
                     "string"),)


LSEEK = lseek_args()
FD, OFFSET, WHENCE = (a.index for a in LSEEK)
OPENAT = openat_args()
FILENAME = OPENAT[0].index


class Child:
    """A child that makes its calls once told to; made when it is ready, so
    its interpreter's own start-up (which opens files) is over."""

    def __init__(self, calls: Sequence[object]) -> None:
        self.proc = subprocess.Popen(["/usr/bin/python3", "-c", CHILD, json.dumps(list(calls))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "ready\n"

    def go(self) -> tuple[int, str]:
        out, _ = self.proc.communicate("go\n", timeout=30)
        return self.proc.returncode, out


def hook(rt: Runtime, selectors: Sequence[SelectorPlan], *, name: str = "sel-test",
         event: str = "sys_enter_lseek", args: tuple[ArgPlan, ...] = LSEEK) -> TracepointSensor:
    return rt.add_tracepoint(TracepointHookPlan(
        policy_name=name, subsys="syscalls", event=event, args=args,
        selectors=tuple(selectors)))


def drain(rt: Runtime) -> None:
    """Records are in the ring buffer when the child's call returns: handle them."""
    for _ in range(3):
        rt.step(20)


def events_of(sink: Collect, pid: int, policy: str = "sel-test") -> list[TracepointEvent]:
    return [e for e in sink.events if isinstance(e, TracepointEvent)
            and e.process.pid == pid and e.policy_name == policy]


def run_lseeks(rt: Runtime, sink: Collect, filters: Sequence[ArgFilter],
               calls: Sequence[tuple[int, int]],
               actions: Sequence[ActionPlan] = ()) -> list[TracepointEvent]:
    """The child's lseeks through one selector: its pid and `filters`."""
    child = Child(calls)
    sensor = hook(rt, [SelectorPlan(pids=(PidFilter("In", (child.pid,)),), args=tuple(filters),
                                    actions=tuple(actions))])
    code, _ = child.go()
    drain(rt)
    rt.remove_tracepoint(sensor)
    assert code == 0
    return events_of(sink, child.pid)


def whences(events: Sequence[TracepointEvent]) -> list[int]:
    return [int(e.args[2].value) for e in events]


def offsets(events: Sequence[TracepointEvent]) -> list[int]:
    return [int(e.args[1].value) for e in events]


@pytest.mark.parametrize(("op", "value", "calls", "want"), [
    ("GT", "5", [5, 6], [6]),
    ("LT", "1000", [1000, 999], [999]),  # and Python's own whence 0..2: see LT below
    ("Equal", "77", [76, 77, 78], [77]),
    ("Mask", "0x10", [0x20, 0x110, 0x30], [0x110, 0x30]),
])
def test_integer_operators_at_their_boundary(runtime: tuple[Runtime, Collect], op: str,
                                             value: str, calls: list[int],
                                             want: list[int]) -> None:
    rt, sink = runtime
    filters = [ArgFilter(WHENCE, op, (value,))]
    if op == "LT":  # exclude whence 0..2, which the interpreter itself uses
        filters.append(ArgFilter(WHENCE, "GT", ("500",)))
    got = run_lseeks(rt, sink, filters, [(0, w) for w in calls])
    assert whences(got) == want


def test_lt_on_a_signed_offset(runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    got = run_lseeks(rt, sink, [ArgFilter(OFFSET, "LT", ("-99",))],
                     [(-99, 0), (-100, 0), (-(1 << 62), 0), (1 << 40, 0)])
    assert offsets(got) == [-100, -(1 << 62)]  # a signed compare: 2^40 is not below -99


def test_not_equal_values_are_anded(runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    got = run_lseeks(rt, sink, [ArgFilter(WHENCE, "NotEqual", ("0", "1", "2", "40"))],
                     [(0, 40), (0, 41), (0, 3)])
    assert whences(got) == [41, 3]


def test_in_range_includes_both_edges(runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    got = run_lseeks(rt, sink, [ArgFilter(WHENCE, "InRange", ("10:20", "100:100"))],
                     [(0, 9), (0, 10), (0, 20), (0, 21), (0, 99), (0, 100), (0, 101)])
    assert whences(got) == [10, 20, 100]


def test_not_in_range_excludes_both_edges(runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    got = run_lseeks(rt, sink, [ArgFilter(WHENCE, "NotInRange", ("0:20", "30:40"))],
                     [(0, 20), (0, 21), (0, 29), (0, 30), (0, 40), (0, 41)])
    assert whences(got) == [21, 29, 41]


def test_filters_of_a_selector_are_anded(runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    got = run_lseeks(rt, sink, [ArgFilter(WHENCE, "Equal", ("50",)),
                                ArgFilter(OFFSET, "Equal", ("7",))],
                     [(7, 50), (8, 50), (7, 51)])
    assert [(e.args[1].value, e.args[2].value) for e in got] == [(7, 50)]


def run_opens(rt: Runtime, sink: Collect, op: str, values: tuple[str, ...],
              paths: Sequence[str]) -> list[str]:
    child = Child(paths)
    sensor = hook(rt, [SelectorPlan(pids=(PidFilter("In", (child.pid,)),),
                                    args=(ArgFilter(FILENAME, op, values),))],
                  event="sys_enter_openat", args=OPENAT)
    code, _ = child.go()
    drain(rt)
    rt.remove_tracepoint(sensor)
    assert code == 0
    return [str(e.args[0].value) for e in events_of(sink, child.pid)]


def test_prefix_of_a_path(runtime: tuple[Runtime, Collect], tmp_path: Path) -> None:
    rt, sink = runtime
    inside, outside = str(tmp_path / "inside"), str(tmp_path) + "-not-inside"
    got = run_opens(rt, sink, "Prefix", (str(tmp_path) + "/",),
                    [inside, outside, str(tmp_path)])
    assert got == [inside]


def test_not_prefix(runtime: tuple[Runtime, Collect], tmp_path: Path) -> None:
    rt, sink = runtime
    got = run_opens(rt, sink, "NotPrefix", (str(tmp_path) + "/a",),
                    [str(tmp_path / "a1"), str(tmp_path / "b1")])
    assert got == [str(tmp_path / "b1")]


def test_postfix_and_not_postfix(runtime: tuple[Runtime, Collect], tmp_path: Path) -> None:
    rt, sink = runtime
    names = [str(tmp_path / n) for n in ("x.vigil", "x.vigil2", "vigil", "y.vigil")]
    assert run_opens(rt, sink, "Postfix", (".vigil",), names) == [names[0], names[3]]
    assert run_opens(rt, sink, "NotPostfix", (".vigil", "vigil2"), names) == [names[2]]


def test_string_equal_is_exact(runtime: tuple[Runtime, Collect], tmp_path: Path) -> None:
    rt, sink = runtime
    head = str(tmp_path) + "/"
    path = head + "e" * (250 - len(head))  # a long value, near the limit
    got = run_opens(rt, sink, "Equal", (path,), [path + "x", path, path[:-1]])
    assert got == [path]


def test_longest_string_value_compares_every_word(runtime: tuple[Runtime, Collect],
                                                  tmp_path: Path) -> None:
    rt, sink = runtime
    head = str(tmp_path) + "/"
    path = head + "p" * (256 - len(head))
    other = path[:-1] + "q"  # differs in the last byte only
    got = run_opens(rt, sink, "Prefix", (path,), [other, path + "-longer", path])
    assert got == [path + "-longer", path]


def test_char_array_equal_and_postfix_on_task_rename(runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    fmt = read_format("task", "task_rename")
    names = [f.name for f in fmt.fields]
    new = plan_arg(names.index("newcomm"), fmt.field("newcomm"), ArgKind.STR_ARRAY, "string")
    code = ("import sys; print('ready', flush=True); sys.stdin.readline()\n"
            "for n in ('fifteen-chars-x', 'fifteen-chars-y', 'other-x'):\n"
            "    open('/proc/self/comm', 'w').write(n)\n")
    child = subprocess.Popen(["/usr/bin/python3", "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    sensor = rt.add_tracepoint(TracepointHookPlan(
        policy_name="sel-test", subsys="task", event="task_rename", args=(new,),
        selectors=(SelectorPlan(pids=(PidFilter("In", (child.pid,)),),
                                args=(ArgFilter(new.index, "Equal", ("fifteen-chars-x",)),)),
                   SelectorPlan(pids=(PidFilter("In", (child.pid,)),),
                                args=(ArgFilter(new.index, "Postfix", ("r-x",)),)))))
    child.communicate("go\n", timeout=30)
    drain(rt)
    rt.remove_tracepoint(sensor)
    assert [e.args for e in events_of(sink, child.pid)] == [
        [Arg("string_arg", "fifteen-chars-x")], [Arg("string_arg", "other-x")]]


def test_not_in_pids(runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    child = Child([(0, 31337)])
    fd = os.open("/dev/null", os.O_RDONLY)
    sensor = hook(rt, [SelectorPlan(pids=(PidFilter("NotIn", (os.getpid(), 1)),),
                                    args=(ArgFilter(WHENCE, "Equal", ("31337",)),))])
    try:
        with pytest.raises(OSError):
            os.lseek(fd, 0, 31337)  # this process: not posted
        code, _ = child.go()
    finally:
        os.close(fd)
    drain(rt)
    rt.remove_tracepoint(sensor)
    assert code == 0
    assert events_of(sink, os.getpid()) == []
    assert whences(events_of(sink, child.pid)) == [31337]


def test_selectors_are_ored_and_the_first_match_wins(runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    child = Child([(0, w) for w in (10, 15, 30, 11, 12)])
    pid = (PidFilter("In", (child.pid,)),)
    sensor = hook(rt, [
        # 10 matches this one first: NoPost, although the next would post it.
        SelectorPlan(pids=pid, args=(ArgFilter(WHENCE, "Equal", ("10",)),),
                     actions=(ActionPlan("NoPost"),)),
        SelectorPlan(pids=pid, args=(ArgFilter(WHENCE, "InRange", ("10:20",)),)),
        SelectorPlan(pids=pid, args=(ArgFilter(WHENCE, "Equal", ("12", "30")),)),
    ])
    code, _ = child.go()
    drain(rt)
    rt.remove_tracepoint(sensor)
    assert code == 0
    got = events_of(sink, child.pid)
    assert whences(got) == [15, 30, 11, 12]
    assert {e.action for e in got} == {"KPROBE_ACTION_POST"}


def test_no_post_sends_nothing(runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    child = Child([(0, 60), (0, 61)])
    sensor = hook(rt, [SelectorPlan(pids=(PidFilter("In", (child.pid,)),),
                                    actions=(ActionPlan("NoPost"),))])
    witness = hook(rt, [SelectorPlan(pids=(PidFilter("In", (child.pid,)),),
                                     args=(ArgFilter(WHENCE, "InRange", ("60:61",)),))],
                   name="witness")
    code, _ = child.go()
    drain(rt)
    rt.remove_tracepoint(sensor)
    rt.remove_tracepoint(witness)
    assert code == 0
    assert events_of(sink, child.pid) == []
    assert whences(events_of(sink, child.pid, "witness")) == [60, 61]


def test_selector_matching_nothing_and_a_second_hook_without_selectors(
        runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    child = Child([(0, 998)])
    sensor = hook(rt, [SelectorPlan(pids=(PidFilter("In", (child.pid,)),),
                                    args=(ArgFilter(WHENCE, "Equal", ("999",)),))])
    plain = hook(rt, [], name="plain")
    code, _ = child.go()
    drain(rt)
    rt.remove_tracepoint(sensor)
    rt.remove_tracepoint(plain)
    assert code == 0
    assert events_of(sink, child.pid) == []
    seen = events_of(sink, child.pid, "plain")
    assert 998 in whences(seen)
    assert {e.action for e in seen} == {"KPROBE_ACTION_POST"}


def test_sigkill_kills_the_child(runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    child = Child([(0, 4242), (0, 4243)])
    sensor = hook(rt, [SelectorPlan(pids=(PidFilter("In", (child.pid,)),),
                                    args=(ArgFilter(WHENCE, "Equal", ("4242", "4243")),),
                                    actions=(ActionPlan("Sigkill"),))])
    code, out = child.go()
    drain(rt)
    rt.remove_tracepoint(sensor)
    assert code == -signal.SIGKILL
    assert out == ""  # it never got to print
    got = events_of(sink, child.pid)
    # Killed on its way back from the first call: the second never happened.
    assert whences(got) == [4242]
    assert got[0].action == "KPROBE_ACTION_SIGKILL"


def test_signal_delivers_argsig_to_the_childs_handler(runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    child = Child([(0, 4244), (0, 4245)])
    sensor = hook(rt, [SelectorPlan(pids=(PidFilter("In", (child.pid,)),),
                                    args=(ArgFilter(WHENCE, "Equal", ("4244",)),),
                                    actions=(ActionPlan("Signal", arg_sig=signal.SIGUSR1),))])
    code, out = child.go()
    drain(rt)
    rt.remove_tracepoint(sensor)
    assert code == 0
    assert json.loads(out) == [signal.SIGUSR1]  # its handler ran, once
    got = events_of(sink, child.pid)
    assert whences(got) == [4244]
    assert got[0].action == "KPROBE_ACTION_SIGNAL"
    line = json.loads(sink.lines[sink.events.index(got[0])])
    assert line["process_tracepoint"]["action"] == "KPROBE_ACTION_SIGNAL"
