"""spec.uprobes: real uprobes on a real program (tests/progs/uprobe_target.c,
built by `make`) and on the system's bash and libc, with the events,
return joins, selectors and actions a user would check, from the probed
process's side where it acts."""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from elftools.elf.elffile import ELFFile
from google.protobuf import json_format

from tests.kernel.test_syscall_kprobes import plans
from tests.tetragon_examples import EXAMPLES, MISSING
from vigil.api.gen.tetragon import events_pb2
from vigil.events.model import Arg, UprobeEvent
from vigil.runtime import Runtime

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT, VigilRun

pytestmark = pytest.mark.needs("uprobe", "uretprobe", "ringbuf")

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "build" / "progs" / "uprobe_target"
BASH = "/bin/bash"


@pytest.fixture(autouse=True, scope="module")
def _built() -> None:
    assert TARGET.is_file(), f"{TARGET} is missing: run `make` (it builds tests/progs/)"


def symbol(name: str, path: Path = TARGET) -> tuple[int, int]:
    """(address, size) of `name` in the file's .symtab, read here apart from
    vigil's own reader."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        for sym in elf.get_section_by_name(".symtab").iter_symbols():  # type: ignore[union-attr]
            if sym.name == name:
                return sym["st_value"], sym["st_size"]
    raise AssertionError(f"no {name} in {path}")


def file_offset(address: int, path: Path = TARGET) -> int:
    with open(path, "rb") as f:
        for seg in ELFFile(f).iter_segments():
            if seg["p_type"] == "PT_LOAD" and \
                    seg["p_vaddr"] <= address < seg["p_vaddr"] + seg["p_filesz"]:
                return int(address - seg["p_vaddr"] + seg["p_offset"])
    raise AssertionError(f"{address:#x} is in no segment")


def start(rt: Runtime, spec: str) -> None:
    for plan in plans(spec):
        assert plan.program.kind == "uprobe"
        rt.add_tracepoint(plan)


def target(*argv: str, path: Path = TARGET) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(path), *argv], capture_output=True, text=True,
                          timeout=EVENT_TIMEOUT)


def uprobe_events(rt: Runtime, sink: Collect, pid: int, want: int) -> list[UprobeEvent]:
    """The uprobe events of `pid`, once `want` of them came (or the bound)."""
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        found = [e for e in sink.events if isinstance(e, UprobeEvent) and e.process.pid == pid]
        if len(found) >= want or time.monotonic() > deadline:
            return found
        rt.step(50)


def line_of(sink: Collect, ev: UprobeEvent) -> dict:  # type: ignore[type-arg]
    line = sink.lines[sink.events.index(ev)]
    # Tetragon's own schema takes it, every field known
    json_format.Parse(line, events_pb2.GetEventsResponse(), ignore_unknown_fields=False)
    return orjson.loads(line)  # type: ignore[no-any-return]


def test_arguments_and_return_value(runtime: tuple[Runtime, Collect]) -> None:
    """vigil_add(int, long): both registers as the types the policy gave,
    the return value appended as Tetragon's retprobe merge does; the JSON
    line is Tetragon's process_uprobe."""
    rt, sink = runtime
    start(rt, f"""
        uprobes:
        - path: {TARGET}
          symbols: [vigil_add]
          message: "an add"
          tags: [math]
          return: true
          args: [{{index: 0, type: int}}, {{index: 1, type: int64}}]
          returnArg: {{index: 0, type: int64}}
    """)
    child = subprocess.Popen([str(TARGET), "add", "-7", "5000000000"], stdout=subprocess.PIPE)
    assert child.communicate(timeout=EVENT_TIMEOUT)[0] == b"add=4999999993\n"
    [ev] = uprobe_events(rt, sink, child.pid, 1)
    assert ev.args == [Arg("int_arg", -7), Arg("long_arg", 5000000000),
                       Arg("long_arg", 4999999993)]
    body = line_of(sink, ev)["process_uprobe"]
    assert {k: v for k, v in body.items() if k not in ("process", "parent")} == {
        "path": str(TARGET), "symbol": "vigil_add", "policy_name": "test",
        "message": "an add", "args": [{"int_arg": -7}, {"long_arg": "5000000000"},
                                      {"long_arg": "4999999993"}],
        "tags": ["math"], "action": "KPROBE_ACTION_POST"}
    assert body["process"]["pid"] == child.pid
    assert body["process"]["binary"] == str(TARGET)


def test_string_and_a_buffer_read_again_at_return(runtime: tuple[Runtime, Collect]) -> None:
    """vigil_greet(name, buf, len): the name from the process's memory, and
    buf as the function left it (returnCopy), as many bytes as it returned."""
    rt, sink = runtime
    start(rt, f"""
        uprobes:
        - path: {TARGET}
          symbols: [vigil_greet]
          return: true
          args:
          - {{index: 0, type: string}}
          - {{index: 1, type: char_buf, sizeArgIndex: 3, returnCopy: true}}
          - {{index: 2, type: size_t}}
          returnArg: {{index: 0, type: int}}
    """)
    name = "Zoë\x01\x7f"
    greeting = f"hello, {name}".encode()
    child = subprocess.Popen([str(TARGET), "greet", name], stdout=subprocess.PIPE)
    assert child.communicate(timeout=EVENT_TIMEOUT)[0] == f"greet={len(greeting)}\n".encode()
    [ev] = uprobe_events(rt, sink, child.pid, 1)
    assert ev.args == [Arg("string_arg", name), Arg("bytes_arg", greeting),
                       Arg("size_arg", 64), Arg("int_arg", len(greeting))]


def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def test_recursive_calls_each_join_their_own_return(runtime: tuple[Runtime, Collect]) -> None:
    """vigil_fib(12) calls itself 12 deep, 2 * fib(13) - 1 calls in all: the
    one thread has many calls in flight at once, and each return joins the
    entry of its own frame (its stack pointer), never a deeper one's."""
    rt, sink = runtime
    start(rt, f"""
        uprobes:
        - path: {TARGET}
          symbols: [vigil_fib]
          return: true
          args: [{{index: 0, type: uint32}}]
          returnArg: {{index: 0, type: uint64}}
    """)
    child = subprocess.Popen([str(TARGET), "fib", "12"], stdout=subprocess.PIPE)
    assert child.communicate(timeout=EVENT_TIMEOUT)[0] == b"fib=144\n"
    calls = 2 * fib(13) - 1
    evs = uprobe_events(rt, sink, child.pid, calls)
    assert len(evs) == calls
    pairs = [(e.args[0].value, e.args[1].value) for e in evs]
    assert all(isinstance(n, int) and r == fib(n) for n, r in pairs), pairs
    # fib(n) is entered fib(13 - n) times (once for 12, ...), as the calls go
    counts = {n: sum(1 for m, _ in pairs if m == n) for n in range(13)}
    assert counts == {n: fib(13 - n) if n else fib(11) for n in range(13)}
    rt.step(50)
    assert not rt.agent.pending and not rt.agent.decode_errors


def test_two_threads_in_the_function_at_once(runtime: tuple[Runtime, Collect]) -> None:
    """Two threads are inside vigil_slow together: each event names its own
    thread and carries that thread's return (id * 10)."""
    rt, sink = runtime
    start(rt, f"""
        uprobes:
        - path: {TARGET}
          symbols: [vigil_slow]
          return: true
          args: [{{index: 0, type: int64}}]
          returnArg: {{index: 0, type: int64}}
    """)
    child = subprocess.Popen([str(TARGET), "threads"], stdout=subprocess.PIPE)
    assert child.communicate(timeout=EVENT_TIMEOUT)[0] == b"threads\n"
    evs = uprobe_events(rt, sink, child.pid, 2)
    assert sorted((e.args[0].value, e.args[1].value) for e in evs) == [(1, 10), (2, 20)]
    tids = {e.process.tid for e in evs}
    assert len(tids) == 2 and child.pid not in tids


def test_symbol_plus_offset(runtime: tuple[Runtime, Collect]) -> None:
    """name+0xN probes that far into the function; Tetragon's event names
    the symbol as written and no offset."""
    rt, sink = runtime
    add, _ = symbol("vigil_add")
    inside, _ = symbol("vigil_add_inside")
    written = f"vigil_add+{inside - add:#x}"
    start(rt, f"""
        uprobes:
        - path: {TARGET}
          symbols: ["{written}"]
    """)
    child = subprocess.Popen([str(TARGET), "add", "1", "2"], stdout=subprocess.PIPE)
    assert child.communicate(timeout=EVENT_TIMEOUT)[0] == b"add=3\n"
    [ev] = uprobe_events(rt, sink, child.pid, 1)
    assert (ev.symbol, ev.offset) == (written, 0)
    body = line_of(sink, ev)["process_uprobe"]
    assert body["symbol"] == written and "offset" not in body


@pytest.mark.parametrize("kind", ["offsets", "addrs"])
def test_offsets_and_addresses(runtime: tuple[Runtime, Collect], kind: str) -> None:
    """offsets are file offsets, addrs the ELF's virtual addresses (vigil
    turns them into the offset); the event has the offset and no symbol."""
    rt, sink = runtime
    address, _ = symbol("vigil_add")
    offset = file_offset(address)
    start(rt, f"""
        uprobes:
        - path: {TARGET}
          {kind}: [{offset if kind == "offsets" else address}]
          args: [{{index: 0, type: int}}]
    """)
    child = subprocess.Popen([str(TARGET), "add", "41", "1"], stdout=subprocess.PIPE)
    assert child.communicate(timeout=EVENT_TIMEOUT)[0] == b"add=42\n"
    [ev] = uprobe_events(rt, sink, child.pid, 1)
    assert (ev.symbol, ev.offset, ev.args) == ("", offset, [Arg("int_arg", 41)])
    body = line_of(sink, ev)["process_uprobe"]
    assert body["offset"] == str(offset) and "symbol" not in body


def test_ref_ctr_offset_raises_the_programs_semaphore(runtime: tuple[Runtime, Collect]) -> None:
    """refCtrOffsets: while the probe is on, the kernel counts it in the
    process's u16 at that file offset (a USDT semaphore): 1 with the policy,
    0 without."""
    rt, sink = runtime
    assert target("semaphore").stdout == "semaphore=0\n"
    semaphore = file_offset(symbol("vigil_semaphore")[0])
    start(rt, f"""
        uprobes:
        - path: {TARGET}
          symbols: [vigil_add]
          refCtrOffsets: [{semaphore}]
    """)
    assert target("semaphore").stdout == "semaphore=1\n"
    child = subprocess.Popen([str(TARGET), "add", "1", "1"], stdout=subprocess.PIPE)
    child.communicate(timeout=EVENT_TIMEOUT)
    [ev] = uprobe_events(rt, sink, child.pid, 1)
    assert ev.ref_ctr_offset == semaphore
    assert line_of(sink, ev)["process_uprobe"]["ref_ctr_offset"] == str(semaphore)


@pytest.mark.parametrize(("action", "sig"), [("action: Sigkill", signal.SIGKILL),
                                             ("action: Signal, argSig: 10", signal.SIGUSR1)])
def test_match_args_then_kill_the_caller(runtime: tuple[Runtime, Collect], action: str,
                                         sig: int) -> None:
    """A matchArgs selector on the first register acts on the calls it
    matches, before the function runs (nothing printed after it); a call it
    does not match runs untouched and is not reported."""
    rt, sink = runtime
    start(rt, f"""
        uprobes:
        - path: {TARGET}
          symbols: [vigil_add]
          args: [{{index: 0, type: int}}]
          selectors:
          - matchArgs: [{{index: 0, operator: Equal, values: ["666"]}}]
            matchActions: [{{{action}}}]
    """)
    spared = target("add", "665", "1")
    assert (spared.returncode, spared.stdout) == (0, "add=666\n")
    victim = subprocess.Popen([str(TARGET), "add", "666", "1"], stdout=subprocess.PIPE)
    out = victim.communicate(timeout=EVENT_TIMEOUT)[0]
    assert (victim.returncode, out) == (-sig, b"")
    [ev] = uprobe_events(rt, sink, victim.pid, 1)
    assert ev.action == {signal.SIGKILL: "KPROBE_ACTION_SIGKILL",
                         signal.SIGUSR1: "KPROBE_ACTION_SIGNAL"}[sig]
    assert [e.process.pid for e in sink.events if isinstance(e, UprobeEvent)] == [victim.pid]


def test_match_binaries_on_a_library_function(runtime: tuple[Runtime, Collect],
                                              tmp_path: Path) -> None:
    """A uprobe on libc's getpid, as uprobe-binaries.yaml puts one on
    malloc: every process calls it; matchBinaries reports only the copy of
    the target (the same bytes elsewhere), not the original."""
    rt, sink = runtime
    libc = libc_path()
    copy = tmp_path / "copy"
    shutil.copy(TARGET, copy)
    start(rt, f"""
        uprobes:
        - path: {libc}
          symbols: [getpid]
          selectors:
          - matchBinaries: [{{operator: In, values: ["{copy}"]}}]
    """)
    first = subprocess.Popen([str(TARGET), "pid"], stdout=subprocess.PIPE)
    assert first.communicate(timeout=EVENT_TIMEOUT)[0] == f"pid={first.pid}\n".encode()
    second = subprocess.Popen([str(copy), "pid"], stdout=subprocess.PIPE)
    assert second.communicate(timeout=EVENT_TIMEOUT)[0] == f"pid={second.pid}\n".encode()
    evs = uprobe_events(rt, sink, second.pid, 1)
    assert evs and all(e.path == libc and e.symbol == "getpid" for e in evs)
    assert {e.process.binary for e in sink.events if isinstance(e, UprobeEvent)} == {str(copy)}


def libc_path() -> str:
    """The C library this system's programs load, as the dynamic linker
    names it."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.strip().startswith("libc.so.6 ") and "=> " in line:
            return os.path.realpath(line.rsplit("=> ", 1)[1].strip())
    raise AssertionError("ldconfig knows no libc.so.6")


def bash_session(command: str) -> int:
    """An interactive bash on a pty that reads `command` with readline, runs
    it and exits; its pid once it is gone."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: bash, interactive, no startup files
        os.execv(BASH, [BASH, "--norc", "--noprofile", "-i"])
    try:
        os.write(fd, f"{command}\nexit\n".encode())
        deadline = time.monotonic() + EVENT_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    if not os.read(fd, 4096):
                        break
                except OSError:  # EIO: the pty's other side is closed
                    break
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(fd)
    return pid


def test_tetragon_uprobe_example_on_bash(runtime: tuple[Runtime, Collect]) -> None:
    """Tetragon's uprobe.yaml as it is: readline and main of /bin/bash.
    An interactive bash reports main once and readline for each line it
    reads (the command, then exit)."""
    rt, sink = runtime
    if not (Path("/bin/bash").is_file()):
        pytest.skip("no /bin/bash")
    example = EXAMPLES / "tracingpolicy" / "uprobe.yaml"
    if not example.is_file():
        pytest.skip(MISSING)
    start(rt, example.read_text().split("spec:\n", 1)[1])
    pid = bash_session("true")
    evs = uprobe_events(rt, sink, pid, 3)
    assert [e.symbol for e in evs] == ["main", "readline", "readline"]
    assert {e.path for e in evs} == {BASH}


def test_tetragon_uprobe_pid_example_follows_forks(runtime: tuple[Runtime, Collect]) -> None:
    """uprobe-pid.yaml with its pid made the test's own: bash sessions the
    test starts are children of it (followForks), so their readline is
    reported."""
    rt, sink = runtime
    example = EXAMPLES / "tracingpolicy" / "uprobe-pid.yaml"
    if not example.is_file():
        pytest.skip(MISSING)
    spec = example.read_text().split("spec:\n", 1)[1]
    assert "61697" in spec
    start(rt, spec.replace("61697", str(os.getpid())))
    pid = bash_session("true")
    evs = uprobe_events(rt, sink, pid, 2)
    assert [e.symbol for e in evs] == ["readline", "readline"]


def test_vigil_run_with_a_uprobe_policy(tmp_path: Path) -> None:
    """`vigil run --tracing-policy` as a user runs it: the export file has
    the call's process_uprobe line, strictly Tetragon's schema."""
    policy = tmp_path / "uprobe.yaml"
    policy.write_text(f"""\
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: user-add
spec:
  uprobes:
  - path: "{TARGET}"
    symbols: [vigil_add]
    args: [{{index: 0, type: int}}]
""")
    run = VigilRun(tmp_path, ["--tracing-policy", str(policy)])
    try:
        child = subprocess.Popen([str(TARGET), "add", "12", "30"], stdout=subprocess.PIPE)
        assert child.communicate(timeout=EVENT_TIMEOUT)[0] == b"add=42\n"
        ev = run.wait_for(lambda e: "process_uprobe" in e
                          and e["process_uprobe"]["process"]["pid"] == child.pid,
                          "the uprobe event")
    finally:
        run.stop()
    body = ev["process_uprobe"]
    assert (body["path"], body["symbol"], body["policy_name"], body["args"], body["action"]) == (
        str(TARGET), "vigil_add", "user-add", [{"int_arg": 12}], "KPROBE_ACTION_POST")
    json_format.ParseDict(ev, events_pb2.GetEventsResponse(), ignore_unknown_fields=False)


def test_policy_explain_shows_the_uprobe(tmp_path: Path) -> None:
    """`vigil policy explain --json`: the hook's kind and where it attaches,
    both programs loaded, and a role for every map it creates."""
    policy = tmp_path / "u.yaml"
    policy.write_text(f"""\
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: user-add
spec:
  uprobes:
  - path: "{TARGET}"
    symbols: [vigil_add]
    refCtrOffsets: [{file_offset(symbol("vigil_semaphore")[0])}]
    return: true
    args: [{{index: 0, type: int}}]
    returnArg: {{index: 0, type: int}}
""")
    done = subprocess.run([sys.executable, "-m", "vigil", "policy", "explain", "--json",
                           str(policy)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    [hook] = orjson.loads(done.stdout)["policies"][0]["hooks"]
    semaphore = file_offset(symbol("vigil_semaphore")[0])
    assert (hook["kind"], hook["target"]) == (
        "uprobe", f"{TARGET} vigil_add (uprobe + uretprobe, semaphore at {semaphore:#x})")
    assert [p["name"] for p in hook["programs"]] == ["vigil_generic_uprobe",
                                                     "vigil_generic_uretprobe"]
    assert [m["name"] for m in hook["maps"] if not m["role"]] == []
