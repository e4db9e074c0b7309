"""matchNamespaceChanges and matchCapabilityChanges, evaluated in the kernel
against what each process had at exec (sensors/baselines.py,
lib/sel_task.bpf.h), with real children that unshare(2) namespaces or drop
capabilities with capset(2) between rounds of calls.

Every case is its own hook on sys_enter_lseek, filtering on a whence value of
its own (an invalid whence fails with EINVAL after the tracepoint fired, and
nothing else on the host uses it), and its own child. A round is CALLS such
calls and then one with SENTINEL, which a hook without change filters always
posts: records leave the ring in the order they were reserved, so once the
sentinel of a round is in, every event of that round is too, and a count of
0 is a count, not a timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.policy_text import policy
from vigil.events.model import TracepointEvent
from vigil.policy import load_text
from vigil.runtime import Runtime
from vigil.sensors.plan import TracepointHookPlan
from vigil.sensors.sel_task import CapsFilter, NamespaceChangesFilter
from vigil.sensors.selectors import ArgFilter, SelectorPlan
from vigil.sensors.tracepoint_compile import compile_tracepoints
from vigil.wire.records import Baseline, Selectors, SelTask

from .child_caps import CAPS_PRELUDE
from .runtime_sink import Collect
from .test_tracepoint_selectors import LSEEK, WHENCE
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

CALLS = 3
SENTINEL = 5100
CLONE_NEWUTS = 0x04000000
CLONE_NEWUSER = 0x10000000
CAP_NET_RAW = 13
CAP_SYS_ADMIN = 21

CHILD = CAPS_PRELUDE + """
import os, sys
mark, sentinel, calls = (int(x) for x in sys.argv[1:4])
fd = os.open("/dev/null", os.O_RDONLY)

def lseek(whence):
    try:
        os.lseek(fd, 0, whence)
    except OSError:
        pass

def round_():
    for _ in range(calls):
        lseek(mark)
    lseek(sentinel)

print("ready", os.getpid(), flush=True)
for line in sys.stdin:
    cmd, *arg = line.split()
    if cmd == "round":
        round_()
        print("done", os.getpid(), flush=True)
    elif cmd == "unshare":
        check(libc.unshare(int(arg[0])), "unshare")
        print("done", os.getpid(), flush=True)
    elif cmd == "drop":  # a capability out of the effective set
        change_caps([int(arg[0])])
        print("done", os.getpid(), flush=True)
    elif cmd == "spawn":  # a round from a new child, which does not exec
        pid = os.fork()
        if pid == 0:
            if arg:  # the child unshares first
                check(libc.unshare(int(arg[0])), "unshare")
            round_()
            os._exit(0)
        os.waitpid(pid, 0)
        print("done", pid, flush=True)
    elif cmd == "exec":  # the same program again: a new image of this process
        os.execv(sys.executable, [sys.executable, *sys.argv])
"""


class Kid:
    """A child whose calls carry `mark`; each command waits for its answer."""

    def __init__(self, script: Path, mark: int) -> None:
        self.mark = mark
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(mark), str(SENTINEL), str(CALLS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self._answer("ready")

    def _answer(self, word: str) -> int:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"child {self.proc.pid} ended: {self.proc.wait(30)}"
        got, pid = line.split()
        assert got == word, line
        return int(pid)

    def do(self, cmd: str) -> int:
        """Run a command; the pid that ran it (a spawned child's for spawn)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._answer("ready" if cmd == "exec" else "done")

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            assert self.proc.wait(30) == 0


class Cases:
    """One hook per case plus the sentinel hook, on one runtime."""

    def __init__(self, rt: Runtime, sink: Collect, script: Path) -> None:
        self.rt, self.sink, self.script = rt, sink, script
        self.kids: dict[str, Kid] = {}
        self.sensors = [self._hook("sentinel", SelectorPlan(
            args=(ArgFilter(WHENCE, "Equal", (str(SENTINEL),)),)))]
        self._next_mark = SENTINEL + 1

    def _hook(self, name: str, sel: SelectorPlan) -> object:
        return self.rt.add_tracepoint(TracepointHookPlan(
            policy_name=name, subsys="syscalls", event="sys_enter_lseek", args=LSEEK,
            selectors=(sel,)))

    def add(self, name: str, sel: SelectorPlan, kid: Kid | None = None) -> Kid:
        """Case `name`: its changes filters on the calls of its kid (a new one
        unless given, started after the hook is)."""
        mark = kid.mark if kid else self._next_mark
        self._next_mark += 1
        self.sensors.append(self._hook(name, SelectorPlan(
            args=(ArgFilter(WHENCE, "Equal", (str(mark),)),),
            namespace_changes=sel.namespace_changes,
            capability_changes=sel.capability_changes)))
        self.kids[name] = kid or Kid(self.script, mark)
        return self.kids[name]

    def round(self, name: str, cmd: str = "round") -> int:
        """One round of case `name`'s kid: how many events its hook posted."""
        start = len(self.sink.events)
        pid = self.kids[name].do(cmd)
        deadline = time.monotonic() + EVENT_TIMEOUT
        while not any(self._is(e, "sentinel", pid) for e in self.sink.events[start:]):
            assert time.monotonic() < deadline, f"{name}: no sentinel from {pid}"
            self.rt.step(50)
        return sum(self._is(e, name, pid) for e in self.sink.events[start:])

    @staticmethod
    def _is(e: object, policy_name: str, pid: int) -> bool:
        return (isinstance(e, TracepointEvent) and e.policy_name == policy_name
                and e.process.pid == pid)

    def close(self) -> None:
        for k in self.kids.values():
            k.close()


@pytest.fixture
def cases(runtime: tuple[Runtime, Collect], tmp_path: Path) -> Iterator[Cases]:
    rt, sink = runtime
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    c = Cases(rt, sink, script)
    try:
        yield c
    finally:
        c.close()


def ns_change(op: str, *kinds: str) -> SelectorPlan:
    return SelectorPlan(namespace_changes=(NamespaceChangesFilter(op, kinds),))


def cap_change(ty: str, op: str, *caps: str, ns: bool = False) -> SelectorPlan:
    return SelectorPlan(capability_changes=(CapsFilter(ty, op, caps, ns),))


NEW_UTS = str(CLONE_NEWUSER | CLONE_NEWUTS)


@pytest.mark.parametrize(("sel", "after_unshare"), [
    (ns_change("In", "Uts"), 1),
    (ns_change("In", "Uts", "Net"), 1),
    (ns_change("In", "Net"), 0),
    (ns_change("In", "User"), 1),
    # NotIn: a change of a kind not listed
    (ns_change("NotIn", "Uts"), 1),      # User changed too
    (ns_change("NotIn", "Uts", "User"), 0),
    (ns_change("NotIn"), 1),             # any kind
    (ns_change("NotIn", "Net", "Mnt"), 1),
])
def test_a_namespace_change_is_reported_once(cases: Cases, sel: SelectorPlan,
                                             after_unshare: int) -> None:
    cases.add("case", sel)
    assert cases.round("case") == 0, "nothing changed since exec"
    cases.kids["case"].do(f"unshare {NEW_UTS}")
    # The first call after the change matches; it becomes the new baseline.
    assert cases.round("case") == after_unshare
    assert cases.round("case") == 0


def test_each_new_change_is_reported(cases: Cases) -> None:
    cases.add("uts", ns_change("In", "Uts"))
    assert cases.round("uts") == 0
    cases.kids["uts"].do(f"unshare {NEW_UTS}")
    assert cases.round("uts") == 1
    # Root in its new user namespace: another UTS namespace of its own.
    cases.kids["uts"].do(f"unshare {CLONE_NEWUTS}")
    assert cases.round("uts") == 1
    assert cases.round("uts") == 0


@pytest.mark.parametrize(("sel", "after_drop"), [
    (cap_change("Effective", "In", "CAP_NET_RAW"), 1),
    (cap_change("Effective", "In", "CAP_SYS_ADMIN", "CAP_NET_RAW"), 1),
    (cap_change("Effective", "In", "CAP_SYS_ADMIN"), 0),
    # NotIn: only capabilities other than these changed
    (cap_change("Effective", "NotIn", "CAP_SYS_ADMIN"), 1),
    (cap_change("Effective", "NotIn", "CAP_NET_RAW"), 0),
    (cap_change("Effective", "NotIn"), 1),  # any change of the set
    # the permitted set did not change
    (cap_change("Permitted", "In", "CAP_NET_RAW"), 0),
    (cap_change("Permitted", "NotIn"), 0),
    # in the host's user namespace: never, as Tetragon's isNamespaceCapability
    (cap_change("Effective", "In", "CAP_NET_RAW", ns=True), 0),
])
def test_a_capability_change_is_reported_once(cases: Cases, sel: SelectorPlan,
                                              after_drop: int) -> None:
    cases.add("case", sel)
    assert cases.round("case") == 0
    cases.kids["case"].do(f"drop {CAP_NET_RAW}")
    assert cases.round("case") == after_drop
    assert cases.round("case") == 0


def test_capability_change_filters_are_anded(cases: Cases) -> None:
    both = SelectorPlan(capability_changes=(
        CapsFilter("Effective", "In", ("CAP_NET_RAW",)),
        CapsFilter("Permitted", "NotIn", ())))
    one = SelectorPlan(capability_changes=(
        CapsFilter("Effective", "In", ("CAP_NET_RAW",)),
        CapsFilter("Effective", "NotIn", ("CAP_NET_RAW",))))
    cases.add("perm-too", both)
    cases.add("contradiction", one)
    for name in ("perm-too", "contradiction"):
        cases.kids[name].do(f"drop {CAP_NET_RAW}")
        assert cases.round(name) == 0, name


def test_a_namespace_and_a_capability_change_together(cases: Cases) -> None:
    sel = SelectorPlan(namespace_changes=(NamespaceChangesFilter("In", ("Uts",)),),
                       capability_changes=(CapsFilter("Effective", "In", ("CAP_NET_RAW",)),))
    kid = cases.add("both", sel)
    kid.do(f"unshare {NEW_UTS}")
    # In its new user namespace the task holds every capability, as root did.
    assert cases.round("both") == 0, "only the namespace changed"
    kid.do(f"drop {CAP_NET_RAW}")
    assert cases.round("both") == 1
    assert cases.round("both") == 0


def test_fork_and_exec_take_a_new_baseline(cases: Cases) -> None:
    kid = cases.add("uts", ns_change("In", "Uts"))
    kid.do(f"unshare {NEW_UTS}")
    # A child forked after the change starts from it: nothing to report...
    assert cases.round("uts", "spawn") == 0
    # ...until it changes what it had at fork (a baseline taken only at its
    # first hook would miss this one).
    assert cases.round("uts", f"spawn {CLONE_NEWUTS}") == 1
    # The process itself still has the change to report, until an exec
    # makes what it has then its baseline.
    kid.do("exec")
    assert cases.round("uts") == 0


def test_processes_running_before_the_policy_are_compared_with_their_exec(
        cases: Cases) -> None:
    """Seeded from the process cache, which holds what the kid had at exec:
    a change made before the hook came is still a change."""
    early = Kid(cases.script, mark=SENTINEL + 100)
    try:
        early.do(f"unshare {NEW_UTS}")
        # Its exec record is in the ring (it said ready after exec): adding
        # the hook brings it into the cache before seeding.
        cases.add("early", ns_change("In", "Uts"), kid=early)
        assert cases.round("early") == 1
        assert cases.round("early") == 0
    finally:
        cases.kids.pop("early", None)
        early.close()


def test_baselines_are_kept_only_while_a_hook_needs_them(
        runtime: tuple[Runtime, Collect], tmp_path: Path) -> None:
    rt, sink = runtime
    baselines = rt.base.obj.maps["vigil_task_baseline"]
    assert list(baselines.keys()) == []
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    c = Cases(rt, sink, script)
    try:
        c.add("a", ns_change("In", "Uts"))
        c.add("b", cap_change("Effective", "In", "CAP_NET_RAW"))
        kid = c.kids["a"]
        # The kid exec'd after the hook: the kernel wrote its baseline.
        present = list(baselines.keys())
        keys = {k[4:8]: k for k in present}
        pid = kid.pid.to_bytes(4, "little")
        assert pid in keys
        b = Baseline.from_buffer_copy(baselines.lookup(keys[pid]))
        with open(f"/proc/{kid.pid}/status") as f:
            status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        assert (b.caps[0], b.caps[1], b.caps[2]) == (
            int(status["CapPrm"], 16), int(status["CapEff"], 16), int(status["CapInh"], 16))
        assert b.ns.uts == os.stat(f"/proc/{kid.pid}/ns/uts").st_ino
        for s in c.sensors[1:]:
            rt.remove_tracepoint(s)  # type: ignore[arg-type]
        assert list(baselines.keys()) == []
        # The kernel keeps none now: a new process gets none.
        late = Kid(script, mark=SENTINEL + 200)
        late.close()
        assert list(baselines.keys()) == []
    finally:
        c.close()


def test_policy_fields_reach_the_plan() -> None:
    text = policy("""
        tracepoints:
        - subsystem: syscalls
          event: sys_enter_lseek
          selectors:
          - matchNamespaceChanges: [{operator: NotIn, values: [mnt, Net]}]
            matchCapabilityChanges:
            - {type: Effective, operator: In, values: [CAP_SYS_ADMIN],
               isNamespaceCapability: true}
    """)
    (loaded,) = load_text(text, "p.yaml")
    (plan,) = compile_tracepoints(loaded)
    assert plan.needs_baselines
    assert plan.selectors == (SelectorPlan(
        namespace_changes=(NamespaceChangesFilter("NotIn", ("mnt", "Net")),),
        capability_changes=(CapsFilter("Effective", "In", ("CAP_SYS_ADMIN",), True),)),)
    sel = Selectors.from_buffer_copy(plan.compiled_selectors()).sel[0]
    assert sel.task == SelTask.NS_CHANGE | SelTask.CAP_CHANGE
    assert sel.ns_change == 0b11_1111_1111 & ~(1 << 2 | 1 << 5)
    assert (sel.ncap_changes, sel.cap_changes[0].mask) == (1, 1 << CAP_SYS_ADMIN)
