"""Syscall lists, InMap/NotInMap, syscall64, raw_syscalls' args array, char_buf
and nop on the running kernel: policies as a user writes them, compiled and
loaded into a running runtime, and real children that make exactly the
syscalls a test names (through libc's syscall(), so nothing else is in
between; 32-bit ones through int 0x80).

Every policy accepts the child's pid only, and the child ends with a marker
syscall (number MARKER, which no kernel has: ENOSYS after the tracepoint
fired) that every policy here also accepts: once its event is in, every
earlier one is (one thread, one ring buffer), so counts are exact without
waiting on time.
"""

from __future__ import annotations

import base64
import errno
import json
import subprocess
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from vigil.events.model import Arg, SyscallId, TracepointEvent, TruncatedBytes
from vigil.kernel.syscall_table import SYSCALLS
from vigil.libbpf.maps import map_info
from vigil.policy import PolicyError, load_text
from vigil.runtime import Runtime
from vigil.sensors.generic_tracepoint import TracepointSensor
from vigil.sensors.lists import kernel_functions
from vigil.sensors.selectors import SEL_MAP_VALUES_MAX
from vigil.sensors.tracepoint_compile import compile_tracepoints
from vigil.wire.records import CHAR_BUF_MAX

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT, VigilRun

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

X64 = SYSCALLS["x64"]
MARKER = 1999

CHILD = r"""
import ctypes, json, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def int80(nr, a1):
    # push rbx; mov eax, nr; mov ebx, a1; int 0x80; pop rbx; ret: a 32-bit call
    code = (bytes([0x53, 0xB8]) + nr.to_bytes(4, "little") + bytes([0xBB])
            + (a1 & 0xFFFFFFFF).to_bytes(4, "little") + bytes([0xCD, 0x80, 0x5B, 0xC3]))
    buf = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    buf.write(code)
    ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))()

os.dup2(os.open("/dev/null", os.O_WRONLY), 77)
calls = json.loads(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
for c in calls:
    if c[0] == "syscall":
        libc.syscall(*(ctypes.c_long(a) for a in c[1:]))
    elif c[0] == "int80":
        int80(c[1], c[2])
    elif c[0] == "buf":  # syscall(nr, bytes 0, 1, 2, ... (4096 of them), length)
        data = bytes(i % 251 for i in range(4096))
        libc.syscall(ctypes.c_long(c[1]), ctypes.c_char_p(data), ctypes.c_long(c[2]))
    elif c[0] == "write":  # write(77, bytes 0, 1, 2, ... of the given length)
        data = bytes(i % 251 for i in range(c[1]))
        libc.syscall(ctypes.c_long(1), ctypes.c_long(77), ctypes.c_char_p(data),
                     ctypes.c_long(len(data)))
libc.syscall(ctypes.c_long(MARKER))
""".replace("MARKER", str(MARKER))


class Child:
    """Made (and ready) before its policy, which names its pid."""

    def __init__(self, calls: Sequence[Sequence[object]]) -> None:
        self.proc = subprocess.Popen(["/usr/bin/python3", "-c", CHILD, json.dumps(calls)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "ready\n"

    def go(self) -> None:
        self.proc.communicate("go\n", timeout=60)
        assert self.proc.returncode == 0


def policy(body: str) -> str:
    return "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: lists\n" \
        "spec:\n" + textwrap.indent(textwrap.dedent(body), "  ")


def load(rt: Runtime, text: str) -> list[TracepointSensor]:
    (loaded,) = load_text(text, "test.yaml")
    return [rt.add_tracepoint(p) for p in compile_tracepoints(loaded)]


def is_marker(e: TracepointEvent) -> bool:
    return bool(e.args) and e.args[0].value == SyscallId(MARKER, "x64")


def run(rt: Runtime, sink: Collect, calls: Sequence[Sequence[object]], body: str,
        marker_hook: bool = True) -> list[TracepointEvent]:
    """The child's events under the policy `body` (with {pid} filled in), the
    marker's left out. Without `marker_hook`, the policy itself must accept
    the marker."""
    child = Child(calls)
    text = policy(body.replace("{pid}", str(child.pid)))
    hooks = load(rt, text)
    if marker_hook:
        hooks += load(rt, policy(f"""
            tracepoints:
            - subsystem: raw_syscalls
              event: sys_enter
              args: [{{index: 4, type: syscall64}}]
              selectors:
              - matchPIDs: [{{operator: In, values: [{child.pid}]}}]
                matchArgs: [{{index: 4, operator: Equal, values: ["{MARKER}"]}}]
            """).replace("name: lists", "name: marker"))
    try:
        child.go()
        deadline = time.monotonic() + EVENT_TIMEOUT
        while not any(isinstance(e, TracepointEvent) and e.process.pid == child.pid
                      and is_marker(e) for e in sink.events):
            assert time.monotonic() < deadline, "the marker's event never came"
            rt.step(50)
    finally:
        for h in hooks:
            rt.remove_tracepoint(h)
    return [e for e in sink.events if isinstance(e, TracepointEvent)
            and e.process.pid == child.pid and e.policy_name == "lists" and not is_marker(e)]


def json_of(sink: Collect, ev: TracepointEvent) -> dict[str, object]:
    out: dict[str, object] = json.loads(sink.lines[sink.events.index(ev)])
    return out


def test_a_syscall_list_in_map_takes_the_dups(runtime: tuple[Runtime, Collect]) -> None:
    """Tetragon's TestTracepointListSyscallDups: id InMap list:test, args[0] == 9999."""
    rt, sink = runtime
    got = run(rt, sink, [["syscall", X64["dup"], 9999], ["syscall", X64["dup2"], 9999, 2222],
                         ["syscall", X64["dup3"], 9999, 2222, 0], ["syscall", X64["dup"], 9998],
                         ["syscall", X64["getppid"]]], """
        lists:
        - name: test
          type: syscalls
          values: ["sys_dup", "__x64_sys_dup2", "dup3"]
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          args:
          - {index: 4, type: syscall64}
          - {index: 5, type: uint64}
          selectors:
          - matchPIDs: [{operator: In, values: [{pid}]}]
            matchArgs:
            - {index: 0, operator: InMap, values: ["list:test"]}
            - {index: 1, operator: Equal, values: ["9999"]}
        """)
    assert [e.args for e in got] == [
        [Arg("syscall_id", SyscallId(X64[n], "x64")), Arg("size_arg", 9999)]
        for n in ("dup", "dup2", "dup3")]
    assert json_of(sink, got[0])["process_tracepoint"]["args"] == [  # type: ignore[index]
        {"syscall_id": {"id": 32, "abi": "x64"}}, {"size_arg": "9999"}]


def test_not_in_map_and_many_values_at_both_ends(runtime: tuple[Runtime, Collect]) -> None:
    """Syscall numbers no kernel has (ENOSYS, after the tracepoint): a range
    and single values of InMap, more than Equal's four, and NotInMap."""
    rt, sink = runtime
    ids = [999, 1000, 1001, 1003, 1050, 1099, 1100, 1200, 1201, 1300, 1301, 1302]
    got = run(rt, sink, [["syscall", i] for i in ids], """
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          args: [{index: 4, type: syscall64}]
          selectors:
          - matchPIDs: [{operator: In, values: [{pid}]}]
            matchArgs:
            - {index: 4, operator: InMap, values: ["1000:1099", "1200", "1300", "1301", "1302"]}
            - {index: 4, operator: NotInMap, values: ["1001", "1301"]}
        """)
    assert [e.args[0].value for e in got] == [
        SyscallId(i, "x64") for i in (1000, 1003, 1050, 1099, 1200, 1300, 1302)]


def test_the_value_map_is_sized_to_the_policy_up_to_its_limit(
        runtime: tuple[Runtime, Collect]) -> None:
    """SEL_MAP_VALUES_MAX values load (a range and the marker) and the map
    has exactly that many entries; one more is refused, naming the limit."""
    rt, sink = runtime
    lo, hi = 3000, 3000 + SEL_MAP_VALUES_MAX - 2  # hi - lo + 1 values, and the marker
    child = Child([["syscall", i] for i in (lo - 1, lo, hi, hi + 1)])
    body = policy(f"""
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          args: [{{index: 4, type: syscall64}}]
          selectors:
          - matchPIDs: [{{operator: In, values: [{child.pid}]}}]
            matchArgs: [{{index: 4, operator: InMap, values: ["{lo}:{hi}", "{MARKER}"]}}]
        """)
    with pytest.raises(PolicyError, match=f"past {SEL_MAP_VALUES_MAX}"):
        load(rt, body.replace(f'"{MARKER}"', f'"{MARKER}", "{MARKER + 1}"'))
    (hook,) = load(rt, body)
    try:
        assert hook._obj is not None
        assert map_info(hook._obj.maps["vigil_sel_values"].fd).max_entries == \
            SEL_MAP_VALUES_MAX
        child.go()
        deadline = time.monotonic() + EVENT_TIMEOUT
        while not any(isinstance(e, TracepointEvent) and e.process.pid == child.pid
                      and is_marker(e) for e in sink.events):
            assert time.monotonic() < deadline, "the marker's event never came"
            rt.step(50)
    finally:
        rt.remove_tracepoint(hook)
    got = [e.args[0].value for e in sink.events if isinstance(e, TracepointEvent)
           and e.process.pid == child.pid]
    assert got == [SyscallId(lo, "x64"), SyscallId(hi, "x64"), SyscallId(MARKER, "x64")]


def test_a_compat_call_carries_the_32_bit_flag(runtime: tuple[Runtime, Collect]) -> None:
    """int 0x80 from a 64-bit process is a 32-bit (i386) syscall: dup is 41
    there, and the list's __ia32_sys_dup (41 | 1 << 31) matches it, sys_dup
    (32) does not."""
    rt, sink = runtime
    i386 = SYSCALLS["i386"]
    got = run(rt, sink, [["int80", i386["dup"], 9999], ["syscall", X64["dup"], 9999],
                         ["int80", i386["getppid"], 0]], """
        lists:
        - {name: dups, type: syscalls, values: ["__ia32_sys_dup"]}
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          args: [{index: 4, type: syscall64}, {index: 5}]
          selectors:
          - matchPIDs: [{operator: In, values: [{pid}]}]
            matchArgs: [{index: 4, operator: InMap, values: ["list:dups"]}]
        """)
    assert len(got) == 1
    assert got[0].args[0] == Arg("syscall_id", SyscallId(41, "i386"))
    assert got[0].args[1] == Arg("size_arg", 9999)
    assert json_of(sink, got[0])["process_tracepoint"]["args"][0] == {  # type: ignore[index]
        "syscall_id": {"id": 41, "abi": "i386"}}


def test_the_args_array_shows_as_six_uint64s(runtime: tuple[Runtime, Collect]) -> None:
    """raw_syscalls/sys_enter's `unsigned long args[6]` (index 5, type left
    out): one size_arg per element, as Tetragon shows it; `type: uint64` on
    it reads the first element only; `nop` shows nothing."""
    rt, sink = runtime
    six = [1, 2**64 - 1, 3, 1 << 40, 0, 6]
    call = ["syscall", 1000, *(a - 2**64 if a >= 2**63 else a for a in six)]
    got = run(rt, sink, [call], """
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          args: [{index: 4, type: syscall64}, {index: 5}]
          selectors:
          - matchPIDs: [{operator: In, values: [{pid}]}]
            matchArgs: [{index: 4, operator: Equal, values: ["1000"]}]
        - subsystem: raw_syscalls
          event: sys_enter
          args: [{index: 4, type: syscall64}, {index: 5, type: uint64}, {index: 5, type: nop}]
          selectors:
          - matchPIDs: [{operator: In, values: [{pid}]}]
            matchArgs: [{index: 4, operator: Equal, values: ["1000"]}]
        """)
    assert [e.args for e in got] == [
        [Arg("syscall_id", SyscallId(1000, "x64")), *(Arg("size_arg", a) for a in six)],
        [Arg("syscall_id", SyscallId(1000, "x64")), Arg("size_arg", 1)]]
    assert json_of(sink, got[0])["process_tracepoint"]["args"][1:] == [  # type: ignore[index]
        {"size_arg": str(a)} for a in six]


def pattern(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


def test_char_buf_reads_up_to_its_limit_and_says_what_it_cut(
        runtime: tuple[Runtime, Collect]) -> None:
    rt, sink = runtime
    sizes = [0, 1, CHAR_BUF_MAX - 1, CHAR_BUF_MAX, CHAR_BUF_MAX + 1, 4096]
    got = run(rt, sink, [["write", n] for n in sizes] + [["syscall", 1, 77, 0, 10]], """
        tracepoints:
        - subsystem: syscalls
          event: sys_enter_write
          args: [{index: 6, sizeArgIndex: 8}, {index: 7, type: uint64}]
          selectors:
          - matchPIDs: [{operator: In, values: [{pid}]}]
            matchArgs: [{index: 5, operator: Equal, values: ["77"]}]
        """.replace("{index: 7, type: uint64}", "{index: 5, type: uint64}"))
    want = [Arg("bytes_arg", pattern(n)) if n <= CHAR_BUF_MAX else
            Arg("truncated_bytes_arg", TruncatedBytes(pattern(CHAR_BUF_MAX), n)) for n in sizes]
    assert [e.args[0] for e in got[:-1]] == want
    assert [e.args[1] for e in got] == [Arg("size_arg", 77)] * (len(sizes) + 1)
    # a NULL buffer: the read fails with EFAULT, shown as an error argument
    assert got[-1].args[0] == Arg("error_arg", f"could not read argument: errno {errno.EFAULT}")
    lines = [json_of(sink, e)["process_tracepoint"]["args"][0] for e in got]  # type: ignore[index]
    assert lines[1] == {"bytes_arg": base64.b64encode(b"\0").decode()}
    assert lines[0] == {"bytes_arg": ""}
    assert lines[4] == {"truncated_bytes_arg": {
        "bytes_arg": base64.b64encode(pattern(CHAR_BUF_MAX)).decode(),
        "orig_size": str(CHAR_BUF_MAX + 1)}}


def test_in_map_on_signed_arguments_compares_them_signed(
        runtime: tuple[Runtime, Collect]) -> None:
    """dup3's `int flags`, read as int: -1 in the map matches the call's -1
    (vigil sign-extends the argument as it widens the values)."""
    rt, sink = runtime
    got = run(rt, sink, [["syscall", X64["dup3"], 9999, 2222, f] for f in (-1, -2, 5, 6)], """
        tracepoints:
        - subsystem: syscalls
          event: sys_enter_dup3
          args: [{index: 7, type: int}]
          selectors:
          - matchPIDs: [{operator: In, values: [{pid}]}]
            matchArgs: [{index: 7, operator: InMap, values: ["-1", "5"]}]
        """)
    assert [e.args for e in got] == [[Arg("int_arg", -1)], [Arg("int_arg", 5)]]


def test_bad_lists_are_refused_at_their_value() -> None:
    def refusal(body: str) -> list[str]:
        (loaded,) = load_text(policy(body), "p.yaml")
        with pytest.raises(PolicyError) as err:
            compile_tracepoints(loaded)
        return [str(i) for i in err.value.issues]

    assert refusal("""
        lists:
        - {name: dups, type: syscalls, values: ["sys_dup", "sys_nosuch"]}
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          args: [{index: 4, type: syscall64}]
          selectors:
          - matchArgs: [{index: 4, operator: InMap, values: ["list:dups"]}]
        """) == ["p.yaml:8:54: spec.lists[0].values[1]: list 'dups': 'sys_nosuch': x64 has no "
                 "syscall 'nosuch'"]
    # the type Tetragon infers for `long id` is int64, not syscall64
    assert refusal("""
        lists:
        - {name: dups, type: syscalls, values: ["sys_dup"]}
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          args: [{index: 4}]
          selectors:
          - matchArgs: [{index: 4, operator: NotInMap, values: ["1", "list:dups"]}]
        """) == ["p.yaml:14:64: spec.tracepoints[0].selectors[0].matchArgs[0].values[1]: list "
                 "'dups' holds syscalls, but the argument at index 4 is int64; a syscall list "
                 "filters a syscall64 argument (as Tetragon's listReader requires)"]


# Tetragon's examples/tracingpolicy/raw_syscalls.yaml, its comments left out:
# every syscall of the host, by id.
RAW_SYSCALLS = """\
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: "raw-syscalls"
spec:
  tracepoints:
    - subsystem: "raw_syscalls"
      event: "sys_enter"
      args:
        - index: 4
          type: "syscall64"
"""


def test_vigil_run_with_tetragons_raw_syscalls_example(tmp_path: Path) -> None:
    path = tmp_path / "raw_syscalls.yaml"
    path.write_text(RAW_SYSCALLS)
    child = Child([["syscall", 1000]] * 3)
    # The host's other syscalls are many: only the child's are exported.
    run = VigilRun(tmp_path, ["--tracing-policy", str(path), "--pid", str(child.pid),
                              "--event-types", "process_tracepoint"])
    try:
        child.go()
        marker = {"syscall_id": {"id": MARKER, "abi": "x64"}}
        run.wait_for(lambda e: e["process_tracepoint"]["process"]["pid"] == child.pid
                     and e["process_tracepoint"]["args"] == [marker], "the child's marker")
    finally:
        run.stop()
    ours = [e["process_tracepoint"] for e in run.events()
            if e["process_tracepoint"]["process"]["pid"] == child.pid]
    calls = [b for b in ours if b["args"] == [{"syscall_id": {"id": 1000, "abi": "x64"}}]]
    assert len(calls) == 3
    assert {(b["subsys"], b["event"], b["policy_name"], b["action"]) for b in calls} == {
        ("raw_syscalls", "sys_enter", "raw-syscalls", "KPROBE_ACTION_POST")}
    assert all(len(b["args"]) == 1 and set(b["args"][0]) == {"syscall_id"} for b in ours)


def refusals(body: str) -> list[str]:
    (loaded,) = load_text(policy(body), "p.yaml")
    with pytest.raises(PolicyError) as err:
        compile_tracepoints(loaded)
    return [str(i).split(": ", 1)[1] for i in err.value.issues]


def test_buffer_arguments_the_plan_refuses() -> None:
    assert refusals("""
        tracepoints:
        - subsystem: syscalls
          event: sys_enter_write
          args:
          - {index: 6, type: char_buf}
          - {index: 6, sizeArgIndex: 7}
          - {index: 5, type: char_buf, sizeArgIndex: 8}
        """) == [
        "spec.tracepoints[0].args[0].index: char_buf field buf needs sizeArgIndex: the 1-based "
        "index of the field holding its length (common_* fields counted)",
        "spec.tracepoints[0].args[1].index: sizeArgIndex 7 names field buf (const char *), "
        "which is not an integer",
        "spec.tracepoints[0].args[2].index: field fd (unsigned int) is not a char pointer; "
        "char_buf reads the buffer a char * points to"]
    # `char comm[16]` is an array Tetragon reads and drops: no argument, no filter
    assert refusals("""
        tracepoints:
        - subsystem: sched
          event: sched_wakeup
          args: [{index: 4}]
          selectors:
          - matchArgs: [{index: 4, operator: Equal, values: ["x"]}]
        """) == ["spec.tracepoints[0].selectors: selectors[0].matchArgs[0].index: filters on "
                 "const_buf arguments are not supported yet"]


def test_a_generated_list_holds_the_kernels_syscalls(runtime: tuple[Runtime, Collect]) -> None:
    """generated_syscalls: every syscall whose __x64_sys_ function the running
    kernel's BTF has; NotInMap of it keeps the calls no kernel has. As for
    Tetragon (btf.GetSyscallsList), a call without arguments whose function
    the BTF lacks (getppid on 6.18) is not in the list."""
    rt, sink = runtime
    got = run(rt, sink, [["syscall", X64["dup"], 9999], ["syscall", 1000],
                         ["syscall", X64["getppid"]], ["syscall", 1001]], """
        lists:
        - {name: all, type: generated_syscalls}
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          args: [{index: 4, type: syscall64}]
          selectors:
          - matchPIDs: [{operator: In, values: [{pid}]}]
            matchArgs:
            - {index: 4, operator: NotInMap, values: ["list:all"]}
            - {index: 4, operator: NotInRange, values: ["1999:1999"]}
        """)
    in_btf = "__x64_sys_getppid" in kernel_functions(["__x64_sys_getppid"])
    assert [e.args[0].value.id for e in got] == [  # type: ignore[union-attr]
        1000, *([] if in_btf else [X64["getppid"]]), 1001]


def test_char_buf_with_a_signed_length_reads_nothing_when_it_is_negative(
        runtime: tuple[Runtime, Collect]) -> None:
    """sethostname(name, int len): the slot is 8 unsigned bytes, the length an
    int. Every length here is refused by the kernel (EINVAL: not 0..64) after
    the tracepoint fired, so the host's name stays."""
    rt, sink = runtime
    nr = X64["sethostname"]
    got = run(rt, sink, [["buf", nr, -1], ["buf", nr, 5000], ["buf", nr, -5000]], """
        tracepoints:
        - subsystem: syscalls
          event: sys_enter_sethostname
          args: [{index: 5, sizeArgIndex: 7}, {index: 6, type: int}]
          selectors:
          - matchPIDs: [{operator: In, values: [{pid}]}]
        """)
    assert [e.args for e in got] == [
        [Arg("bytes_arg", b""), Arg("int_arg", -1)],
        [Arg("truncated_bytes_arg", TruncatedBytes(pattern(CHAR_BUF_MAX), 5000)),
         Arg("int_arg", 5000)],
        [Arg("bytes_arg", b""), Arg("int_arg", -5000)]]
