"""spec.kprobes on syscalls, on each rung of the hook ladder this kernel
offers (kprobe, fentry, the syscall tracepoints; the tests run once per
rung, forced, and a rung the kernel lacks is skipped with the reason): the
same process_kprobe events whichever rung (function name with the machine's
prefix, Tetragon's argument keys, the return value joined to its call),
from real children; enforcement is seen from the child's side."""

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
from tests.tetragon_examples import EXAMPLES, MISSING, runnable_example
from vigil.api.gen.tetragon import events_pb2
from vigil.events.model import Arg, KprobeEvent, TruncatedBytes
from vigil.kernel.probe import probe_feature
from vigil.policy import PolicyError, load_text
from vigil.runtime import Runtime
from vigil.sensors.compile import compile_policy
from vigil.sensors.generic_tracepoint import KRETPROBE_MAXACTIVE
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


# fentry is tested on kernel functions (below): Debian's 5.10, 6.1 and 6.12
# have no __x64_sys_* functions in their BTF, so it never takes a syscall
# there (test_plan_errors_name_the_field checks that it says so).
RUNGS = ("kprobe", "syscall_tracepoint")


@pytest.fixture(params=RUNGS)
def rung(request: pytest.FixtureRequest) -> str:
    """Each rung in turn; skipped, with the ladder's reason, where it cannot
    attach (the VM matrix runs the kprobe and fentry ones)."""
    name: str = request.param
    try:
        plans("kprobes: [{call: sys_getppid, return: true, returnArg: {index: 0, type: int}}]",
              name)
    except PolicyError as err:
        # Only a rung this kernel lacks is a skip; any other error is the test's.
        message = str(err.issues[0])
        if "the forced rung cannot attach: " not in message:
            raise
        pytest.skip(message.split("the forced rung cannot attach: ", 1)[1])
    return name


def start(rt: Runtime, spec: str, rung: str | None = None) -> None:
    for plan in plans(spec, rung):
        if rung is not None:
            assert plan.program.kind == {"syscall_tracepoint": "tracepoint"}.get(rung, rung)
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
                                               tmp_path: Path, rung: str) -> None:
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
    """, rung)
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
    where = ("syscalls", "sys_enter_getppid") if short.program.kind == "tracepoint" else (
        "", fn("getppid"))
    assert (short.subsys, short.event) == where


def test_write_buffers_either_side_of_the_limit(runtime: tuple[Runtime, Collect],
                                                rung: str) -> None:
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
    """, rung)
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


def test_read_return_copy_is_what_the_call_read(runtime: tuple[Runtime, Collect],
                                                rung: str) -> None:
    """returnCopy: the buffer as read(2) filled it, as many bytes as it
    returned; a failed read has none."""
    rt, sink = runtime
    start(rt, READ_POLICY, rung)
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
        runtime: tuple[Runtime, Collect], rung: str) -> None:
    """Thread A enters read(2) first and returns last: each event carries its
    own thread's return value and bytes (the join is by thread and entry)."""
    rt, sink = runtime
    start(rt, READ_POLICY, rung)
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
                                          tmp_path: Path, rung: str) -> None:
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
    """, rung)
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
    # On the kprobe rung the kretprobe is a kprobe_events entry of this
    # process, with room for many calls in flight; it goes with the hook.
    ours = f"vigil/r{os.getpid()}_"

    def kretprobes() -> list[str]:
        from vigil.libbpf.kprobe_events import tracefs_root

        root = tracefs_root()
        text = (root / "kprobe_events").read_text() if root is not None else ""
        return [line for line in text.splitlines() if ours in line]

    from vigil.libbpf.kprobe_events import tracefs_root

    if plan.program.kind == "kprobe" and tracefs_root() is not None:
        (line,) = kretprobes()
        assert line.startswith(f"r{KRETPROBE_MAXACTIVE}:{ours}") and line.endswith(
            f" {fn('read')}"), line
    rt.remove_tracepoint(sensor)
    assert rt.agent.pending == {}
    assert kretprobes() == []
    child.kill()
    child.wait()


def test_plan_errors_name_the_field(tmp_path: Path) -> None:
    def errors(spec: str) -> list[str]:
        with pytest.raises(PolicyError) as err:
            plans(spec)
        return [str(i).removeprefix("p.yaml:") for i in err.value.issues]

    # Not found by any rung: each says why (where it looked), the tracepoint
    # rung with the nearest names.
    first, = errors("kprobes: [{call: sys_opnat}]")
    assert first.startswith("6:20: spec.kprobes[0].call: kprobe on sys_opnat: no way to attach "
                            "it on this kernel: "), first
    assert "; syscall_tracepoint: no tracepoint syscalls/sys_enter_opnat: " in first
    assert "did you mean syscalls/sys_enter_openat," in first
    if probe_feature("kprobe").available:
        assert (f"; kprobe: {fn('opnat')} is not a kernel function here (not in "
                "/proc/kallsyms);") in first
    # ignore.callNotFound: a call found nowhere is skipped, as Tetragon does
    assert plans("kprobes: [{call: sys_opnat, ignore: {callNotFound: true}}]") == []
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
    # A forced rung the kernel lacks is refused with the reason; one it has
    # is taken.
    for name, feature in (("kprobe", "kprobe"), ("fentry", "fentry")):
        probe = probe_feature(feature)
        if probe.available and (name == "kprobe" or in_btf(fn("getppid"))):
            plan, = plans("kprobes: [{call: sys_getppid}]", hook_rung=name)
            assert plan.program.kind == name and plan.event == fn("getppid")
            continue
        why = (f"{name} needs {feature}, which this kernel lacks ({probe.reason})"
               if not probe.available else
               f"fentry: {fn('getppid')} is not in the kernel's BTF (/sys/kernel/btf/vmlinux), "
               "which an fentry program is attached through")
        with pytest.raises(PolicyError) as err:
            plans("kprobes: [{call: sys_getppid}]", hook_rung=name)
        assert [str(i) for i in err.value.issues] == [
            f"p.yaml:6:20: spec.kprobes[0].call: kprobe on sys_getppid: the forced rung cannot "
            f"attach: {why}"]


def in_btf(function: str) -> bool:
    from vigil.libbpf.btf_types import Btf, BtfKind

    btf = Btf.vmlinux()
    try:
        return btf.find(function, BtfKind.FUNC) is not None
    finally:
        btf.close()


def test_vigil_run_with_tetragon_example_policies(tmp_path: Path) -> None:
    """Tetragon's own sys_setuid.yaml and list-syscalls.yaml under `vigil
    run`, as a user runs them: the events their docs show."""
    from .vigil_runner import VigilRun

    files = [EXAMPLES / "tracingpolicy" / n for n in ("sys_setuid.yaml", "list-syscalls.yaml")]
    if not all(f.exists() for f in files):
        pytest.skip(MISSING)
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
    got = to_json(explain([str(f)], hook_rung="syscall_tracepoint"))
    (hook,) = got["policies"][0]["hooks"]
    assert (hook["kind"], hook["target"]) == (
        "kprobe", f"{fn('read')} (on syscalls/sys_enter_read + syscalls/sys_exit_read)")
    assert hook["program"] == {"kind": "tracepoint", "reason": (
        "syscall_tracepoint: the syscall's syscalls/sys_enter_NAME tracepoint (and sys_exit_NAME "
        "for its return), whose fields are the call's arguments; passed over: the rung was "
        "forced to syscall_tracepoint")}
    pending = next(m for m in hook["maps"] if m["name"] == "vigil_ret_pending")
    assert (pending["type"], pending["max_entries"]) == ("hash", RET_PENDING_ENTRIES)
    assert sorted(p["name"] for p in hook["programs"]) == ["vigil_generic_tp",
                                                           "vigil_generic_tp_ret"]
    # Unforced: the best rung this kernel has.
    best = next((r for r, need in (("kprobe_multi", ("kprobe_multi",)),
                                   ("kprobe", ("kprobe", "kretprobe")),
                                   ("fentry", ("fentry", "fexit")))
                 if all(probe_feature(n).available for n in need)), "tracepoint")
    (hook,) = to_json(explain([str(f)]))["policies"][0]["hooks"]
    assert hook["program"]["kind"] == best
    want_programs = {"kprobe_multi": ["vigil_generic_kprobe_multi",
                                      "vigil_generic_kretprobe_multi"],
                     "kprobe": ["vigil_generic_kprobe", "vigil_generic_kretprobe"],
                     "fentry": ["vigil_generic_fentry", "vigil_generic_fexit"],
                     "tracepoint": ["vigil_generic_tp", "vigil_generic_tp_ret"]}[best]
    assert sorted(p["name"] for p in hook["programs"]) == want_programs


def planned_or_skip(spec: str, rung: str) -> list:  # type: ignore[type-arg]
    """The plans on `rung`, or a skip with the ladder's reason why it cannot."""
    try:
        return plans(spec, rung)
    except PolicyError as err:
        pytest.skip(str(err.issues[0]).split("the forced rung cannot attach: ", 1)[-1])


OVERRIDE_WRITE = """
    kprobes:
    - call: sys_write
      args:
      - {index: 0, type: int}
      - {index: 2, type: size_t}
      selectors:
      - matchArgs: [{index: 2, operator: Equal, values: ["4242"]}]
        matchActions: [{action: Sigkill}, {action: Override, argError: -1}]
"""


WRITER_C = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
/* opens argv[1] for writing, writes 4242 bytes: says what each returned */
int main(int argc, char **argv) {
    static char buf[4242];
    int fd = open(argv[1], O_WRONLY | O_CREAT, 0600);
    if (fd < 0) {
        printf("open %d\n", errno);
        return 1;
    }
    ssize_t n = write(fd, buf, sizeof(buf));
    printf("write %zd %d\n", n, n < 0 ? errno : 0);
    return 0;
}
"""


@pytest.fixture(scope="module")
def writer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static C program of its own path, for matchBinaries: it opens no
    library and makes exactly the calls it says."""
    work = tmp_path_factory.mktemp("writer")
    (work / "writer.c").write_text(WRITER_C)
    subprocess.run(["cc", "-static", "-O2", "-o", str(work / "writer"), str(work / "writer.c")],
                   check=True)
    return work / "writer"


def test_sigkill_and_override_leave_no_byte_written(runtime: tuple[Runtime, Collect],
                                                    tmp_path: Path, writer: Path) -> None:
    """fmod_ret on security_file_permission (write(2) asks it before it
    writes): the writer's write is refused and the writer killed; the file
    it opened stays empty. Another binary writes as before."""
    rt, sink = runtime
    spec = f"""
        kprobes:
        - call: security_file_permission
          syscall: false
          args: [{{index: 1, type: int}}]
          selectors:
          - matchBinaries: [{{operator: In, values: ["{writer}"]}}]
            matchArgs: [{{index: 1, operator: Equal, values: ["2"]}}]  # MAY_WRITE
            matchActions: [{{action: Sigkill}}, {{action: Override, argError: -1}}]
    """
    for plan in planned_or_skip(spec, "fentry"):
        assert plan.program.kind == "fmod_ret"
        rt.add_tracepoint(plan)
    victim, other = tmp_path / "victim", tmp_path / "other"
    child = subprocess.Popen([str(writer), str(victim)], stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=EVENT_TIMEOUT)
    assert (child.returncode, out) == (-signal.SIGKILL, b"")
    assert victim.read_bytes() == b""
    subprocess.run(["/bin/sh", "-c", f"echo data > {other}"], check=True)
    assert other.read_bytes() == b"data\n"
    ev, = kprobe_events(rt, sink, child.pid, 1)
    assert (ev.function_name, ev.action, ev.args) == (
        "security_file_permission", "KPROBE_ACTION_OVERRIDE", [Arg("int_arg", 2)])


def test_override_gives_the_caller_the_errno(runtime: tuple[Runtime, Collect],
                                             tmp_path: Path, writer: Path) -> None:
    """fmod_ret on security_file_open with argError -13: the writer's open
    of a file fails with EACCES and its bytes stay; /bin/sh opens it.
    (security_file_open runs once the file exists: an O_CREAT open of a new
    file would still create it, empty.)"""
    rt, _sink = runtime
    target = tmp_path / "file"
    target.write_bytes(b"kept\n")
    spec = f"""
        kprobes:
        - call: security_file_open
          syscall: false
          selectors:
          - matchBinaries: [{{operator: In, values: ["{writer}"]}}]
            matchActions: [{{action: Override, argError: -13}}]
    """
    for plan in planned_or_skip(spec, "fentry"):
        rt.add_tracepoint(plan)
    denied = subprocess.run([str(writer), str(target)], capture_output=True,
                            timeout=EVENT_TIMEOUT)
    assert (denied.returncode, denied.stdout) == (1, b"open 13\n")
    assert target.read_bytes() == b"kept\n"
    subprocess.run(["/bin/sh", "-c", f"echo data >> {target}"], check=True)
    assert target.read_bytes() == b"kept\ndata\n"


def error_injectable(function: str) -> bool:
    """Whether the kernel lists `function` for error injection (what lets
    fmod_ret override it), read from debugfs, mounted if it is not."""
    listing = Path("/sys/kernel/debug/error_injection/list")
    if not listing.exists():
        subprocess.run(["mount", "-t", "debugfs", "none", "/sys/kernel/debug"],
                       capture_output=True)
    if not listing.exists():
        return False  # no CONFIG_FUNCTION_ERROR_INJECTION: nothing is listed
    return any(line.split()[:1] == [function] for line in listing.read_text().splitlines())


def test_override_of_a_syscall_needs_the_kernel_to_allow_it(runtime: tuple[Runtime, Collect],
                                                            tmp_path: Path) -> None:
    """Override on sys_write through fmod_ret: where the kernel lists the
    syscall for error injection the write fails with EPERM and leaves no
    byte; where it does not (Debian's kernels), loading says why and what
    would work instead."""
    from vigil.sensors.generic_tracepoint import OverrideRefused

    rt, _sink = runtime
    plan, = planned_or_skip(OVERRIDE_WRITE, "fentry")
    if not error_injectable(fn("write")):
        with pytest.raises(OverrideRefused) as err:
            rt.add_tracepoint(plan)
        assert str(err.value).startswith(
            f"Override on {fn('write')}: this kernel does not let BPF change what it returns "
            f"(the verifier: {fn('write')}() is not modifiable). fmod_ret works on security_* "
            "hooks"), err.value
        return
    rt.add_tracepoint(plan)
    victim = tmp_path / "victim"
    child = subprocess.Popen([PY, "-c", f"""
import os
fd = os.open({str(victim)!r}, os.O_WRONLY | os.O_CREAT, 0o600)
os.write(fd, b"x" * 4242)
print("wrote")
"""], stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=EVENT_TIMEOUT)
    assert (child.returncode, out, victim.read_bytes()) == (-signal.SIGKILL, b"", b"")


def test_override_where_no_rung_can_says_why() -> None:
    """Override needs bpf_override_return or fmod_ret; the syscall
    tracepoints cannot stop a call."""
    with pytest.raises(PolicyError) as err:
        plans(OVERRIDE_WRITE, "syscall_tracepoint")
    assert [str(i) for i in err.value.issues] == [
        "p.yaml:7:11: spec.kprobes[0].call: kprobe on sys_write: the forced rung cannot attach: "
        "syscall_tracepoint cannot make a call return an error (Override needs a kprobe with "
        "bpf_override_return, or fmod_ret)"]


@pytest.mark.parametrize("rung", ("kprobe", "fentry"))
def test_a_kernel_function_with_its_arguments_and_return(runtime: tuple[Runtime, Collect],
                                                        rung: str) -> None:
    """syscall: false: ksys_write(fd, buf, count), the kernel function
    write(2) calls, read from its own registers (kprobe) or BPF context
    (fentry), its return value joined at kretprobe/fexit."""
    rt, sink = runtime
    spec = """
        kprobes:
        - call: ksys_write
          syscall: false
          return: true
          args:
          - {index: 0, type: int}
          - {index: 1, type: char_buf, sizeArgIndex: 3}
          - {index: 2, type: size_t}
          returnArg: {index: 0, type: int}
          selectors:
          - matchArgs: [{index: 2, operator: Equal, values: ["4099"]}]
    """
    for plan in planned_or_skip(spec, rung):
        assert (plan.subsys, plan.event, plan.program.kind) == ("", "ksys_write", rung)
        rt.add_tracepoint(plan)
    child = subprocess.Popen([PY, "-c", """
import os
fd = os.open(os.devnull, os.O_WRONLY)
print(fd, flush=True)
os.write(fd, bytes(range(256)) * 16 + b"end")
"""], stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=EVENT_TIMEOUT)
    ev, = kprobe_events(rt, sink, child.pid, 1)
    data = bytes(range(256)) * 16 + b"end"
    assert (ev.function_name, ev.args, ev.ret) == (
        "ksys_write",
        [Arg("int_arg", int(out)), Arg("truncated_bytes_arg", TruncatedBytes(
            data[:CHAR_BUF_MAX], 4099)), Arg("size_arg", 4099)],
        Arg("int_arg", 4099))


def test_tetragons_setuid_root_example_on_a_function_rung(tmp_path: Path) -> None:
    """policylibrary/privileges/privileges-setuid-root.yaml (__sys_setuid
    and friends, syscall: false) under `vigil run`: a setuid(0) as root is
    reported with its return."""
    from .vigil_runner import VigilRun

    f = runnable_example("policylibrary/privileges/privileges-setuid-root.yaml")
    run = VigilRun(tmp_path, ["--tracing-policy", str(f)])
    try:
        child = subprocess.Popen([PY, "-c", "import os; os.setuid(0)"])
        assert child.wait() == 0
        ev = run.wait_for(lambda e: e.get("process_kprobe", {}).get("process", {}).get("pid")
                          == child.pid, "the child's setuid(0)")
    finally:
        run.stop()
    body = ev["process_kprobe"]
    assert {k: body[k] for k in ("function_name", "args", "return", "action", "return_action",
                                 "policy_name")} == {
        "function_name": "__sys_setuid", "args": [{"int_arg": 0}], "return": {"int_arg": 0},
        "action": "KPROBE_ACTION_POST", "return_action": "KPROBE_ACTION_POST",
        "policy_name": "privileges-setuid-root"}


def test_monitor_mode_reports_the_sigkill_and_does_not_kill(runtime: tuple[Runtime, Collect],
                                                            tmp_path: Path) -> None:
    """policy-mode: monitor: the Sigkill is in the event, the child lives."""
    rt, sink = runtime
    target = f"monitored-{os.getpid()}"
    spec = f"""
        options: [{{name: policy-mode, value: monitor}}]
        kprobes:
        - call: sys_symlinkat
          args: [{{index: 0, type: string}}, {{index: 1, type: int}}, {{index: 2, type: string}}]
          selectors:
          - matchArgs: [{{index: 2, operator: Equal, values: ["{target}"]}}]
            matchActions: [{{action: Sigkill}}]
    """
    for plan in plans(spec):
        assert plan.monitor
        rt.add_tracepoint(plan)
    child = subprocess.Popen([PY, "-c", f"import os; d = os.open({str(tmp_path)!r}, "
                              f"os.O_RDONLY); os.symlink('/etc/passwd', {target!r}, dir_fd=d); "
                              "print('survived')"], stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=EVENT_TIMEOUT)
    assert (child.returncode, out) == (0, b"survived\n")
    assert (tmp_path / target).is_symlink()
    ev, = kprobe_events(rt, sink, child.pid, 1)
    assert (ev.action, ev.args[2]) == ("KPROBE_ACTION_SIGKILL", Arg("string_arg", target))


def test_monitor_mode_reports_the_override_and_does_not_override(
        runtime: tuple[Runtime, Collect], tmp_path: Path, writer: Path) -> None:
    """policy-mode: monitor with fmod_ret on security_file_open: the open
    succeeds, the event says Override."""
    rt, sink = runtime
    target = tmp_path / "file"
    spec = f"""
        options: [{{name: policy-mode, value: monitor}}]
        kprobes:
        - call: security_file_open
          syscall: false
          selectors:
          - matchBinaries: [{{operator: In, values: ["{writer}"]}}]
            matchActions: [{{action: Override, argError: -13}}]
    """
    for plan in planned_or_skip(spec, "fentry"):
        rt.add_tracepoint(plan)
    child = subprocess.Popen([str(writer), str(target)], stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=EVENT_TIMEOUT)
    assert (child.returncode, out) == (0, b"write 4242 0\n")
    assert target.read_bytes() == bytes(4242)
    # Every open the writer made is reported as overridden (5.10 reports one
    # more than its open of the file).
    evs = kprobe_events(rt, sink, child.pid, 1)
    assert evs and {(e.function_name, e.action) for e in evs} == {
        ("security_file_open", "KPROBE_ACTION_OVERRIDE")}


def test_override_method_picks_the_rung() -> None:
    """spec.options override-method: fmod-ret takes fentry's fmod_ret,
    override-return a kprobe's bpf_override_return (or says why not here)."""
    spec = """
        options: [{{name: override-method, value: {method}}}]
        kprobes:
        - call: security_file_open
          syscall: false
          selectors:
          - matchActions: [{{action: Override, argError: -1}}]
    """
    for method, rung, needs in (("fmod-ret", "fentry", ("fentry", "fmod_ret")),
                                ("override-return", "kprobe", ("kprobe", "override_return"))):
        missing = [n for n in needs if not probe_feature(n).available]
        if not missing:
            plan, = plans(spec.format(method=method))
            assert plan.program.kind == {"fentry": "fmod_ret"}.get(rung, rung)
            continue
        with pytest.raises(PolicyError) as err:
            plans(spec.format(method=method))
        first = probe_feature(missing[0])
        assert [i.message for i in err.value.issues] == [
            f"kprobe on security_file_open: the forced rung cannot attach: {rung} needs "
            f"{missing[0]}, which this kernel lacks ({first.reason})"]
