"""Selectors on the current task, evaluated in the kernel (lib/sel_task.bpf.h):
matchNamespaces, matchCapabilities and matchPIDs' isNamespacePID, with real
children that change their namespaces or capabilities after exec and then
make exactly the calls the test counts.

Each child sets itself up (unshare(2), capset(2), a fork into a new pid
namespace), says which pid it has in its own pid namespace, then, each time
it is told, calls lseek(fd, 0, MARK) CALLS times: an invalid whence fails
with EINVAL after the tracepoint fired, and nothing else on the host uses it
from these pids. Every case is its own hook (its own policy name); one round
of calls goes through all of them, and each case's counts per child must be
exactly what its filters accept.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Sequence

import pytest

from tests.policy_text import policy
from vigil.events.model import TracepointEvent
from vigil.policy import load_text
from vigil.process.procfs import host_namespaces
from vigil.runtime import Runtime
from vigil.sensors.plan import TracepointHookPlan
from vigil.sensors.sel_task import CapsFilter, NamespaceFilter
from vigil.sensors.selectors import ArgFilter, PidFilter, SelectorPlan
from vigil.sensors.tracepoint_compile import compile_tracepoints
from vigil.wire.records import Selectors, SelTask

from .child_caps import CAPS_PRELUDE
from .runtime_sink import Collect
from .test_tracepoint_selectors import LSEEK, WHENCE

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

MARK = 4243
CALLS = 3
CLONE_NEWUTS = 0x04000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CAP_NET_RAW = 13
CAP_SYS_ADMIN = 21

CHILD = CAPS_PRELUDE + """
import json, os, sys
setup = json.loads(sys.argv[1])

if setup.get("drop_effective"):
    change_caps(setup["drop_effective"], setup.get("inherit", []))
if setup.get("unshare"):
    check(libc.unshare(setup["unshare"]), "unshare")
if setup.get("fork"):
    # A new pid namespace takes effect for the children: the caller stays.
    r, w = os.pipe()
    pid = os.fork()
    if pid:
        print("host", pid, flush=True)
        os.close(w)  # the child speaks after this line
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status))
    os.close(w)
    os.read(r, 1)
fd = os.open("/dev/null", os.O_RDONLY)
print("ready", os.getpid(), flush=True)
for line in sys.stdin:
    for _ in range(setup["calls"]):
        try:
            os.lseek(fd, 0, setup["mark"])
        except OSError:
            pass
    print("done", flush=True)
"""


class Child:
    """A child set up as `setup` says, ready once it has: `pid` is the host's
    pid of the process that makes the calls, `nspid` its own namespace's."""

    def __init__(self, **setup: object) -> None:
        arg = json.dumps({**setup, "calls": CALLS, "mark": MARK})
        self.proc = subprocess.Popen(["/usr/bin/python3", "-c", CHILD, arg],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        if setup.get("fork"):
            word, pid = self._line().split()
            assert word == "host"
            self.pid = int(pid)
        word, nspid = self._line().split()
        assert word == "ready"
        self.nspid = int(nspid)

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"child {self.proc.pid} ended: {self.proc.wait(30)}"
        return line

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        assert self._line() == "done\n"

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(30) == 0

    def caps(self) -> tuple[int, int, int]:
        """Its effective, permitted and inheritable sets, as /proc shows them."""
        with open(f"/proc/{self.pid}/status") as f:
            status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        return tuple(int(status[k], 16) for k in ("CapEff", "CapPrm", "CapInh"))  # type: ignore[return-value]

    def ns(self, name: str) -> int:
        link = os.readlink(f"/proc/{self.pid}/ns/{name}")
        return int(link[link.index("[") + 1 : -1])


@pytest.fixture
def children(request: pytest.FixtureRequest) -> Iterator[dict[str, Child]]:
    made: dict[str, Child] = {}
    try:
        for name, setup in request.param.items():
            made[name] = Child(**setup)
        yield made
    finally:
        for c in made.values():
            if c.proc.poll() is None:
                c.close()


def counts(rt: Runtime, sink: Collect, cases: dict[str, SelectorPlan],
           kids: dict[str, Child]) -> dict[str, dict[str, int]]:
    """Each case as one hook, the children's calls once through all of them:
    per case, how many events each child got."""
    pids = tuple(c.pid for c in kids.values())
    sensors = []
    for name, sel in cases.items():
        # Only these children, only the marked calls; then the case's filters.
        full = SelectorPlan(pids=(PidFilter("In", pids), *sel.pids),
                            args=(ArgFilter(WHENCE, "Equal", (str(MARK),)),),
                            namespaces=sel.namespaces, capabilities=sel.capabilities)
        sensors.append(rt.add_tracepoint(TracepointHookPlan(
            policy_name=name, subsys="syscalls", event="sys_enter_lseek", args=LSEEK,
            selectors=(full,))))
    for c in kids.values():
        c.go()
    # The records were written before each call returned: handle all there are.
    seen = -1
    while seen != len(sink.events):
        seen = len(sink.events)
        rt.step(50)
    for s in sensors:
        rt.remove_tracepoint(s)
    by_pid = {c.pid: name for name, c in kids.items()}
    got: dict[str, dict[str, int]] = {name: {} for name in cases}
    for e in sink.events:
        if isinstance(e, TracepointEvent) and e.policy_name in got and e.process.pid in by_pid:
            kid = by_pid[e.process.pid]
            got[e.policy_name][kid] = got[e.policy_name].get(kid, 0) + 1
    return got


def each(names: Sequence[str]) -> dict[str, int]:
    return {n: CALLS for n in names}


NEW_UTS = {"unshare": CLONE_NEWUSER | CLONE_NEWUTS}


@pytest.mark.parametrize("children", [{"host": {}, "unshared": NEW_UTS}], indirect=True)
def test_match_namespaces(runtime: tuple[Runtime, Collect], children: dict[str, Child]) -> None:
    rt, sink = runtime
    host, unshared = children["host"], children["unshared"]
    assert unshared.ns("uts") != host.ns("uts") and unshared.ns("net") == host.ns("net")
    uts = unshared.ns("uts")

    def ns(kind: str, op: str, *values: str) -> NamespaceFilter:
        return NamespaceFilter(kind, op, values)

    cases = {
        "uts-in-host": SelectorPlan(namespaces=(ns("Uts", "In", "host_ns"),)),
        "uts-notin-host": SelectorPlan(namespaces=(ns("Uts", "NotIn", "host_ns"),)),
        "uts-in-its-inode": SelectorPlan(namespaces=(ns("Uts", "In", str(uts)),)),
        "uts-in-next-inode": SelectorPlan(namespaces=(ns("Uts", "In", str(uts + 1)),)),
        "uts-notin-either": SelectorPlan(namespaces=(ns("Uts", "NotIn", str(uts), "host_ns"),)),
        "uts-in-either": SelectorPlan(namespaces=(ns("Uts", "In", "1", str(uts), "host_ns"),)),
        "net-in-host": SelectorPlan(namespaces=(ns("Net", "In", "host_ns"),)),
        "user-and-uts-not-host": SelectorPlan(namespaces=(ns("User", "NotIn", "host_ns"),
                                                          ns("Uts", "NotIn", "host_ns"))),
        "user-not-host-and-net-not-host": SelectorPlan(namespaces=(
            ns("User", "NotIn", "host_ns"), ns("Net", "NotIn", "host_ns"))),
        "pid-in-host": SelectorPlan(namespaces=(ns("Pid", "In", "host_ns"),)),
    }
    assert counts(rt, sink, cases, children) == {
        "uts-in-host": each(["host"]),
        "uts-notin-host": each(["unshared"]),
        "uts-in-its-inode": each(["unshared"]),
        "uts-in-next-inode": {},
        "uts-notin-either": {},
        "uts-in-either": each(["host", "unshared"]),
        "net-in-host": each(["host", "unshared"]),
        "user-and-uts-not-host": each(["unshared"]),
        "user-not-host-and-net-not-host": {},
        "pid-in-host": each(["host", "unshared"]),
    }


@pytest.mark.parametrize("children", [{
    "keeps": {},
    "dropped": {"drop_effective": [CAP_NET_RAW], "inherit": [CAP_NET_RAW]},
    "userns": {"unshare": CLONE_NEWUSER},
}], indirect=True)
def test_match_capabilities(runtime: tuple[Runtime, Collect],
                            children: dict[str, Child]) -> None:
    rt, sink = runtime
    raw, admin = 1 << CAP_NET_RAW, 1 << CAP_SYS_ADMIN
    # What the children hold, as /proc shows it (root's sets need not be full).
    held, _, _ = children["keeps"].caps()
    assert held & raw and held & admin
    assert children["keeps"].caps() == (held, held, 0)
    assert children["dropped"].caps() == (held & ~raw, held, raw)
    eff, prm, inh = children["userns"].caps()
    assert (eff & raw, eff & admin, prm, inh) == (raw, admin, eff, 0)
    assert children["userns"].ns("user") != children["keeps"].ns("user")

    def caps(ty: str, op: str, *values: str, ns: bool = False) -> SelectorPlan:
        return SelectorPlan(capabilities=(CapsFilter(ty, op, values, ns),))

    cases = {
        "eff-in-raw": caps("Effective", "In", "CAP_NET_RAW"),
        "eff-notin-raw": caps("Effective", "NotIn", "CAP_NET_RAW"),
        "perm-in-raw": caps("Permitted", "In", "CAP_NET_RAW"),
        "perm-notin-raw": caps("Permitted", "NotIn", "CAP_NET_RAW"),
        "eff-in-raw-or-admin": caps("Effective", "In", "CAP_NET_RAW", "CAP_SYS_ADMIN"),
        "eff-notin-raw-nor-admin": caps("Effective", "NotIn", "CAP_NET_RAW", "CAP_SYS_ADMIN"),
        "inh-in-raw": caps("Inheritable", "In", "CAP_NET_RAW"),
        "ns-eff-in-admin": caps("Effective", "In", "CAP_SYS_ADMIN", ns=True),
        "ns-eff-notin-raw": caps("Effective", "NotIn", "CAP_NET_RAW", ns=True),
        "eff-in-admin-and-notin-raw": SelectorPlan(capabilities=(
            CapsFilter("Effective", "In", ("CAP_SYS_ADMIN",)),
            CapsFilter("Effective", "NotIn", ("CAP_NET_RAW",)))),
    }
    assert counts(rt, sink, cases, children) == {
        "eff-in-raw": each(["keeps", "userns"]),
        "eff-notin-raw": each(["dropped"]),
        "perm-in-raw": each(["keeps", "dropped", "userns"]),
        "perm-notin-raw": {},
        "eff-in-raw-or-admin": each(["keeps", "dropped", "userns"]),
        "eff-notin-raw-nor-admin": {},
        # root's inheritable set is empty, a new user namespace's too
        "inh-in-raw": each(["dropped"]),
        "ns-eff-in-admin": each(["userns"]),
        "ns-eff-notin-raw": {},
        "eff-in-admin-and-notin-raw": each(["dropped"]),
    }


@pytest.mark.parametrize("children", [{
    "host": {},
    "pidns": {"unshare": CLONE_NEWPID, "fork": True},
}], indirect=True)
def test_is_namespace_pid(runtime: tuple[Runtime, Collect], children: dict[str, Child]) -> None:
    rt, sink = runtime
    host, pidns = children["host"], children["pidns"]
    assert pidns.nspid == 1 and pidns.pid != 1 and host.nspid == host.pid

    def nspid(op: str, *values: int) -> SelectorPlan:
        return SelectorPlan(pids=(PidFilter(op, values, is_namespace_pid=True),))

    cases = {
        "nspid-in-1": nspid("In", 1),
        "nspid-notin-1": nspid("NotIn", 1),
        "nspid-in-2": nspid("In", 2),
        "nspid-in-host-pid": nspid("In", host.pid),
        "nspid-in-its-host-pid": nspid("In", pidns.pid),
        "nspid-in-1-or-host-pid": nspid("In", 1, host.pid),
        # a host pid filter and a namespace one, ANDed
        "host-pid-and-nspid": SelectorPlan(pids=(
            PidFilter("In", (pidns.pid,)), PidFilter("In", (1,), is_namespace_pid=True))),
        "host-pid-and-nspid-disagree": SelectorPlan(pids=(
            PidFilter("In", (host.pid,)), PidFilter("In", (1,), is_namespace_pid=True))),
    }
    assert counts(rt, sink, cases, children) == {
        "nspid-in-1": each(["pidns"]),
        "nspid-notin-1": each(["host"]),
        "nspid-in-2": {},
        "nspid-in-host-pid": each(["host"]),
        "nspid-in-its-host-pid": {},
        "nspid-in-1-or-host-pid": each(["host", "pidns"]),
        "host-pid-and-nspid": each(["pidns"]),
        "host-pid-and-nspid-disagree": {},
    }


def test_policy_fields_reach_the_plan() -> None:
    """A policy's task selectors, loaded and planned against this kernel's
    tracefs, become exactly these filters."""
    text = policy("""
        tracepoints:
        - subsystem: syscalls
          event: sys_enter_lseek
          args: [{index: WHENCE, type: uint32}]
          selectors:
          - matchPIDs: [{operator: NotIn, values: [1, 2], isNamespacePID: true}]
            matchNamespaces:
            - {namespace: Uts, operator: NotIn, values: [host_ns]}
            - {namespace: PidForChildren, operator: In, values: ["4026531836", host_ns]}
            matchCapabilities:
            - {type: Permitted, operator: In, values: [cap_sys_admin],
               isNamespaceCapability: true}
            - {operator: NotIn, values: [CAP_NET_RAW, DAC_OVERRIDE]}
    """).replace("WHENCE", str(WHENCE))
    (loaded,) = load_text(text, "p.yaml")
    (plan,) = compile_tracepoints(loaded)
    assert plan.selectors == (SelectorPlan(
        pids=(PidFilter("NotIn", (1, 2), is_namespace_pid=True),),
        namespaces=(NamespaceFilter("Uts", "NotIn", ("host_ns",)),
                    NamespaceFilter("PidForChildren", "In", ("4026531836", "host_ns"))),
        capabilities=(CapsFilter("Permitted", "In", ("cap_sys_admin",), True),
                      CapsFilter("Effective", "NotIn", ("CAP_NET_RAW", "DAC_OVERRIDE")))),)
    sel = Selectors.from_buffer_copy(plan.compiled_selectors()).sel[0]
    host = host_namespaces()
    assert (sel.task, sel.nspid, sel.nns, sel.ncaps) == (SelTask.NSPID | SelTask.NS | SelTask.CAPS,
                                                        1, 2, 2)
    assert [sel.ns[1].kind, *sel.ns[1].values[:2]] == [4, 4026531836, host["pid_for_children"]]
    assert (sel.caps[0].host_user_ns, sel.caps[1].mask) == (host["user"], (1 << 13) | (1 << 1))
