"""matchReturnArgs and matchReturnActions: a kprobe's selector chosen at
the call's entry filters its return value and acts at its return (on the
syscall fallback here, on kprobe and fentry rungs in the VM matrix). A
return refused drops the call's event, entry included; Sigkill at return
kills the caller after the call ran."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.kernel.test_syscall_kprobes import PY, fn, kprobe_events, rung, start
from tests.tetragon_examples import EXAMPLES, MISSING
from vigil.events.model import Arg
from vigil.runtime import Runtime

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

__all__ = ["rung"]


def openat(where: Path, selector: str) -> str:
    return f"""
        kprobes:
        - call: sys_openat
          return: true
          args: [{{index: 1, type: string}}]
          returnArg: {{index: 0, type: int}}
          selectors:
          - matchArgs: [{{index: 1, operator: Prefix, values: ["{where}/"]}}]
{selector}
    """


def run(code: str) -> subprocess.Popen[bytes]:
    """A child running `code`, waited for; its stdout kept."""
    child = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = child.communicate(timeout=EVENT_TIMEOUT)
    child.stdout_bytes = out  # type: ignore[attr-defined]
    assert child.returncode == 0, err
    return child


def opens(paths: list[Path]) -> subprocess.Popen[bytes]:
    return run(f"""
import os
for p in {[str(p) for p in paths]!r}:
    try:
        os.close(os.open(p, os.O_RDONLY))
    except OSError:
        pass
""")


def test_return_args_drop_the_calls_they_refuse(runtime: tuple[Runtime, Collect],
                                                tmp_path: Path, rung: str) -> None:
    """GT 0 on the return value: the opens that failed (-2) are not
    reported, those that gave a descriptor are; nothing waits for a return."""
    rt, sink = runtime
    there = [tmp_path / "a", tmp_path / "b"]
    for p in there:
        p.write_text("")
    missing = tmp_path / "missing"
    start(rt, openat(tmp_path, """
            matchReturnArgs: [{index: 0, operator: GT, values: ["0"]}]"""), rung)
    child = opens([missing, there[0], missing, there[1]])
    evs = kprobe_events(rt, sink, child.pid, 2)
    assert [(e.args[0].value, e.return_action) for e in evs] == [
        (str(there[0]), "KPROBE_ACTION_POST"), (str(there[1]), "KPROBE_ACTION_POST")]
    assert all(isinstance(e.ret, Arg) and isinstance(e.ret.value, int) and e.ret.value > 0
               for e in evs)
    rt.step(50)
    assert not rt.agent.pending and not rt.agent.decode_errors


@pytest.mark.parametrize(("operator", "values", "kept"), [
    ("Equal", '["-2"]', "missing"), ("NotEqual", '["-2"]', "there"),
    ("InRange", '["-4:-1"]', "missing"), ("LT", '["0"]', "missing"),
    ("InMap", '["-13", "-2"]', "missing"), ("NotInMap", '["-13", "-2"]', "there"),
])
def test_return_arg_operators(runtime: tuple[Runtime, Collect], tmp_path: Path, rung: str,
                              operator: str, values: str, kept: str) -> None:
    rt, sink = runtime
    there, missing = tmp_path / "there", tmp_path / "missing"
    there.write_text("")
    start(rt, openat(tmp_path, f"""
            matchReturnArgs: [{{index: 0, operator: {operator}, values: {values}}}]"""), rung)
    # the last open is always the one kept, so the wait has an end
    order = [there, missing] if kept == "missing" else [missing, there]
    child = opens(order)
    evs = kprobe_events(rt, sink, child.pid, 1)
    assert [e.args[0].value for e in evs] == [str(tmp_path / kept)]


def test_sigkill_at_return_kills_after_the_call(runtime: tuple[Runtime, Collect],
                                                tmp_path: Path, rung: str) -> None:
    """matchReturnActions Sigkill on an open that failed: the caller dies
    (the open came back first: the file it created exists), and the event
    names the action at return."""
    rt, sink = runtime
    made = tmp_path / "made"
    start(rt, openat(tmp_path, """
            matchReturnArgs: [{index: 0, operator: GT, values: ["-1"]}]
            matchReturnActions: [{action: Sigkill}]"""), rung)
    child = subprocess.Popen([PY, "-c", f"""
import os
os.open({str(made)!r}, os.O_WRONLY | os.O_CREAT, 0o600)
print("survived", flush=True)
"""], stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=EVENT_TIMEOUT)
    assert (child.returncode, out) == (-signal.SIGKILL, b"")
    assert made.exists()
    ev, = kprobe_events(rt, sink, child.pid, 1)
    assert (ev.args, ev.action, ev.return_action) == (
        [Arg("string_arg", str(made))], "KPROBE_ACTION_POST", "KPROBE_ACTION_SIGKILL")


def test_nopost_at_return_sends_nothing(runtime: tuple[Runtime, Collect], tmp_path: Path,
                                        rung: str) -> None:
    """matchReturnActions NoPost in the first selector; a second selector
    (another file) posts, so the wait has an end."""
    rt, sink = runtime
    quiet, loud = tmp_path / "quiet", tmp_path / "loud"
    quiet.write_text("")
    loud.write_text("")
    start(rt, f"""
        kprobes:
        - call: sys_openat
          return: true
          args: [{{index: 1, type: string}}]
          returnArg: {{index: 0, type: int}}
          selectors:
          - matchArgs: [{{index: 1, operator: Equal, values: ["{quiet}"]}}]
            matchReturnActions: [{{action: NoPost}}]
          - matchArgs: [{{index: 1, operator: Equal, values: ["{loud}"]}}]
    """, rung)
    child = opens([quiet, loud])
    evs = kprobe_events(rt, sink, child.pid, 1)
    assert [e.args[0].value for e in evs] == [str(loud)]
    rt.step(50)
    assert not rt.agent.pending and not rt.agent.decode_errors


def test_tetragons_openat_write_example(runtime: tuple[Runtime, Collect], tmp_path: Path,
                                        rung: str) -> None:
    """tracingpolicy/openat_write.yaml with its file, /etc/passwd, swapped
    for one of the test's (nothing here opens /etc/passwd for writing):
    opens for writing that gave a descriptor are reported, a read-only one
    and a failed one are not."""
    from vigil.policy import load_text
    from vigil.sensors.compile import compile_policy

    rt, sink = runtime
    f = EXAMPLES / "tracingpolicy" / "openat_write.yaml"
    if not f.exists():
        pytest.skip(MISSING)
    target = tmp_path / "passwd"
    target.write_text("")
    text = f.read_text()
    assert text.count('"/etc/passwd"') == 1
    for loaded in load_text(text.replace('"/etc/passwd"', f'"{target}"'), str(f)):
        for plan in compile_policy(loaded, hook_rung=rung):
            rt.add_tracepoint(plan)
    child = run(f"""
import os
os.close(os.open({str(target)!r}, os.O_RDONLY))
os.chmod({str(target)!r}, 0)
os.setuid(65534)
try:
    os.open({str(target)!r}, os.O_WRONLY)
except PermissionError:
    pass
""")
    os.chmod(target, 0o644)
    writer = run(f"import os; print(os.open({str(target)!r}, os.O_WRONLY | os.O_APPEND))")
    fd = int(writer.stdout_bytes)  # type: ignore[attr-defined]
    ev, = kprobe_events(rt, sink, writer.pid, 1)
    assert (ev.function_name, ev.args, ev.ret) == (fn("openat"), [
        Arg("int_arg", -100), Arg("string_arg", str(target)),
        Arg("int_arg", os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)], Arg("int_arg", fd))
    assert kprobe_events(rt, sink, child.pid, 0) == []
