"""spec.kprobes on syscalls through the hook ladder's syscall fallback: a
kprobe policy, on a kernel where the ladder takes the syscall tracepoints,
gives the process_kprobe events a kprobe would (function name with the
machine's prefix, Tetragon's argument keys, the return value joined to its
call), from real children; enforcement is seen from the child's side."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest
from google.protobuf import json_format

from tests.policy_text import policy
from vigil.api.gen.tetragon import events_pb2
from vigil.events.model import Arg, KprobeEvent, TruncatedBytes
from vigil.kernel.probe import probe_feature
from vigil.policy import PolicyError, load_text
from vigil.runtime import Runtime
from vigil.sensors.compile import compile_policy
from vigil.sensors.kprobe_compile import syscall_function
from vigil.wire.records import CHAR_BUF_MAX

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

PY = "/usr/bin/python3"


def fn(name: str) -> str:
    return syscall_function(f"sys_{name}")[0]


def plans(spec: str, hook_rung: str | None = None) -> list:  # type: ignore[type-arg]
    out = []
    for loaded in load_text(policy(spec), "p.yaml"):
        out += compile_policy(loaded, hook_rung=hook_rung)
    return out


def start(rt: Runtime, spec: str) -> None:
    for plan in plans(spec):
        rt.add_tracepoint(plan)


def kprobe_events(rt: Runtime, sink: Collect, pid: int, want: int) -> list[KprobeEvent]:
    """The kprobe events of `pid`, once `want` of them came (or the bound)."""
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        found = [e for e in sink.events if isinstance(e, KprobeEvent) and e.process.pid == pid]
        if len(found) >= want or time.monotonic() > deadline:
            return found
        rt.step(50)


def test_openat_gives_arguments_and_its_return(runtime: tuple[Runtime, Collect],
                                               tmp_path: Path) -> None:
    rt, sink = runtime
    there = tmp_path / "there"
    there.write_text("x")
    missing = tmp_path / "missing" / "file"
    start(rt, f"""
        kprobes:
        - call: sys_openat
          return: true
          message: "an open under the test's directory"
          tags: [files]
          args:
          - {{index: 0, type: int}}
          - {{index: 1, type: string, label: path}}
          - {{index: 2, type: int}}
          returnArg: {{index: 0, type: int}}
          selectors:
          - matchArgs: [{{index: 1, operator: Prefix, values: ["{tmp_path}/"]}}]
    """)
    child = subprocess.Popen([PY, "-c", f"""
import os
fd = os.open({str(there)!r}, os.O_RDONLY)
print(fd, flush=True)
try:
    os.open({str(missing)!r}, os.O_RDONLY)
except FileNotFoundError:
    pass
"""], stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=EVENT_TIMEOUT)
    fd = int(out)
    evs = kprobe_events(rt, sink, child.pid, 2)
    assert [(e.args, e.ret) for e in evs] == [
        ([Arg("int_arg", -100), Arg("string_arg", str(there), "path"),
          Arg("int_arg", os.O_RDONLY | os.O_CLOEXEC)], Arg("int_arg", fd)),
        ([Arg("int_arg", -100), Arg("string_arg", str(missing), "path"),
          Arg("int_arg", os.O_RDONLY | os.O_CLOEXEC)], Arg("int_arg", -2)),
    ]
    ev = evs[0]
    assert (ev.function_name, ev.action, ev.return_action, ev.policy_name, ev.message,
            ev.tags) == (fn("openat"), "KPROBE_ACTION_POST", "KPROBE_ACTION_POST", "test",
                         "an open under the test's directory", ("files",))
    assert ev.process.binary == PY and ev.parent is not None
    assert ev.parent.pid == os.getpid()
    # Tetragon's schema takes the line as it is.
    line = orjson.loads(sink.lines[sink.events.index(ev)])
    body = line["process_kprobe"]
    assert {k: body[k] for k in ("function_name", "args", "return", "action",
                                 "return_action")} == {
        "function_name": fn("openat"),
        "args": [{"int_arg": -100}, {"string_arg": str(there), "label": "path"},
                 {"int_arg": os.O_RDONLY | os.O_CLOEXEC}],
        "return": {"int_arg": fd}, "action": "KPROBE_ACTION_POST",
        "return_action": "KPROBE_ACTION_POST"}
    json_format.ParseDict(line, events_pb2.GetEventsResponse())
    assert not rt.agent.pending and not rt.agent.decode_errors


def test_both_spellings_of_a_syscall_plan_the_same_hook() -> None:
    short, = plans("kprobes: [{call: sys_getppid}]")
    long, = plans(f"kprobes: [{{call: {fn('getppid')}}}]")
    assert short == long
    assert short.call is not None and short.call.function_name == fn("getppid")
    assert (short.subsys, short.event, short.program.kind) == (
        "syscalls", "sys_enter_getppid", "tracepoint")


def test_write_buffers_either_side_of_the_limit(runtime: tuple[Runtime, Collect]) -> None:
    """char_buf with sizeArgIndex: CHAR_BUF_MAX bytes come whole, one more is
    truncated_bytes_arg with the size the call had."""
    rt, sink = runtime
    sizes = (7, CHAR_BUF_MAX, CHAR_BUF_MAX + 1)
    start(rt, f"""
        kprobes:
        - call: sys_write
          args:
          - {{index: 0, type: int}}
          - {{index: 1, type: char_buf, sizeArgIndex: 3}}
          - {{index: 2, type: size_t}}
          selectors:
          - matchArgs: [{{index: 2, operator: Equal, values: {[str(n) for n in sizes]}}}]
    """)
    child = subprocess.Popen([PY, "-c", f"""
import os
fd = os.open(os.devnull, os.O_WRONLY)
for n in {sizes!r}:
    os.write(fd, bytes((i * 7 + 1) % 256 for i in range(n)))
"""])
    child.wait()
    evs = kprobe_events(rt, sink, child.pid, 3)
    data = [bytes((i * 7 + 1) % 256 for i in range(n)) for n in sizes]
    assert [e.args[1:] for e in evs] == [
        [Arg("bytes_arg", data[0]), Arg("size_arg", 7)],
        [Arg("bytes_arg", data[1]), Arg("size_arg", CHAR_BUF_MAX)],
        [Arg("truncated_bytes_arg", TruncatedBytes(data[2][:CHAR_BUF_MAX], CHAR_BUF_MAX + 1)),
         Arg("size_arg", CHAR_BUF_MAX + 1)],
    ]
    assert all(e.ret is None and e.return_action == "" for e in evs)


READ_POLICY = """
    kprobes:
    - call: sys_read
      return: true
      args:
      - {index: 0, type: int}
      - {index: 1, type: char_buf, sizeArgIndex: 3, returnCopy: true}
      - {index: 2, type: size_t}
      returnArg: {index: 0, type: int}
      selectors:
      - matchArgs: [{index: 2, operator: Equal, values: ["4093", "4097"]}]
"""


def test_read_return_copy_is_what_the_call_read(runtime: tuple[Runtime, Collect]) -> None:
    """returnCopy: the buffer as read(2) filled it, as many bytes as it
    returned; a failed read has none."""
    rt, sink = runtime
    start(rt, READ_POLICY)
    child = subprocess.Popen([PY, "-c", """
import os
r, w = os.pipe()
os.write(w, b"secret\\x00\\xfebytes")
os.read(r, 4093)
try:
    os.read(9999, 4097)
except OSError:
    pass
"""])
    child.wait()
    evs = kprobe_events(rt, sink, child.pid, 2)
    assert [(e.args[1:], e.ret) for e in evs] == [
        ([Arg("bytes_arg", b"secret\x00\xfebytes"), Arg("size_arg", 4093)], Arg("int_arg", 13)),
        ([Arg("bytes_arg", b""), Arg("size_arg", 4097)], Arg("int_arg", -9)),
    ]
    assert evs[1].args[0] == Arg("int_arg", 9999)


def test_two_threads_in_the_same_call_each_get_their_return(
        runtime: tuple[Runtime, Collect]) -> None:
    """Thread A enters read(2) first and returns last: each event carries its
    own thread's return value and bytes (the join is by thread and entry)."""
    rt, sink = runtime
    start(rt, READ_POLICY)
    child = subprocess.Popen([PY, "-c", """
import os, sys, threading, time
ra, wa = os.pipe(); rb, wb = os.pipe()
got = {}
def reader(name, fd):
    got[name] = os.read(fd, 4093)
a = threading.Thread(target=reader, args=("a", ra)); a.start()
time.sleep(0.3)
b = threading.Thread(target=reader, args=("b", rb)); b.start()
time.sleep(0.3)
os.write(wb, b"B" * 5); b.join()
os.write(wa, b"A" * 9); a.join()
assert got == {"a": b"A" * 9, "b": b"B" * 5}, got
"""])
    assert child.wait() == 0
    evs = kprobe_events(rt, sink, child.pid, 2)
    assert sorted((e.args[1].value, e.ret) for e in evs) == [  # type: ignore[type-var]
        (b"A" * 9, Arg("int_arg", 9)), (b"B" * 5, Arg("int_arg", 5))]
    # B's return came first, and the two calls were made by two threads.
    assert [e.args[1].value for e in evs] == [b"B" * 5, b"A" * 9]
    # Two threads made them, and each event names its own (as Tetragon's).
    assert evs[0].process.tid != evs[1].process.tid
    assert {e.process.pid for e in evs} == {child.pid}
    line = orjson.loads(sink.lines[sink.events.index(evs[0])])
    assert line["process_kprobe"]["process"]["tid"] == evs[0].process.tid


def test_sigkill_at_entry_kills_the_caller(runtime: tuple[Runtime, Collect],
                                          tmp_path: Path) -> None:
    """Sigkill on a kprobe's matchActions: the child dies of SIGKILL, and
    the event says KPROBE_ACTION_SIGKILL. (At sys_enter the call itself
    still runs; stopping it needs Override.)"""
    rt, sink = runtime
    target = f"forbidden-{os.getpid()}"
    start(rt, f"""
        kprobes:
        - call: sys_symlinkat
          args:
          - {{index: 0, type: string}}
          - {{index: 1, type: int}}
          - {{index: 2, type: string}}
          selectors:
          - matchArgs: [{{index: 2, operator: Equal, values: ["{target}"]}}]
            matchActions: [{{action: Sigkill}}]
    """)
    # os.symlink with dir_fd is symlinkat(2) (without, glibc calls symlink(2))
    child = subprocess.Popen([PY, "-c", f"import os; d = os.open({str(tmp_path)!r}, os.O_RDONLY);"
                              f"print(d, flush=True); os.symlink('/etc/passwd', {target!r}, "
                              "dir_fd=d); print('survived')"], stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=EVENT_TIMEOUT)
    assert child.returncode == -signal.SIGKILL
    dirfd = int(out.splitlines()[0])
    assert out == f"{dirfd}\n".encode()  # never "survived"
    ev, = kprobe_events(rt, sink, child.pid, 1)
    assert (ev.function_name, ev.action, ev.args) == (
        fn("symlinkat"), "KPROBE_ACTION_SIGKILL",
        [Arg("string_arg", "/etc/passwd"), Arg("int_arg", dirfd), Arg("string_arg", target)])


def test_a_return_awaited_is_dropped_with_its_hook(runtime: tuple[Runtime, Collect]) -> None:
    """A call still in flight when its policy goes is forgotten, not kept."""
    rt, _sink = runtime
    plan, = plans(READ_POLICY)
    sensor = rt.add_tracepoint(plan)
    child = subprocess.Popen([PY, "-c", "import os; r, w = os.pipe(); os.read(r, 4093)"])
    deadline = time.monotonic() + EVENT_TIMEOUT
    while not rt.agent.pending and time.monotonic() < deadline:
        rt.step(50)
    assert [k[1] for k in rt.agent.pending] == [child.pid]
    rt.remove_tracepoint(sensor)
    assert rt.agent.pending == {}
    child.kill()
    child.wait()


def test_plan_errors_name_the_field(tmp_path: Path) -> None:
    def errors(spec: str) -> list[str]:
        with pytest.raises(PolicyError) as err:
            plans(spec)
        return [str(i).removeprefix("p.yaml:") for i in err.value.issues]

    first, = errors("kprobes: [{call: sys_opnat}]")
    assert first.startswith("6:20: spec.kprobes[0].call: syscall opnat (sys_opnat) cannot be "
                            "hooked on this kernel: no tracepoint syscalls/sys_enter_opnat"), first
    assert "did you mean syscalls/sys_enter_openat," in first
    assert errors("kprobes: [{call: sys_getppid, args: [{index: 0, type: int}]}]") == [
        "6:48: spec.kprobes[0].args[0].index: index 0: getppid takes 0 arguments (none)"]
    assert errors("kprobes: [{call: sys_close, args: [{index: 1, type: int}]}]") == [
        "6:46: spec.kprobes[0].args[0].index: index 1: close takes 1 argument (fd)"]
    assert errors("kprobes: [{call: sys_read, args: [{index: 1, type: char_buf, "
                  "sizeArgIndex: 4}]}]") == [
        "6:78: spec.kprobes[0].args[0].sizeArgIndex: sizeArgIndex 4 is past read's 3 "
        "arguments (it counts them from 1)"]
    assert errors("kprobes: [{call: sys_exit_group, return: true, "
                  "returnArg: {index: 0, type: int}}]") == [
        "6:44: spec.kprobes[0].return: exit_group never returns; remove return: true"]
    assert errors("kprobes: [{call: security_file_open}]") == [
        "6:20: spec.kprobes[0].call: 'security_file_open' is not a syscall's function; a kprobe "
        "with syscall: true names one as sys_NAME (sys_openat) or with the machine's prefix "
        f"({fn('openat')[:-len('sys_openat')]}sys_openat)"]
    # The fallback is the ladder's last rung; a rung this kernel lacks is refused
    # when forced, with the reason.
    with pytest.raises(PolicyError) as err:
        plans("kprobes: [{call: sys_getppid}]", hook_rung="kprobe")
    kprobe = probe_feature("kprobe")
    why = ("kprobe: vigil's kprobe sensor is not built yet (issue 9)" if kprobe.available
           else f"kprobe needs kprobe, which this kernel lacks ({kprobe.reason})")
    assert [str(i) for i in err.value.issues] == [
        f"p.yaml:6:20: spec.kprobes[0].call: kprobe on sys_getppid: the forced rung cannot "
        f"attach: {why}"]


def test_vigil_run_with_tetragon_example_policies(tmp_path: Path) -> None:
    """Tetragon's own sys_setuid.yaml and list-syscalls.yaml under `vigil
    run`, as a user runs them: the events their docs show."""
    from .vigil_runner import VigilRun

    examples = Path(__file__).resolve().parents[2].parent / "shared" / "tetragon-examples"
    files = [examples / "tracingpolicy" / n for n in ("sys_setuid.yaml", "list-syscalls.yaml")]
    if not all(f.exists() for f in files):
        pytest.skip(f"Tetragon's examples are not in {examples}")
    run = VigilRun(tmp_path, [a for f in files for a in ("--tracing-policy", str(f))])
    try:
        assert "and 3 policy hooks;" in run.stderr_text
        child = subprocess.Popen([PY, "-c", "import os; os.setuid(os.getuid()); os.dup2(1, 9)"])
        assert child.wait() == 0
        setuid = run.wait_for(lambda e: e.get("process_kprobe", {}).get("function_name")
                              == fn("setuid") and e["process_kprobe"]["process"]["pid"]
                              == child.pid, "the child's setuid")
        dup2 = run.wait_for(lambda e: e.get("process_kprobe", {}).get("function_name")
                            == fn("dup2") and e["process_kprobe"]["process"]["pid"]
                            == child.pid, "the child's dup2")
    finally:
        run.stop()
    assert setuid["process_kprobe"]["args"] == [{"int_arg": os.getuid()}]
    assert setuid["process_kprobe"]["policy_name"] == "syscalls"
    assert "args" not in dup2["process_kprobe"] and "return" not in dup2["process_kprobe"]
    assert dup2["process_kprobe"]["policy_name"] == "list-syscalls"
    json_format.ParseDict(setuid, events_pb2.GetEventsResponse())


def test_explain_shows_the_rung_and_the_return_hook(tmp_path: Path) -> None:
    from vigil.explain.model import explain
    from vigil.explain.render import to_json
    from vigil.sensors.generic_tracepoint import RET_PENDING_ENTRIES

    f = tmp_path / "read.yaml"
    f.write_text(policy(READ_POLICY))
    got = to_json(explain([str(f)]))
    (hook,) = got["policies"][0]["hooks"]
    assert (hook["kind"], hook["target"]) == (
        "kprobe", f"{fn('read')} (on syscalls/sys_enter_read + syscalls/sys_exit_read)")
    assert hook["program"]["kind"] == "tracepoint"
    reason = hook["program"]["reason"]
    assert reason.startswith("syscall_tracepoint: the syscall's syscalls/sys_enter_NAME "), reason
    pending = next(m for m in hook["maps"] if m["name"] == "vigil_ret_pending")
    assert (pending["type"], pending["max_entries"]) == ("hash", RET_PENDING_ENTRIES)
    assert sorted(p["name"] for p in hook["programs"]) == ["vigil_generic_tp",
                                                           "vigil_generic_tp_ret"]
    # Forced onto the rung it took anyway: the same hook, saying it was forced.
    forced = to_json(explain([str(f)], hook_rung="syscall_tracepoint"))
    reason = forced["policies"][0]["hooks"][0]["program"]["reason"]
    assert reason.endswith("; passed over: the rung was forced to syscall_tracepoint"), reason
