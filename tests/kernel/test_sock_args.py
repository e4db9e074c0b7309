"""sock arguments of kernel functions (tcp_connect(struct sock *)), read as
Tetragon reads them, and the socket operators on them in the kernel:
addresses and CIDRs (IPv4 and IPv6, in the hook's trie), port ranges and
their Priv forms, Family, Protocol, State. Kernel functions need kprobes or
fentry: these run in the VM matrix."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from google.protobuf import json_format

from tests.kernel.test_syscall_kprobes import PY, kprobe_events, planned_or_skip
from vigil.encode.compact_kprobe import kprobe_line
from vigil.encode.tetragon import arg_json
from vigil.runtime import Runtime
from vigil.wire.sock_arg import SockFields

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

RUNGS = ("kprobe", "fentry")


def connect(family: socket.AddressFamily, host: str, ports: list[int]) -> tuple[int, list[int]]:
    """A child that connects to each of `ports` on `host` in turn: its pid
    and the local port of each connection."""
    child = subprocess.run([PY, "-c", f"""
import socket
for port in {ports!r}:
    s = socket.socket({int(family)}, socket.SOCK_STREAM)
    s.connect(({host!r}, port))
    print(s.getsockname()[1], flush=True)
    s.close()
import os
print(os.getpid())
"""], capture_output=True, timeout=EVENT_TIMEOUT, check=True)
    *local, pid = (int(x) for x in child.stdout.split())
    return pid, local


def listeners(family: socket.AddressFamily, host: str, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.bind((host, 0))
        s.listen(4)
        out.append(s)
    return out


def hook(rt: Runtime, rung: str, selectors: str = "") -> None:
    spec = f"""
        kprobes:
        - call: tcp_connect
          syscall: false
          args: [{{index: 0, type: sock}}]
          {selectors}
    """
    for plan in planned_or_skip(spec, rung):
        rt.add_tracepoint(plan)


@pytest.mark.parametrize("rung", RUNGS)
def test_tcp_connect_gives_the_sock(runtime: tuple[Runtime, Collect], rung: str) -> None:
    rt, sink = runtime
    hook(rt, rung)
    lst, = listeners(socket.AF_INET, "127.0.0.1", 1)
    port = lst.getsockname()[1]
    pid, (local,) = connect(socket.AF_INET, "127.0.0.1", [port])
    ev, = kprobe_events(rt, sink, pid, 1)
    arg = ev.args[0]
    assert isinstance(arg.value, SockFields) and arg.value.cookie != 0
    assert arg.key == "sock_arg" and arg.value == SockFields(
        "AF_INET", "SOCK_STREAM", "IPPROTO_TCP", 0, 0, "127.0.0.1", "127.0.0.1", local, port,
        arg.value.cookie, "TCP_SYN_SENT")
    assert arg_json(arg) == {"sock_arg": {
        "family": "AF_INET", "type": "SOCK_STREAM", "protocol": "IPPROTO_TCP",
        "saddr": "127.0.0.1", "daddr": "127.0.0.1", "sport": local, "dport": port,
        "cookie": str(arg.value.cookie), "state": "TCP_SYN_SENT"}}
    line = sink.lines[sink.events.index(ev)]
    from vigil.api.gen.tetragon import events_pb2
    json_format.Parse(line, events_pb2.GetEventsResponse())
    assert kprobe_line(ev, "P", str) == f"🔌 connect P tcp 127.0.0.1:{local} -> 127.0.0.1:{port}"


@pytest.mark.parametrize("rung", RUNGS)
def test_ipv6_addresses(runtime: tuple[Runtime, Collect], rung: str) -> None:
    rt, sink = runtime
    hook(rt, rung, 'selectors: [{matchArgs: [{index: 0, operator: DAddr, values: ["::1/128"]}]}]')
    lst, = listeners(socket.AF_INET6, "::1", 1)
    port = lst.getsockname()[1]
    pid, (local,) = connect(socket.AF_INET6, "::1", [port])
    ev, = kprobe_events(rt, sink, pid, 1)
    value = ev.args[0].value
    assert isinstance(value, SockFields)
    assert (value.family, value.saddr, value.daddr, value.sport, value.dport) == (
        "AF_INET6", "::1", "::1", local, port)


@pytest.mark.parametrize("rung", RUNGS)
@pytest.mark.parametrize(("op", "values", "kept"), [
    ("DAddr", '["127.0.0.2/32", "127.0.0.0/31"]', [0, 1]),  # 127.0.0.1 is in the /31
    ("NotDAddr", '["127.0.0.0/8"]', []),
    ("DAddr", '["10.0.0.0/8"]', []),
    ("Family", '["AF_INET"]', [0, 1]),
    ("Protocol", '["IPPROTO_UDP"]', []),
    ("State", '["TCP_SYN_SENT"]', [0, 1]),
    ("DPortPriv", "[]", []),
    ("NotDPortPriv", "[]", [0, 1]),
    ("SAddr", '["127.0.0.1"]', [0, 1]),
])
def test_socket_operators(runtime: tuple[Runtime, Collect], rung: str, op: str, values: str,
                          kept: list[int]) -> None:
    """Two connections to 127.0.0.1; which of them each filter reports. A
    last connection, matched by a second selector on its port, ends the wait."""
    rt, sink = runtime
    lsts = listeners(socket.AF_INET, "127.0.0.1", 3)
    ports = [s.getsockname()[1] for s in lsts]
    hook(rt, rung, f"""selectors:
          - matchArgs: [{{index: 0, operator: {op}, values: {values}}}]
          - matchArgs: [{{index: 0, operator: DPort, values: ["{ports[2]}"]}}]""")
    pid, _ = connect(socket.AF_INET, "127.0.0.1", ports)
    evs = kprobe_events(rt, sink, pid, len(kept) + 1)
    got = [e.args[0].value.dport for e in evs  # type: ignore[union-attr]
           if isinstance(e.args[0].value, SockFields)]
    assert got == [ports[i] for i in kept] + [ports[2]]


@pytest.mark.parametrize("rung", RUNGS)
def test_dport_ranges(runtime: tuple[Runtime, Collect], rung: str) -> None:
    rt, sink = runtime
    lsts = listeners(socket.AF_INET, "127.0.0.1", 2)
    ports = [s.getsockname()[1] for s in lsts]
    a, b = ports
    hook(rt, rung, f'selectors: [{{matchArgs: [{{index: 0, operator: DPort, values: '
                   f'["{b}:{b}", "{a}:{a}"]}}]}}]')
    pid, _ = connect(socket.AF_INET, "127.0.0.1", ports)
    evs = kprobe_events(rt, sink, pid, 2)
    assert [e.args[0].value.dport for e in evs] == ports  # type: ignore[union-attr]


def test_tetragons_tcp_connect_example(tmp_path: Path) -> None:
    """tracingpolicy/tcp-connect.yaml under `vigil run -o compact`, as its
    docs show it: 🔌 connect and 🧹 close lines of the child's connection."""
    from tests.tetragon_examples import runnable_example

    from .vigil_runner import VigilRun

    f = runnable_example("tracingpolicy/tcp-connect.yaml")
    lst, = listeners(socket.AF_INET, "127.0.0.1", 1)
    port = lst.getsockname()[1]
    run = VigilRun(tmp_path, ["--tracing-policy", str(f)])
    try:
        pid, (local,) = connect(socket.AF_INET, "127.0.0.1", [port])
        ev = run.wait_for(lambda e: e.get("process_kprobe", {}).get("function_name")
                          == "tcp_connect" and e["process_kprobe"]["process"]["pid"] == pid,
                          "the child's tcp_connect")
    finally:
        run.stop()
    sock = ev["process_kprobe"]["args"][0]["sock_arg"]
    assert (sock["saddr"], sock["daddr"], sock["sport"], sock["dport"], sock["state"]) == (
        "127.0.0.1", "127.0.0.1", local, port, "TCP_SYN_SENT")
