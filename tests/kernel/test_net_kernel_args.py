"""Packet, address and kernel-object arguments of kernel functions, read from
real calls of real child processes: socket and sockaddr (security_socket_connect,
as Tetragon's security-socket-connect example), skb (ip_send_skb and
ip6_send_skb: a UDP datagram's headers), user_namespace and capability
(cap_capable, as creds-capability-usage), bpf_attr, bpf_map, bpf_prog and
perf_event (a child that loads a program, creates a map and opens a perf
event, as Tetragon's bpf example watches). Kernel functions need kprobes or
fentry: these run in the VM matrix. (module and load_info are decoded and
tested without a kernel: the matrix's guests cannot see their kernel's
modules yet, so none is loaded there.)"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from google.protobuf import json_format

from tests.kernel.test_syscall_kprobes import PY, kprobe_events, planned_or_skip
from vigil.api.gen.tetragon import events_pb2
from vigil.encode.tetragon import arg_json
from vigil.events.model import KprobeEvent
from vigil.runtime import Runtime
from vigil.wire.kernel_arg import BpfMapFields, BpfProgFields, PerfEventFields
from vigil.wire.net_arg import SkbFields, SockaddrFields, SockaddrUnFields
from vigil.wire.sock_arg import SockFields

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

RUNGS = ("kprobe", "fentry")


def hook(rt: Runtime, rung: str, spec: str) -> None:
    for plan in planned_or_skip(spec, rung):
        rt.add_tracepoint(plan)


def child(code: str) -> tuple[int, list[str]]:
    """A Python child running `code`: its pid and the lines it printed."""
    out = subprocess.run([PY, "-c", "import os\nprint(os.getpid(), flush=True)\n" + code],
                         capture_output=True, text=True, timeout=EVENT_TIMEOUT, check=True)
    pid, *lines = out.stdout.split("\n")
    return int(pid), [x for x in lines if x]


def check_schema(sink: Collect, ev: KprobeEvent) -> None:
    json_format.Parse(sink.lines[sink.events.index(ev)], events_pb2.GetEventsResponse())


CONNECT = """
    kprobes:
    - call: security_socket_connect
      syscall: false
      args:
      - {index: 0, type: socket}
      - {index: 1, type: sockaddr}
      - {index: 2, type: int}
"""

# UDP connects to an IPv4 and an IPv6 port, then a unix socket's connect.
CONNECTS = """
import socket
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.connect(("127.0.0.1", {v4}))
b = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); b.connect(("::1", {v6}))
srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); srv.bind({path!r})
c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); c.connect({path!r})
"""


@pytest.mark.parametrize("rung", RUNGS)
def test_socket_and_sockaddr_of_connect(runtime: tuple[Runtime, Collect], rung: str,
                                        tmp_path: Path) -> None:
    rt, sink = runtime
    hook(rt, rung, CONNECT)
    pid, _ = child(CONNECTS.format(v4=5301, v6=5302, path=str(tmp_path / "u")))
    evs = kprobe_events(rt, sink, pid, 3)
    assert [e.args[1].value for e in evs] == [
        SockaddrFields("AF_INET", "127.0.0.1", 5301), SockaddrFields("AF_INET6", "::1", 5302),
        SockaddrFields("AF_UNIX", "invalid IP", 0)]
    sock = evs[0].args[0]
    assert sock.key == "sock_arg" and isinstance(sock.value, SockFields)
    assert (sock.value.family, sock.value.type, sock.value.protocol, sock.value.state) == (
        "AF_INET", "SOCK_DGRAM", "IPPROTO_UDP", "TCP_CLOSE")
    assert [e.args[2].value for e in evs] == [16, 28, len(str(tmp_path / "u")) + 3]
    assert arg_json(evs[1].args[1]) == {"sockaddr_arg": {
        "family": "AF_INET6", "addr": "::1", "port": 5302}}
    check_schema(sink, evs[0])


@pytest.mark.parametrize("rung", RUNGS)
@pytest.mark.parametrize(("selector", "kept"), [
    # Tetragon's security-socket-connect.yaml: IP connects only
    ('{index: 1, operator: Family, values: ["AF_INET", "AF_INET6"]}', [5301, 5302]),
    ('{index: 1, operator: SAddr, values: ["::1/128"]}', [5302]),
    ('{index: 1, operator: SPort, values: ["5300:5301"]}', [5301]),
    ('{index: 0, operator: Protocol, values: ["IPPROTO_UDP"]}', [5301, 5302]),
])
def test_socket_operators_on_sockaddr_and_socket(runtime: tuple[Runtime, Collect], rung: str,
                                                 tmp_path: Path, selector: str,
                                                 kept: list[int]) -> None:
    """Which connects each filter reports; a last connect, to a port a second
    selector matches, ends the wait."""
    rt, sink = runtime
    hook(rt, rung, CONNECT + f"""      selectors:
      - matchArgs: [{selector}]
      - matchArgs: [{{index: 1, operator: SPort, values: ["5309"]}}]
""")
    pid, _ = child(CONNECTS.format(v4=5301, v6=5302, path=str(tmp_path / "u"))
                   + 'a.connect(("127.0.0.1", 5309))\n')
    evs = kprobe_events(rt, sink, pid, len(kept) + 1)
    ports = [e.args[1].value.port for e in evs if isinstance(e.args[1].value, SockaddrFields)]
    assert ports == [*kept, 5309]


UNIX_CHILD = """
import socket
srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); srv.bind({path!r})
abst = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); abst.bind("\\0vigil-abstract-test")
for where in ({path!r}, "\\0vigil-abstract-test"):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); c.connect(where)
v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); v4.connect(("127.0.0.1", 5307))
"""


@pytest.mark.parametrize("rung", RUNGS)
def test_sockaddr_un_of_unix_connects(runtime: tuple[Runtime, Collect], rung: str,
                                      tmp_path: Path) -> None:
    """A filesystem socket's path, an abstract name as "@name", an AF_INET
    address as its family only; a Prefix filter reads the path."""
    rt, sink = runtime
    # sizeArgIndex: connect's addrlen, where the abstract name ends
    hook(rt, rung, """
    kprobes:
    - call: security_socket_connect
      syscall: false
      args: [{index: 1, type: sockaddr_un, sizeArgIndex: 3}, {index: 2, type: int}]
    """)
    path = str(tmp_path / "un")
    pid, _ = child(UNIX_CHILD.format(path=path))
    evs = kprobe_events(rt, sink, pid, 3)
    assert [arg_json(e.args[0]) for e in evs] == [
        {"sockaddrun_arg": {"family": "AF_UNIX", "path": path}},
        {"sockaddrun_arg": {"family": "AF_UNIX", "path": "@vigil-abstract-test"}},
        {"sockaddrun_arg": {"family": "AF_INET"}}]
    check_schema(sink, evs[0])


@pytest.mark.parametrize("rung", RUNGS)
def test_a_prefix_filter_on_a_unix_path(runtime: tuple[Runtime, Collect], rung: str,
                                        tmp_path: Path) -> None:
    rt, sink = runtime
    hook(rt, rung, f"""
    kprobes:
    - call: security_socket_connect
      syscall: false
      args: [{{index: 1, type: sockaddr_un, sizeArgIndex: 3}}]
      selectors:
      - matchArgs: [{{index: 1, operator: Prefix, values: ["{tmp_path}/"]}}]
      # an abstract name is filtered without the "@" the event shows (the
      # kernel's bytes, as Tetragon's filter compares them)
      - matchArgs: [{{index: 1, operator: Equal, values: ["vigil-abstract-test"]}}]
    """)
    path = str(tmp_path / "un")
    pid, _ = child(UNIX_CHILD.format(path=path))
    evs = kprobe_events(rt, sink, pid, 2)
    assert [e.args[0].value.path for e in evs  # type: ignore[union-attr]
            if isinstance(e.args[0].value, SockaddrUnFields)] == [path, "@vigil-abstract-test"]


SKB = """
    kprobes:
    - call: ip_send_skb
      syscall: false
      args: [{index: 1, type: skb}]
      selectors: [{matchArgs: [{index: 1, operator: Protocol, values: [IPPROTO_UDP]}]}]
    - call: ip6_send_skb
      syscall: false
      args: [{index: 0, type: skb}]
      selectors: [{matchArgs: [{index: 0, operator: Protocol, values: [IPPROTO_UDP]}]}]
"""
# (The port has no listener: the ICMP and ICMPv6 port unreachable replies go
# out through the same functions, in the sender's context, and the Protocol
# filters leave them out.)


@pytest.mark.parametrize("rung", RUNGS)
def test_skb_of_udp_datagrams(runtime: tuple[Runtime, Collect], rung: str) -> None:
    rt, sink = runtime
    hook(rt, rung, SKB)
    pid, ports = child("""
import socket
for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.sendto(b"x" * 11, (host, 5303))
    print(s.getsockname()[1], flush=True)
""")
    evs = kprobe_events(rt, sink, pid, 2)
    skbs = [e.args[0].value for e in evs]
    v4, v6 = (int(p) for p in ports)
    assert all(isinstance(s, SkbFields) for s in skbs)
    assert [(s.family, s.saddr, s.daddr, s.sport, s.dport, s.proto, s.protocol, s.len)
            for s in skbs if isinstance(s, SkbFields)] == [
        ("AF_INET", "127.0.0.1", "127.0.0.1", v4, 5303, 17, "IPPROTO_UDP", 20 + 8 + 11),
        ("AF_INET6", "::1", "::1", v6, 5303, 17, "IPPROTO_UDP", 40 + 8 + 11)]
    assert [e.function_name for e in evs] == ["ip_send_skb", "ip6_send_skb"]
    check_schema(sink, evs[0])


@pytest.mark.parametrize("rung", RUNGS)
def test_socket_operators_on_skb(runtime: tuple[Runtime, Collect], rung: str) -> None:
    rt, sink = runtime
    hook(rt, rung, """
    kprobes:
    - call: ip_send_skb
      syscall: false
      args: [{index: 1, type: skb}]
      selectors:
      - matchArgs: [{index: 1, operator: DPort, values: ["5305"]},
                    {index: 1, operator: DAddr, values: ["127.0.0.0/8"]}]
      - matchArgs: [{index: 1, operator: DPort, values: ["5306"]}]
    """)
    pid, _ = child("""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for port in (5304, 5305, 5306):
    s.sendto(b"y", ("127.0.0.1", port))
""")
    evs = kprobe_events(rt, sink, pid, 2)
    assert [e.args[0].value.dport for e in evs if isinstance(e.args[0].value, SkbFields)] == [
        5305, 5306]


@pytest.mark.parametrize("rung", RUNGS)
def test_user_namespace_and_capability_of_cap_capable(runtime: tuple[Runtime, Collect],
                                                      rung: str) -> None:
    """Lowering its nice value asks for CAP_SYS_NICE (23) in the host's user
    namespace."""
    rt, sink = runtime
    hook(rt, rung, """
    kprobes:
    - call: cap_capable
      syscall: false
      args:
      - {index: 1, type: user_namespace}
      - {index: 2, type: capability}
    """)
    pid, (inum,) = child("""
os.setpriority(os.PRIO_PROCESS, 0, -1)
print(os.stat("/proc/self/ns/user").st_ino, flush=True)
""")
    # Tetragon compares no capability argument: the child's check of
    # CAP_SYS_NICE is picked out here.
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        nice = [e for e in kprobe_events(rt, sink, pid, 1)
                if e.args[1].value == 23]
        if nice or time.monotonic() > deadline:
            break
        rt.step(50)
    ev = nice[0]
    assert [arg_json(a) for a in ev.args] == [
        {"user_ns_arg": {"level": 0, "uid": 0, "gid": 0,
                         "ns": {"inum": int(inum), "is_host": True}}},
        {"capability_arg": {"value": 23, "name": "CAP_SYS_NICE"}}]
    check_schema(sink, ev)


# BPF_MAP_CREATE and BPF_PROG_LOAD (a socket filter: r0 = 0; exit) by hand,
# and a software perf event, so the names and sizes are the test's own.
BPF_CHILD = r"""
import ctypes, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sys(nr, *args):
    r = libc.syscall(nr, *args)
    if r < 0:
        raise OSError(ctypes.get_errno(), f"syscall {nr}")
    return r
attr = ctypes.create_string_buffer(struct.pack("=7I16s", 1, 4, 8, 16, 0, 0, 0,
                                               b"vigil_map"), 128)
sys(321, 0, attr, 128)
insns = ctypes.create_string_buffer(bytes.fromhex("b700000000000000" "9500000000000000"))
lic = ctypes.create_string_buffer(b"GPL")
attr = ctypes.create_string_buffer(struct.pack("=IIQQIIQII16s", 1, 2,
    ctypes.addressof(insns), ctypes.addressof(lic), 0, 0, 0, 0, 0, b"vigil_prog"), 128)
sys(321, 5, attr, 128)
# context switches: the software PMU's own (cpu-clock has a PMU of its own,
# with a dynamic type, since 6.5)
pattr = ctypes.create_string_buffer(struct.pack("=IIQQQQ", 1, 64, 3, 0, 0, 1), 64)
sys(298, pattr, 0, -1, -1, 0)
"""

BPF_POLICY = """
    kprobes:
    - call: bpf_check
      syscall: false
      args: [{index: 1, type: bpf_attr}]
    - call: security_bpf_prog
      syscall: false
      args: [{index: 0, type: bpf_prog}]
    - call: security_perf_event_alloc
      syscall: false
      args: [{index: 0, type: perf_event}]
    - call: security_bpf_map_alloc
      syscall: false
      args: [{index: 0, type: bpf_map}]
      ignore: {callNotFound: true}
    - call: security_bpf_map_create
      syscall: false
      args: [{index: 0, type: bpf_map}]
      ignore: {callNotFound: true}
"""


@pytest.mark.parametrize("rung", RUNGS)
def test_bpf_objects_and_perf_events(runtime: tuple[Runtime, Collect], rung: str) -> None:
    rt, sink = runtime
    hook(rt, rung, BPF_POLICY)
    pid, _ = child(BPF_CHILD)
    evs = kprobe_events(rt, sink, pid, 4)
    by_fn = {e.function_name: e.args[0].value for e in evs}
    map_fn = ("security_bpf_map_create" if "security_bpf_map_create" in by_fn
              else "security_bpf_map_alloc")
    assert by_fn == {
        map_fn: BpfMapFields("BPF_MAP_TYPE_HASH", 4, 8, 16, "vigil_map"),
        "bpf_check": BpfProgFields("BPF_PROG_TYPE_SOCKET_FILTER", 2, "vigil_prog"),
        "security_bpf_prog": BpfProgFields("BPF_PROG_TYPE_SOCKET_FILTER", 2, "vigil_prog"),
        "security_perf_event_alloc": PerfEventFields("", "PERF_TYPE_SOFTWARE", 3, 0)}
    assert [e.args[0].key for e in evs if e.function_name == "bpf_check"] == ["bpf_attr_arg"]
    for ev in evs:
        check_schema(sink, ev)




@pytest.mark.parametrize("rung", RUNGS)
def test_filename_of_an_open(runtime: tuple[Runtime, Collect], rung: str,
                             tmp_path: Path) -> None:
    """filename: do_filp_open's struct filename *, the path as the task gave
    it (getname's copy), filtered as a string."""
    rt, sink = runtime
    hook(rt, rung, f"""
    kprobes:
    - call: do_filp_open
      syscall: false
      args: [{{index: 1, type: filename}}]
      selectors: [{{matchArgs: [{{index: 1, operator: Prefix, values: ["{tmp_path}/"]}}]}}]
    """)
    pid, _ = child(f"os.close(os.open({str(tmp_path / 'named')!r}, os.O_CREAT | os.O_WRONLY))")
    ev, = kprobe_events(rt, sink, pid, 1)
    assert arg_json(ev.args[0]) == {"string_arg": str(tmp_path / "named")}
