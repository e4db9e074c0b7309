"""NotifyEnforcer and spec.enforcers: a hook notes what the policy's enforcer
is to do, and the enforcer, on the thread's next call of one of its
functions, sends the signal and makes the call fail. Proven from the
victim's side: the errno its open got, the signal that killed it.

The enforcer needs fmod_ret (or bpf_override_return), which this host
refuses: these run in the VM matrix; here they skip with the probe's reason."""

from __future__ import annotations

import errno
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.kernel.test_syscall_kprobes import PY, fn, kprobe_events
from vigil.events.model import TracepointEvent
from vigil.kernel.probe import probe_feature
from vigil.policy import load_text
from vigil.runtime import Runtime
from vigil.sensors.compile import compile_policy
from vigil.sensors.enforcer import EnforcerPlan, EnforcerRefused, compile_enforcer
from vigil.sensors.plan import TracepointHookPlan

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "tetragon-examples"


def policy(spec: str, name: str = "enforce") -> str:
    return f"apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: {name}\n" \
           f"spec:\n{spec}"


def planned(text: str) -> tuple[list[TracepointHookPlan], EnforcerPlan]:
    """The policy's hooks and enforcer, or a skip with the reason the kernel
    gave (a policy error of any other kind fails the test)."""
    loaded, = load_text(text, "p.yaml")
    for need in ("fmod_ret", "kprobe"):
        f = probe_feature(need)
        if not f.available:
            pytest.skip(f"{need}: {f.reason}")
    enforcer = compile_enforcer(loaded)
    assert enforcer is not None
    return compile_policy(loaded), enforcer


def start(rt: Runtime, text: str) -> EnforcerPlan:
    hooks, enforcer = planned(text)
    rt.add_enforcer(enforcer)
    for plan in hooks:
        rt.add_tracepoint(plan)
    return enforcer


def opener(*paths: Path) -> subprocess.Popen[bytes]:
    """A child that opens each path in turn and prints what it got: "ok" or
    the errno."""
    return subprocess.Popen([PY, "-c", f"""
import os
for p in {[str(p) for p in paths]!r}:
    try:
        os.close(os.open(p, os.O_RDONLY))
        print("ok", flush=True)
    except OSError as e:
        print(e.errno, flush=True)
"""], stdout=subprocess.PIPE)


def deny_open_of(target: Path, action: str, options: str = "") -> str:
    """A kprobe on openat that notifies for `target`, an enforcer on
    security_file_open (the open passes through it once the file is found)."""
    return policy(f"""
  {options}
  enforcers:
  - calls: [security_file_open]
  kprobes:
  - call: sys_openat
    args: [{{index: 1, type: string}}]
    selectors:
    - matchArgs: [{{index: 1, operator: Equal, values: ["{target}"]}}]
      matchActions: [{action}]
""")


def test_enforcer_denies_the_notified_open(runtime: tuple[Runtime, Collect],
                                          tmp_path: Path) -> None:
    rt, sink = runtime
    target, other = tmp_path / "target", tmp_path / "other"
    target.write_text("x")
    other.write_text("y")
    enforcer = start(rt, deny_open_of(target, "{action: NotifyEnforcer, argError: -1}"))
    assert (enforcer.functions, enforcer.method) == (("security_file_open",), "fmod-ret")
    child = opener(target, other, target)
    out, _ = child.communicate(timeout=EVENT_TIMEOUT)
    assert (child.returncode, out.split()) == (0, [str(errno.EPERM).encode(), b"ok",
                                                   str(errno.EPERM).encode()])
    evs = kprobe_events(rt, sink, child.pid, 2)
    assert [(e.function_name, e.action, e.args[0].value) for e in evs] == [
        (fn("openat"), "KPROBE_ACTION_NOTIFYENFORCER", str(target))] * 2
    assert rt.base.loss_counts()["enforcer_overwritten"] == 0


def test_enforcer_sends_the_signal(runtime: tuple[Runtime, Collect], tmp_path: Path) -> None:
    rt, _sink = runtime
    target = tmp_path / "target"
    target.write_text("x")
    start(rt, deny_open_of(target, "{action: NotifyEnforcer, argError: -1, argSig: 9}"))
    child = opener(target)
    out, _ = child.communicate(timeout=EVENT_TIMEOUT)
    assert (child.returncode, out) == (-signal.SIGKILL, b"")


def test_monitor_mode_reports_and_does_not_enforce(runtime: tuple[Runtime, Collect],
                                                   tmp_path: Path) -> None:
    rt, sink = runtime
    target = tmp_path / "target"
    target.write_text("x")
    start(rt, deny_open_of(target, "{action: NotifyEnforcer, argError: -1, argSig: 9}",
                           "options: [{name: policy-mode, value: monitor}]"))
    child = opener(target)
    out, _ = child.communicate(timeout=EVENT_TIMEOUT)
    assert (child.returncode, out) == (0, b"ok\n")
    ev, = kprobe_events(rt, sink, child.pid, 1)
    assert ev.action == "KPROBE_ACTION_NOTIFYENFORCER"


def test_a_note_no_enforcer_took_is_cleaned_up_or_denies_the_next_call(
        runtime: tuple[Runtime, Collect], tmp_path: Path) -> None:
    """An open of a missing file fails (ENOENT) before security_file_open, so
    its note stays: without CleanupEnforcerNotification the thread's next
    open, of any file, is denied; with it at each syscall's exit, it is not
    (and the note is counted as unused)."""
    rt, _sink = runtime
    missing, other = tmp_path / "missing", tmp_path / "other"
    other.write_text("y")
    hooks, enforcer = planned(deny_open_of(missing, "{action: NotifyEnforcer, argError: -1}"))
    running = [rt.add_tracepoint(p) for p in hooks]
    enforcing = rt.add_enforcer(enforcer)
    child = opener(missing, other)
    out, _ = child.communicate(timeout=EVENT_TIMEOUT)
    assert out.split() == [str(errno.ENOENT).encode(), str(errno.EPERM).encode()]
    for sensor in running:
        rt.remove_tracepoint(sensor)
    rt.remove_enforcer(enforcing)

    child = opener_waiting(missing, other)
    before = rt.base.loss_counts()["enforcer_unused"]
    start(rt, _cleanup_policy(missing).replace("@PID@", str(child.pid)))
    out, _ = child.communicate(b"go\n", timeout=EVENT_TIMEOUT)
    assert out.split() == [str(errno.ENOENT).encode(), b"ok"]
    assert rt.base.loss_counts()["enforcer_unused"] == before + 1


def _cleanup_policy(missing: Path) -> str:
    return policy(f"""
  enforcers:
  - calls: [security_file_open]
  tracepoints:
  - subsystem: raw_syscalls
    event: sys_exit
    selectors:
    - matchPIDs: [{{operator: In, values: [@PID@]}}]
      matchActions: [{{action: CleanupEnforcerNotification}}, {{action: NoPost}}]
  kprobes:
  - call: sys_openat
    args: [{{index: 1, type: string}}]
    selectors:
    - matchArgs: [{{index: 1, operator: Equal, values: ["{missing}"]}}]
      matchActions: [{{action: NotifyEnforcer, argError: -1}}]
""")


def opener_waiting(*paths: Path) -> subprocess.Popen[bytes]:
    """opener(), once it has read a line: its pid is known before it opens."""
    return subprocess.Popen([PY, "-c", f"""
import os, sys
sys.stdin.readline()
for p in {[str(p) for p in paths]!r}:
    try:
        os.close(os.open(p, os.O_RDONLY))
        print("ok", flush=True)
    except OSError as e:
        print(e.errno, flush=True)
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def test_killer_example_where_the_kernel_cannot_enforce_on_syscalls(
        runtime: tuple[Runtime, Collect]) -> None:
    """Tetragon's killer.yaml enforces on dup(2) itself: fmod_ret on a
    syscall needs CONFIG_FUNCTION_ERROR_INJECTION (Debian's kernels lack
    it), so loading says so, naming the function; where the kernel has
    bpf_override_return, a bash that dups is killed."""
    rt, _sink = runtime
    text = (EXAMPLES / "tracingpolicy" / "killer.yaml").read_text()
    hooks, enforcer = planned(text)
    assert enforcer.functions == (fn("dup"), fn("dup2"), "__ia32_sys_dup")
    if enforcer.method == "override-return":
        rt.add_enforcer(enforcer)
        for plan in hooks:
            rt.add_tracepoint(plan)
        child = subprocess.run(["/usr/bin/bash", "-c", "exec 3>&1; echo survived"],
                               capture_output=True, timeout=EVENT_TIMEOUT)
        assert (child.returncode, child.stdout) == (-signal.SIGKILL, b"")
        return
    assert enforcer.method == "fmod-ret"
    with pytest.raises(EnforcerRefused) as err:
        rt.add_enforcer(enforcer)
    assert str(err.value).startswith(
        f"policy kill-syscalls: its enforcer cannot make {fn('dup')} return an error on this "
        f"kernel (fmod-ret; {fn('dup')}() is not modifiable). fmod_ret works on security_* "
        "hooks, and on syscalls only in a kernel built with CONFIG_FUNCTION_ERROR_INJECTION"), \
        err.value


def test_vigil_run_loads_the_enforcer(tmp_path: Path) -> None:
    """As a user runs it: `vigil run --tracing-policy` with an enforcer; the
    JSON event says what the hook notified and the victim's open failed."""
    from .vigil_runner import VigilRun

    target = tmp_path / "target"
    target.write_text("x")
    planned(deny_open_of(target, "{action: NotifyEnforcer, argError: -13}"))  # or skip
    policy_file = tmp_path / "deny.yaml"
    policy_file.write_text(deny_open_of(target, "{action: NotifyEnforcer, argError: -13}"))
    run = VigilRun(tmp_path, ["--tracing-policy", str(policy_file)])
    try:
        child = opener(target)
        out, _ = child.communicate(timeout=EVENT_TIMEOUT)
        ev = run.wait_for(lambda e: "process_kprobe" in e
                          and e["process_kprobe"]["process"]["pid"] == child.pid,
                          "the victim's notified open")
    finally:
        run.stop()
    assert out == f"{errno.EACCES}\n".encode()
    body = ev["process_kprobe"]
    assert (body["function_name"], body["action"], body["policy_name"], body["args"]) == (
        fn("openat"), "KPROBE_ACTION_NOTIFYENFORCER", "enforce",
        [{"string_arg": str(target)}])


def test_a_tracepoint_notifies_the_enforcer(runtime: tuple[Runtime, Collect],
                                            tmp_path: Path) -> None:
    """killer.yaml's shape, on a call Debian's kernels let BPF deny: a
    syscall tracepoint (which can change nothing itself) notifies, the
    enforcer on security_file_open denies, and the signal kills."""
    from vigil.kernel.tracefs_format import read_format

    rt, sink = runtime
    target, other = tmp_path / "target", tmp_path / "other"
    target.write_text("x")
    other.write_text("y")
    name = read_format("syscalls", "sys_enter_openat").index_of("filename")
    start(rt, policy(f"""
  enforcers:
  - calls: [security_file_open]
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args: [{{index: {name}, type: string}}]
    selectors:
    - matchArgs: [{{index: {name}, operator: Equal, values: ["{target}"]}}]
      matchActions: [{{action: NotifyEnforcer, argError: -1, argSig: 10}}]
"""))
    child = subprocess.Popen([PY, "-c", f"""
import os, signal
signal.signal(signal.SIGUSR1, lambda *_: print("usr1", flush=True))
for p in {[str(other), str(target)]!r}:
    try:
        os.close(os.open(p, os.O_RDONLY))
        print("ok", flush=True)
    except OSError as e:
        print(e.errno, flush=True)
"""], stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=EVENT_TIMEOUT)
    # (the handler runs once the interpreter checks, before or after the print)
    first, *rest = out.split()
    assert (child.returncode, first, sorted(rest)) == (
        0, b"ok", sorted([b"usr1", str(errno.EPERM).encode()]))
    ev, = tracepoint_events(rt, sink, child.pid, 1)
    assert ev.action == "KPROBE_ACTION_NOTIFYENFORCER"


def tracepoint_events(rt: Runtime, sink: Collect, pid: int, want: int) -> list[TracepointEvent]:
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        found = [e for e in sink.events if isinstance(e, TracepointEvent)
                 and e.process.pid == pid]
        if len(found) >= want or time.monotonic() > deadline:
            return found
        rt.step(50)
