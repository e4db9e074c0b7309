"""The Tetragon JSON shape and the compact line."""

from __future__ import annotations

import orjson

from vigil.agent import EventFilter, exit_status
from vigil.encode.compact import CompactEncoder
from vigil.encode.tetragon import JsonEncoder, RenderOptions
from vigil.events.model import (
    PROCESS_EXEC,
    PROCESS_EXIT,
    PROCESS_TRACEPOINT,
    Arg,
    Event,
    SyscallId,
    TracepointEvent,
)
from vigil.kernel.syscalls import default_abi
from vigil.process.model import Process
from vigil.wire.records import ProcFlag


def proc(pid: int = 10, binary: str = "/usr/bin/curl", args: str = "https://example.org",
         parent_exec_id: str = "cGFyZW50") -> Process:
    return Process(
        key=(pid, 1000), exec_id=f"id{pid}", pid=pid, tid=pid, binary=binary, arguments=args,
        cwd="/", flags=ProcFlag.EXECVE | ProcFlag.ROOTCWD,
        start_time="2026-11-24T10:00:00.000000001Z", uid=1000, auid=1000,
        cap_effective=(1 << 21) | 1, parent_exec_id=parent_exec_id,
        ns={"pid": 4026531836, "net": 4026531840},
    )


OPTS = RenderOptions(node_name="vm")


def test_exec_event_has_tetragons_field_names() -> None:
    ev = Event(PROCESS_EXEC, 1_700_000_000_000_000_005, proc(), parent=proc(1, "/bin/sh", ""))
    out = orjson.loads(JsonEncoder(OPTS).encode(ev))
    assert set(out) == {"process_exec", "node_name", "time"}
    assert out["node_name"] == "vm"
    assert out["time"] == "2023-11-14T22:13:20.000000005Z"
    p = out["process_exec"]["process"]
    assert p["binary"] == "/usr/bin/curl"
    assert p["arguments"] == "https://example.org"
    assert p["flags"] == "execve rootcwd"
    assert p["parent_exec_id"] == "cGFyZW50"
    assert p["cap"] == {"effective": ["CAP_CHOWN", "CAP_SYS_ADMIN"]}
    assert "ns" not in p
    assert out["process_exec"]["parent"]["binary"] == "/bin/sh"
    assert "arguments" not in out["process_exec"]["parent"]


def test_exit_event_status_and_signal() -> None:
    enc = JsonEncoder(OPTS)
    ok = orjson.loads(enc.encode(Event(PROCESS_EXIT, 0, proc(), status=0)))["process_exit"]
    assert "status" not in ok and "signal" not in ok  # like Tetragon: zero values omitted
    three = orjson.loads(enc.encode(Event(PROCESS_EXIT, 0, proc(11), status=3)))
    assert three["process_exit"]["status"] == 3
    killed = orjson.loads(enc.encode(Event(PROCESS_EXIT, 0, proc(12), signal="SIGKILL")))
    assert killed["process_exit"]["signal"] == "SIGKILL"


def test_namespaces_on_request_with_is_host() -> None:
    opts = RenderOptions(node_name="vm", with_ns=True, host_ns={"pid": 4026531836, "net": 1})
    p = orjson.loads(JsonEncoder(opts).encode(Event(PROCESS_EXEC, 0, proc())))
    ns = p["process_exec"]["process"]["ns"]
    # Like protobuf's JSON, a false is_host is left out.
    assert ns == {"pid": {"inum": 4026531836, "is_host": True}, "net": {"inum": 4026531840}}


def test_compact_lines() -> None:
    enc = CompactEncoder("vm")
    assert enc.line(Event(PROCESS_EXEC, 0, proc())) == (
        "🚀 process vm /usr/bin/curl https://example.org")
    assert enc.line(Event(PROCESS_EXIT, 0, proc(), status=0)) == (
        "💥 exit    vm /usr/bin/curl https://example.org 0")
    assert enc.line(Event(PROCESS_EXIT, 0, proc(), signal="SIGKILL")) == (
        "💥 exit    vm /usr/bin/curl https://example.org SIGKILL")
    assert enc.line(Event(PROCESS_EXEC, 0, proc(args=""))) == "🚀 process vm /usr/bin/curl"


def test_compact_raw_syscalls_name_the_call() -> None:
    """tetra's compact line for raw_syscalls/sys_enter: the syscall by name,
    its ABI when not the machine's (pkg/encoder/raw_syscall_enter.go)."""
    enc = CompactEncoder("vm")
    native = default_abi()
    other = "i386" if native == "x64" else "arm32"

    def line(subsys: str, event: str, *args: Arg) -> str:
        return enc.line(TracepointEvent(PROCESS_TRACEPOINT, 0, proc(args=""), subsys=subsys,
                                        event=event, args=list(args)))

    dup = {"x64": 32, "arm64": 23}[native]
    assert line("raw_syscalls", "sys_enter", Arg("syscall_id", SyscallId(dup, native))) == (
        "☎  syscall vm /usr/bin/curl dup")
    if other == "i386":
        assert line("raw_syscalls", "sys_enter", Arg("syscall_id", SyscallId(41, other))) == (
            "☎  syscall vm /usr/bin/curl i386/dup")
    assert line("raw_syscalls", "sys_enter", Arg("long_arg", dup)) == (
        "☎  syscall vm /usr/bin/curl dup")
    assert line("raw_syscalls", "sys_enter", Arg("syscall_id", SyscallId(1000, native))) == (
        "☎  syscall vm /usr/bin/curl unknown")
    assert line("raw_syscalls", "sys_enter") == "☎  syscall vm /usr/bin/curl unknown"
    assert line("syscalls", "sys_enter_dup", Arg("int_arg", 3)) == (
        "⁉️ tracepoint vm /usr/bin/curl syscalls sys_enter_dup")


def test_compact_colour_only_when_asked() -> None:
    line = CompactEncoder("vm", colour=True).line(Event(PROCESS_EXEC, 0, proc()))
    assert line == "\x1b[32m🚀 process vm /usr/bin/curl https://example.org\x1b[0m"


def test_exit_status_decodes_the_kernels_exit_code() -> None:
    assert exit_status(3 << 8) == (3, "")
    assert exit_status(9) == (0, "SIGKILL")
    assert exit_status(0) == (0, "")
    assert exit_status(15 | 0x80) == (0, "SIGTERM")  # core-dump bit ignored


def test_filter_matches_all_given_conditions() -> None:
    import re

    f = EventFilter(frozenset({PROCESS_EXEC}), (re.compile("curl$"),), frozenset({10}))
    assert f(Event(PROCESS_EXEC, 0, proc()))
    assert not f(Event(PROCESS_EXIT, 0, proc()))
    assert not f(Event(PROCESS_EXEC, 0, proc(pid=11)))
    assert not f(Event(PROCESS_EXEC, 0, proc(binary="/bin/sh")))
