"""Raw tracepoints (`raw: true`) on the running kernel: policies planned from
the kernel's BTF, run by the generic tracepoint program as raw_tracepoint
and as tp_btf, read TP_PROTO arguments of real children; their selectors
and actions work as on tracefs hooks.

The children wait on stdin until their hooks are attached, then make exactly
the calls a test names; selectors name the child's pid, so nothing else on
the machine (other tests run at the same time) is counted.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.policy_text import policy
from vigil.events.model import Arg, TracepointEvent
from vigil.policy import Issue, PolicyError, load_text
from vigil.runtime import Runtime
from vigil.sensors.plan import HOOK_PROGRAMS, ProgramChoice, TracepointHookPlan
from vigil.sensors.raw_tracepoint_compile import RawPlanner
from vigil.sensors.tracepoint_compile import compile_tracepoints

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("raw_tracepoint", "ringbuf")

# Both program types a raw hook can run as; the plan prefers raw_tracepoint.
PROGRAMS = ["raw_tracepoint", pytest.param("tp_btf", marks=pytest.mark.needs("tp_btf"))]
# enum bpf_prog_type: BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_PROG_TYPE_TRACING.
PROG_TYPES = {"tracepoint": 5, "raw_tracepoint": 17, "tp_btf": 26}
# getppid(2)'s number: a syscall no Python start-up makes on its own.
GETPPID = {"x86_64": 110, "aarch64": 173}.get(platform.machine())
# The lowest kernel address of the architecture (the upper half).
KERNEL_HALF = 1 << 63

CHILD = """
import json, os, signal, sys
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
steps = json.loads(sys.argv[1])
print('ready', flush=True)
sys.stdin.readline()
for step in steps:
    if step == 'getppid':
        os.getppid()
    elif step == 'fork':
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    else:
        with open('/proc/self/comm', 'w') as f:
            f.write(step)
print(json.dumps(got), flush=True)
"""


class Child:
    """Makes its steps once told to (its interpreter's start-up is over by
    then): 'getppid', 'fork' (and reap), or a name to write to its comm."""

    def __init__(self, steps: Sequence[str], binary: str = "/usr/bin/python3") -> None:
        self.proc = subprocess.Popen([binary, "-c", CHILD, json.dumps(list(steps))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "ready\n"

    def go(self) -> tuple[int, str]:
        out, _ = self.proc.communicate("go\n", timeout=60)
        return self.proc.returncode, out


def plans_of(spec: str, program: str | None = None) -> list[TracepointHookPlan]:
    """The hooks of a policy, planned from its text as `vigil run` does; with
    `program`, run as that program type instead of the one chosen."""
    plans = [p for loaded in load_text(policy(spec), "raw.yaml")
             for p in compile_tracepoints(loaded)]
    if program is not None:
        plans = [dataclasses.replace(p, program=ProgramChoice(program, "forced by the test"))
                 for p in plans]
    return plans


def events_of(rt: Runtime, sink: Collect, pid: int, event: str, want: int = 0,
              policy_name: str = "test") -> list[TracepointEvent]:
    """The events of `event` from process `pid`: waits for `want` of them,
    then handles what else is already in the ring buffer."""
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        rt.step(20)
        found = [e for e in sink.events if isinstance(e, TracepointEvent)
                 and e.process.pid == pid and e.event == event
                 and e.policy_name == policy_name]
        if len(found) >= want or time.monotonic() > deadline:
            break
    for _ in range(3):  # records of calls the child made are in the buffer by now
        rt.step(20)
    return [e for e in sink.events if isinstance(e, TracepointEvent)
            and e.process.pid == pid and e.event == event and e.policy_name == policy_name]


def body(sink: Collect, ev: TracepointEvent) -> dict[str, object]:
    line: dict[str, dict[str, object]] = json.loads(sink.lines[sink.events.index(ev)])
    return line["process_tracepoint"]


def test_a_raw_policy_is_planned_from_btf_and_runs_as_raw_tracepoint() -> None:
    plan, = plans_of("""
        tracepoints:
        - subsystem: sched
          event: sched_process_exec
          raw: true
          args: [{index: 0, type: uint64}, {index: 1, label: old_pid}]
    """)
    assert plan.program.kind == "raw_tracepoint"
    assert plan.program.reason.startswith("BPF_PROG_TYPE_RAW_TRACEPOINT, as Tetragon")
    assert "(probe: loaded, attached, fired on getpid(2))" in plan.program.reason
    # task_struct *p: its value, 8 bytes of slot 0; pid_t old_pid: 4 signed bytes of slot 1.
    assert [(a.index, a.offset, a.size, a.tetragon_type, a.signed, a.label)
            for a in plan.args] == [(0, 0, 8, "uint64", False, ""),
                                    (1, 8, 4, "int", True, "old_pid")]


@pytest.mark.parametrize("program", PROGRAMS)
def test_sched_process_exec_old_pid_and_task_pointer(runtime: tuple[Runtime, Collect],
                                                     tmp_path: Path, program: str) -> None:
    rt, sink = runtime
    plan, = plans_of("""
        tracepoints:
        - subsystem: sched
          event: sched_process_exec
          raw: true
          message: an exec
          tags: [raw]
          args: [{index: 0, type: uint64}, {index: 1}]
    """, program)
    hook = rt.add_tracepoint(plan)
    # Only the plan's entry point is in the kernel, as that program type.
    loaded = {name: p.fd for name, p in hook.programs.items() if p.fd >= 0}
    assert list(loaded) == [HOOK_PROGRAMS[program]]
    fdinfo = Path(f"/proc/self/fdinfo/{loaded[HOOK_PROGRAMS[program]]}").read_text()
    assert f"prog_type:\t{PROG_TYPES[program]}\n" in fdinfo
    binary = tmp_path / "raw-true"
    shutil.copy("/bin/true", binary)
    child = subprocess.Popen([str(binary)])
    assert child.wait() == 0
    got = events_of(rt, sink, child.pid, "sched_process_exec", 1)
    rt.remove_tracepoint(hook)
    assert len(got) == 1, [e.args for e in got]
    ev = got[0]
    task = ev.args[0].value
    assert isinstance(task, int) and task >= KERNEL_HALF  # a kernel address
    assert ev.args == [Arg("size_arg", task), Arg("int_arg", child.pid)]
    assert ev.process.binary == str(binary)
    shown = {k: v for k, v in body(sink, ev).items() if k not in ("process", "parent")}
    assert shown == {
        "subsys": "sched", "event": "sched_process_exec",
        "args": [{"size_arg": str(task)}, {"int_arg": child.pid}],
        "policy_name": "test", "action": "KPROBE_ACTION_POST", "message": "an exec",
        "tags": ["raw"]}


@pytest.mark.parametrize("program", PROGRAMS)
def test_sched_process_fork_parent_and_child_task_pointers(
        runtime: tuple[Runtime, Collect], program: str) -> None:
    """Both are task_struct pointers; what can be read of them is their value
    (a field through resolve is issue 9's): the parent's is the task the
    exec hook saw become the child, the new task's is another."""
    rt, sink = runtime
    exec_plan, = plans_of("""
        tracepoints:
        - {subsystem: sched, event: sched_process_exec, raw: true, args: [{index: 0, type: uint64}]}
    """, program)
    exec_hook = rt.add_tracepoint(exec_plan)
    child = Child(["fork"])
    fork_plan, = plans_of(f"""
        tracepoints:
        - subsystem: sched
          event: sched_process_fork
          raw: true
          args: [{{index: 0, type: uint64, label: parent}},
                 {{index: 1, type: uint64, label: child}}]
          selectors:
          - matchPIDs: [{{operator: In, values: [{child.pid}]}}]
    """, program)
    fork_hook = rt.add_tracepoint(fork_plan)
    code, _ = child.go()
    assert code == 0
    forks = events_of(rt, sink, child.pid, "sched_process_fork", 1)
    execs = events_of(rt, sink, child.pid, "sched_process_exec", 1)
    rt.remove_tracepoint(fork_hook)
    rt.remove_tracepoint(exec_hook)
    assert len(forks) == 1 and len(execs) == 1
    parent, new = (a.value for a in forks[0].args)
    assert [a.label for a in forks[0].args] == ["parent", "child"]
    assert isinstance(new, int) and new >= KERNEL_HALF and new != parent
    assert parent == execs[0].args[0].value


@pytest.mark.skipif(GETPPID is None, reason=f"getppid's number on {platform.machine()}")
@pytest.mark.parametrize("program", PROGRAMS)
def test_sys_enter_id_selector_counts_exactly(runtime: tuple[Runtime, Collect],
                                              program: str) -> None:
    rt, sink = runtime
    child = Child(["getppid"] * 3 + ["fork"])
    plan, = plans_of(f"""
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          raw: true
          args: [{{index: 0, type: uint64, label: regs}}, {{index: 1, label: id}}]
          selectors:
          - matchPIDs: [{{operator: In, values: [{child.pid}]}}]
            matchArgs: [{{index: 1, operator: Equal, values: ["{GETPPID}"]}}]
    """, program)
    hook = rt.add_tracepoint(plan)
    code, _ = child.go()
    got = events_of(rt, sink, child.pid, "sys_enter", 3)
    rt.remove_tracepoint(hook)
    assert code == 0
    assert [e.args[1] for e in got] == [Arg("long_arg", GETPPID, "id")] * 3
    regs = {e.args[0].value for e in got}
    assert len(regs) == 1 and min(regs) >= KERNEL_HALF  # the same thread's pt_regs
    assert body(sink, got[0])["args"] == [{"size_arg": str(min(regs)), "label": "regs"},
                                          {"long_arg": str(GETPPID), "label": "id"}]


@pytest.mark.skipif(GETPPID is None, reason=f"getppid's number on {platform.machine()}")
def test_sys_enter_int_operators_on_the_id(runtime: tuple[Runtime, Collect]) -> None:
    """One child, three hooks: NotEqual drops getppid, InRange of its number
    alone keeps it; an explicit int type on the long reads its low 4 bytes."""
    rt, sink = runtime
    child = Child(["getppid"] * 2)
    hooks = [rt.add_tracepoint(dataclasses.replace(p, policy_name=name)) for name, op, ty in (
        ("in-range", "InRange", "int64"), ("int-eq", "Equal", "int"))
        for p in plans_of(f"""
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          raw: true
          args: [{{index: 1, type: {ty}}}]
          selectors:
          - matchPIDs: [{{operator: In, values: [{child.pid}]}}]
            matchArgs: [{{index: 1, operator: {op},
                          values: ["{GETPPID if op == 'Equal' else f'{GETPPID}:{GETPPID}'}"]}}]
    """)]
    hooks += [rt.add_tracepoint(dataclasses.replace(p, policy_name="not-equal")) for p in plans_of(
        f"""
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          raw: true
          args: [{{index: 1}}]
          selectors:
          - matchPIDs: [{{operator: In, values: [{child.pid}]}}]
            matchArgs: [{{index: 1, operator: NotEqual, values: ["{GETPPID}"]}}]
    """)]
    code, _ = child.go()
    ranged = events_of(rt, sink, child.pid, "sys_enter", 2, "in-range")
    narrow = events_of(rt, sink, child.pid, "sys_enter", 2, "int-eq")
    others = events_of(rt, sink, child.pid, "sys_enter", 1, "not-equal")
    for h in hooks:
        rt.remove_tracepoint(h)
    assert code == 0
    assert [e.args for e in ranged] == [[Arg("long_arg", GETPPID)]] * 2
    assert [e.args for e in narrow] == [[Arg("int_arg", GETPPID)]] * 2
    assert others and GETPPID not in {e.args[0].value for e in others}


def test_task_rename_comm_is_a_kernel_string(runtime: tuple[Runtime, Collect]) -> None:
    """task_rename's `const char *comm` is kernel memory; Equal and Prefix on it."""
    rt, sink = runtime
    child = Child(["vigil-raw-a", "vigil-raw-b", "vigil-raw-bc"])
    hooks = [rt.add_tracepoint(dataclasses.replace(p, policy_name=op)) for op in (
        "Equal", "Prefix", "Postfix") for p in plans_of(f"""
        tracepoints:
        - subsystem: task
          event: task_rename
          raw: true
          args: [{{index: 1, label: comm}}]
          selectors:
          - matchPIDs: [{{operator: In, values: [{child.pid}]}}]
            matchArgs: [{{index: 1, operator: {op}, values: [vigil-raw-b, "-a"]}}]
    """)]
    code, _ = child.go()
    got = {op: [e.args[0].value for e in events_of(rt, sink, child.pid, "task_rename", 1, op)]
           for op in ("Equal", "Prefix", "Postfix")}
    for h in hooks:
        rt.remove_tracepoint(h)
    assert code == 0
    assert got == {"Equal": ["vigil-raw-b"], "Prefix": ["vigil-raw-b", "vigil-raw-bc"],
                   "Postfix": ["vigil-raw-a", "vigil-raw-b"]}


def sys_enter_actions(pid: int, actions: str) -> str:
    return f"""
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          raw: true
          args: [{{index: 1}}]
          selectors:
          - matchPIDs: [{{operator: In, values: [{pid}]}}]
            matchArgs: [{{index: 1, operator: Equal, values: ["{GETPPID}"]}}]
            matchActions: {actions}
    """


@pytest.mark.skipif(GETPPID is None, reason=f"getppid's number on {platform.machine()}")
@pytest.mark.parametrize("program", PROGRAMS)
def test_sigkill_from_a_raw_tracepoint_kills_the_child(runtime: tuple[Runtime, Collect],
                                                       program: str) -> None:
    rt, sink = runtime
    child = Child(["getppid", "getppid"])
    plan, = plans_of(sys_enter_actions(child.pid, "[{action: Sigkill}]"), program)
    hook = rt.add_tracepoint(plan)
    code, out = child.go()
    got = events_of(rt, sink, child.pid, "sys_enter", 1)
    rt.remove_tracepoint(hook)
    assert code == -signal.SIGKILL
    assert out == ""  # killed before it could print what it saw
    # Killed on its way back from the first getppid: there was no second.
    assert [(e.args, e.action) for e in got] == [([Arg("long_arg", GETPPID)],
                                                  "KPROBE_ACTION_SIGKILL")]


@pytest.mark.skipif(GETPPID is None, reason=f"getppid's number on {platform.machine()}")
def test_signal_and_nopost_from_a_raw_tracepoint(runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    child = Child(["getppid", "getppid"])
    plan, = plans_of(sys_enter_actions(
        child.pid, f"[{{action: Signal, argSig: {int(signal.SIGUSR1)}}}, {{action: NoPost}}]"))
    hook = rt.add_tracepoint(plan)
    code, out = child.go()
    got = events_of(rt, sink, child.pid, "sys_enter")
    rt.remove_tracepoint(hook)
    assert code == 0
    assert json.loads(out) == [signal.SIGUSR1] * 2  # its handler ran once per getppid
    assert got == []  # NoPost: nothing was sent


def plan_error(spec: str) -> list[str]:
    with pytest.raises(PolicyError) as err:
        plans_of(spec)
    return [str(i).removeprefix("raw.yaml:") for i in err.value.issues]


def test_a_raw_tracepoint_the_kernel_lacks_names_the_hook() -> None:
    lines = plan_error("""
        tracepoints:
        - {subsystem: sched, event: sched_proces_fork, raw: true}
        - {subsystem: syscalls, event: sys_enter_openat, raw: true}
    """)
    assert len(lines) == 2
    assert lines[0].startswith("7:31: spec.tracepoints[0].event: no raw tracepoint "
                               "sched_proces_fork: the kernel's BTF has no typedef "
                               "btf_trace_sched_proces_fork. Did you mean sched_process_fork, ")
    assert lines[1].startswith("8:34: spec.tracepoints[1].event: no raw tracepoint "
                               "sys_enter_openat: syscalls/sys_enter_openat is a syscall event "
                               "that ftrace builds on raw_syscalls/sys_enter and sys_exit")


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("given", ["linux_binprm", "auto"])
def test_tetragons_rawtp_example_reads_the_binprm(runtime: tuple[Runtime, Collect],
                                                   tmp_path: Path, program: str,
                                                   given: str) -> None:
    """Tetragon's rawtp.yaml: sched_process_exec's struct linux_binprm *,
    given as linux_binprm or inferred from BTF, read as the file executed."""
    rt, sink = runtime
    plan, = plans_of(f"""
        tracepoints:
        - subsystem: sched
          event: sched_process_exec
          raw: true
          args: [{{index: 2, type: {given}}}]
    """, program)
    rt.add_tracepoint(plan)
    binary = tmp_path / "raw-binprm-true"
    shutil.copy("/bin/true", binary)
    child = subprocess.Popen([str(binary)])
    assert child.wait() == 0
    ev, = events_of(rt, sink, child.pid, "sched_process_exec", 1)
    assert [a.key for a in ev.args] == ["linux_binprm_arg"]
    assert body(sink, ev)["args"] == [{"linux_binprm_arg": {
        "path": str(binary), "permission": "-rwxr-xr-x"}}]


def test_struct_types_need_a_raw_tracepoint() -> None:
    """A tracefs record holds copies, not the kernel's pointers: the error
    says to read the raw tracepoint instead."""
    assert plan_error("""
        tracepoints:
        - subsystem: sched
          event: sched_process_exec
          args: [{index: 5, type: linux_binprm}]
    """) == [
        "9:20: spec.tracepoints[0].args[0].index: type linux_binprm reads a kernel struct "
        "through a pointer, and a tracefs record's fields are copies, not the kernel's "
        "pointers; set raw: true to read the tracepoint's own arguments (TP_PROTO)"]


def test_argument_index_and_type_errors_name_the_argument() -> None:
    assert plan_error("""
        tracepoints:
        - subsystem: sched
          event: sched_process_fork
          raw: true
          args: [{index: 2}, {index: 0, type: string}, {index: 1, type: data_loc}]
    """) == [
        "10:20: spec.tracepoints[0].args[0].index: raw tracepoint sched_process_fork has 2 "
        "arguments but index 2 was requested; its arguments: 0=parent: struct task_struct *, "
        "1=child: struct task_struct *",
        "10:41: spec.tracepoints[0].args[1].type: raw tracepoint sched_process_fork argument 0 "
        "(parent: struct task_struct *) holds no string; type string reads a char *",
        "10:67: spec.tracepoints[0].args[2].type: raw tracepoint sched_process_fork argument 1 "
        "(child: struct task_struct *): data_loc is a tracefs record's string; a raw "
        "tracepoint has none (type string reads a char *)"]


def test_a_kernel_that_runs_no_raw_program_is_an_error_at_raw() -> None:
    def none() -> ProgramChoice:
        raise ValueError("this kernel runs no raw tracepoint program: raw_tracepoint "
                         "unavailable: EPERM; tp_btf unavailable: EPERM")

    loaded, = load_text(policy("""
        tracepoints:
        - {subsystem: sched, event: sched_process_exec, raw: true, args: [{index: 1}]}
        - {subsystem: sched, event: sched_process_fork, raw: true}
    """), "raw.yaml")
    issues: list[Issue] = []
    planner = RawPlanner(loaded, choose=none)
    assert [planner.plan(i, tp, issues) for i, tp in
            enumerate(loaded.policy.spec.tracepoints)] == [None, None]
    assert [str(i).removeprefix("raw.yaml:") for i in issues] == [
        f"{7 + i}:56: spec.tracepoints[{i}].raw: this kernel runs no raw tracepoint program: "
        "raw_tracepoint unavailable: EPERM; tp_btf unavailable: EPERM" for i in (0, 1)]


def test_raw_and_tracefs_hooks_of_one_policy_keep_their_order() -> None:
    """The same event both ways: tracefs's pid field (index 5) and TP_PROTO's old_pid."""
    plans = plans_of("""
        tracepoints:
        - {subsystem: sched, event: sched_process_exec, raw: false, args: [{index: 5, type: int}]}
        - {subsystem: sched, event: sched_process_exec, raw: true, args: [{index: 1}]}
    """)
    assert [(p.program.kind, p.args[0].tetragon_type, p.args[0].offset) for p in plans] == [
        ("tracepoint", "int", plans[0].args[0].offset), ("raw_tracepoint", "int", 8)]
    assert plans[0].args[0].offset > 8  # past the common_* fields of the record


def test_a_tracefs_hook_loads_only_the_tracepoint_program(
        runtime: tuple[Runtime, Collect]) -> None:
    rt, _ = runtime
    plan, = plans_of("""
        tracepoints:
        - {subsystem: sched, event: sched_process_exec, args: [{index: 5, type: int}]}
    """)
    hook = rt.add_tracepoint(plan)
    loaded = {name: p.fd for name, p in hook.programs.items() if p.fd >= 0}
    fdinfo = Path(f"/proc/self/fdinfo/{loaded.get('vigil_generic_tp')}").read_text()
    rt.remove_tracepoint(hook)
    assert list(loaded) == ["vigil_generic_tp"]
    assert f"prog_type:\t{PROG_TYPES['tracepoint']}\n" in fdinfo
    assert hook.programs == {}  # closed with its hook
