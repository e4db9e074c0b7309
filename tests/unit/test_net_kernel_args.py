"""skb, sockaddr, socket, user_namespace, bpf_attr, bpf_prog, bpf_map,
perf_event, module and load_info arguments: the kernel's bytes decoded as
Tetragon shows them, their JSON parsed with Tetragon's schema, and the
socket operators on the packet and address kinds."""

from __future__ import annotations

import ctypes
import ipaddress

import orjson
import pytest
from google.protobuf import json_format

from vigil.agent import arg_value
from vigil.api.gen.tetragon import events_pb2
from vigil.encode.tetragon import JsonEncoder, RenderOptions
from vigil.sensors.plan import ArgPlan
from vigil.sensors.selectors import ArgFilter, SelectorPlan, compile_selectors
from vigil.wire.records import (
    ArgKind,
    BpfMapArg,
    BpfProgArg,
    ModuleArg,
    PerfEventArg,
    Selectors,
    SelFlag,
    SelOp,
    SkbArg,
    SockaddrUnArg,
    SockaddrUnFlag,
    SockArg,
    UserNsArg,
)

from .test_kprobe_encoders import kprobe


def plan(kind: ArgKind, name: str) -> ArgPlan:
    return ArgPlan(0, kind, 0, 8, name)


def tuple_bytes(family: int, saddr: str, daddr: str = "", **kw: int) -> SockArg:
    s = SockArg(family=family, **kw)
    for field, text in (("saddr", saddr), ("daddr", daddr)):
        if text:
            packed = ipaddress.ip_address(text).packed
            ctypes.memmove(getattr(s, field), packed, len(packed))
    return s


def json_of(*args: object) -> tuple[list[dict[str, object]], events_pb2.GetEventsResponse]:
    line = JsonEncoder(RenderOptions(node_name="n")).encode(kprobe("f", list(args)))  # type: ignore[arg-type]
    return (orjson.loads(line)["process_kprobe"]["args"],
            json_format.Parse(line, events_pb2.GetEventsResponse()))


def test_skb_udp_over_ipv4() -> None:
    raw = bytes(SkbArg(tuple=tuple_bytes(2, "127.0.0.1", "127.0.0.2", protocol=17,
                                         sport=40000, dport=53, mark=7, priority=6),
                       hash=0xABCDEF01, len=42, secpath_len=0, secpath_olen=0))
    args, msg = json_of(arg_value(plan(ArgKind.SKB, "skb"), raw))
    assert args == [{"skb_arg": {
        "hash": 0xABCDEF01, "len": 42, "priority": 6, "mark": 7, "saddr": "127.0.0.1",
        "daddr": "127.0.0.2", "sport": 40000, "dport": 53, "proto": 17,
        "protocol": "IPPROTO_UDP", "family": "AF_INET"}}]
    assert msg.process_kprobe.args[0].skb_arg.dport == 53


def test_skb_not_ip_shows_what_tetragon_shows() -> None:
    raw = bytes(SkbArg(len=60))
    args, _ = json_of(arg_value(plan(ArgKind.SKB, "skb"), raw))
    # network.GetIP of no family prints "invalid IP"; family 0 is AF_UNSPEC
    assert args == [{"skb_arg": {"len": 60, "saddr": "invalid IP", "daddr": "invalid IP",
                                 "protocol": "IPPROTO_IP", "family": "AF_UNSPEC"}}]


@pytest.mark.parametrize(("family", "addr", "name"), [
    (2, "10.1.2.3", "AF_INET"), (10, "2001:db8::7", "AF_INET6")])
def test_sockaddr(family: int, addr: str, name: str) -> None:
    raw = bytes(tuple_bytes(family, addr, sport=8080))
    args, msg = json_of(arg_value(plan(ArgKind.SOCKADDR, "sockaddr"), raw))
    assert args == [{"sockaddr_arg": {"family": name, "addr": addr, "port": 8080}}]
    assert msg.process_kprobe.args[0].sockaddr_arg.port == 8080


def test_socket_is_shown_as_its_sock() -> None:
    raw = bytes(tuple_bytes(2, "127.0.0.1", "127.0.0.1", type=1, protocol=6, state=10,
                            sport=80))
    args, _ = json_of(arg_value(plan(ArgKind.SOCKET, "socket"), raw))
    assert args == [{"sock_arg": {"family": "AF_INET", "type": "SOCK_STREAM",
                                  "protocol": "IPPROTO_TCP", "saddr": "127.0.0.1",
                                  "daddr": "127.0.0.1", "sport": 80, "state": "TCP_LISTEN"}}]


def test_user_namespace_host_and_nested() -> None:
    host = arg_value(plan(ArgKind.USER_NS, "user_namespace"),
                     bytes(UserNsArg(level=0, uid=0, gid=0, inum=4026531837)))
    nested = arg_value(plan(ArgKind.USER_NS, "user_namespace"),
                       bytes(UserNsArg(level=1, uid=1000, gid=1000, inum=4026532100)))
    args, msg = json_of(host, nested)
    assert args == [
        {"user_ns_arg": {"level": 0, "uid": 0, "gid": 0,
                         "ns": {"inum": 4026531837, "is_host": True}}},
        {"user_ns_arg": {"level": 1, "uid": 1000, "gid": 1000, "ns": {"inum": 4026532100}}}]
    assert msg.process_kprobe.args[1].user_ns_arg.uid.value == 1000


def test_bpf_attr_prog_map_and_perf_event() -> None:
    prog = bytes(BpfProgArg(prog_type=1, insn_cnt=2, name=b"vigil_test"))
    odd = bytes(BpfProgArg(prog_type=99, insn_cnt=0, name=b"x" * 16))  # no NUL, unknown type
    bmap = bytes(BpfMapArg(map_type=1, key_size=4, value_size=8, max_entries=16,
                           name=b"vigil_map"))
    perf = bytes(PerfEventArg(type=1, config=0, probe_offset=0))
    kperf = bytes(PerfEventArg(type=6, config=1, probe_offset=0x10, kprobe_func=b"do_sys_open"))
    args, msg = json_of(arg_value(plan(ArgKind.BPF_ATTR, "bpf_attr"), prog),
                        arg_value(plan(ArgKind.BPF_PROG, "bpf_prog"), odd),
                        arg_value(plan(ArgKind.BPF_MAP, "bpf_map"), bmap),
                        arg_value(plan(ArgKind.PERF_EVENT, "perf_event"), perf),
                        arg_value(plan(ArgKind.PERF_EVENT, "perf_event"), kperf))
    assert args == [
        {"bpf_attr_arg": {"ProgType": "BPF_PROG_TYPE_SOCKET_FILTER", "InsnCnt": 2,
                          "ProgName": "vigil_test"}},
        {"bpf_prog_arg": {"ProgType": "99", "ProgName": "x" * 16}},
        {"bpf_map_arg": {"MapType": "BPF_MAP_TYPE_HASH", "KeySize": 4, "ValueSize": 8,
                         "MaxEntries": 16, "MapName": "vigil_map"}},
        {"perf_event_arg": {"Type": "PERF_TYPE_SOFTWARE"}},
        {"perf_event_arg": {"KprobeFunc": "do_sys_open", "Type": "PERF_TYPE_MAX",
                            "Config": "1", "ProbeOffset": "16"}}]
    assert msg.process_kprobe.args[4].perf_event_arg.ProbeOffset == 16


def test_module_and_load_info() -> None:
    raw = bytes(ModuleArg(taints=(1 << 12) | (1 << 13) | (1 << 3), sig_ok=0, name=b"dummy"))
    args, msg = json_of(arg_value(plan(ArgKind.MODULE, "module"), raw),
                        arg_value(plan(ArgKind.LOAD_INFO, "load_info"), raw))
    # bit 3 (TAINT_CPU_OUT_OF_SPEC) is no module's: Tetragon names it not
    tainted = ["TAINT_OUT_OF_TREE_MODULE", "TAINT_UNSIGNED_MODULE"]
    assert args == [{"module_arg": {"name": "dummy", "tainted": tainted}},
                    {"module_arg": {"name": "dummy", "signature_ok": False,
                                    "tainted": tainted}}]
    assert not msg.process_kprobe.args[0].module_arg.HasField("signature_ok")
    assert msg.process_kprobe.args[1].module_arg.HasField("signature_ok")


@pytest.mark.parametrize(("kind", "name"), [(ArgKind.SKB, "skb"), (ArgKind.SOCKADDR, "sockaddr"),
                                            (ArgKind.SOCKET, "socket")])
def test_socket_operators_apply_to_packets_and_addresses(kind: ArgKind, name: str) -> None:
    port = Selectors.from_buffer_copy(compile_selectors(
        [SelectorPlan(args=(ArgFilter(0, "SPort", ("53",)),))], [plan(kind, name)]))
    assert (port.sel[0].args[0].op, port.sel[0].args[0].lo[0]) == (SelOp.SPORT, 53)
    family = Selectors.from_buffer_copy(compile_selectors(
        [SelectorPlan(args=(ArgFilter(0, "Family", ("AF_INET",)),))], [plan(kind, name)]))
    assert (family.sel[0].args[0].op, family.sel[0].args[0].lo[0]) == (SelOp.FAMILY, 2)


@pytest.mark.parametrize(("kind", "name", "op", "message"), [
    (ArgKind.SKB, "skb", "State", "State filters sock and socket arguments; a skb has no TCP "
                                  "state"),
    (ArgKind.SOCKADDR, "sockaddr", "DPort", "a sockaddr holds one address and port, which "
                                            "SPort filters"),
    (ArgKind.SKB, "skb", "Equal", "Equal does not apply to a skb; use the socket operators "
                                  "(SAddr, DAddr, SPort, DPort, Protocol, Family, State, ...)"),
    (ArgKind.BPF_MAP, "bpf_map", "Equal", "filters on bpf_map arguments are not supported "
                                          "yet"),
    (ArgKind.MODULE, "module", "SPort", "SPort filters sock, socket, skb and sockaddr "
                                        "arguments; the argument at index 0 is module"),
])
def test_operators_that_do_not_apply(kind: ArgKind, name: str, op: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        compile_selectors([SelectorPlan(args=(ArgFilter(0, op, ("1",)),))], [plan(kind, name)])
    assert str(err.value).split(": ", 1)[1] == message


@pytest.mark.parametrize(("value", "shown"), [(0, "BPF_MAP_CREATE"), (5, "BPF_PROG_LOAD"),
                                              (36, "BPF_TOKEN_CREATE"), (37, 37), (-1, -1)])
def test_bpf_cmd_is_shown_by_name(value: int, shown: object) -> None:
    """Tetragon's BpfCmd enum: a name where it has one, else (as protobuf's
    JSON writes an unknown enum value) the number."""
    arg = arg_value(ArgPlan(0, ArgKind.INT, 0, 4, "bpf_cmd", signed=True),
                    value.to_bytes(8, "little", signed=True))
    args, msg = json_of(arg)
    assert args == [{"bpf_cmd_arg": shown}]
    assert msg.process_kprobe.args[0].bpf_cmd_arg == value


def un_bytes(family: int, path: bytes, abstract: bool = False) -> bytes:
    return bytes(SockaddrUnArg(flags=SockaddrUnFlag.ABSTRACT if abstract else 0,
                               family=family)) + path


@pytest.mark.parametrize(("raw", "shown"), [
    (un_bytes(1, b"/run/x.sock"), {"family": "AF_UNIX", "path": "/run/x.sock"}),
    (un_bytes(1, b"dbus-abc", abstract=True), {"family": "AF_UNIX", "path": "@dbus-abc"}),
    (un_bytes(1, b"", abstract=True), {"family": "AF_UNIX"}),  # an unnamed address
    (un_bytes(2, b""), {"family": "AF_INET"}),
    (un_bytes(16, b""), {}),  # Tetragon names only AF_INET, AF_INET6 and AF_UNIX here
    (un_bytes(1, b"/r\xffx"), {"family": "AF_UNIX", "path": "/r\\xffx"}),
])
def test_sockaddr_un(raw: bytes, shown: dict[str, str]) -> None:
    args, msg = json_of(arg_value(plan(ArgKind.SOCKADDR_UN, "sockaddr_un"), raw))
    assert args == [{"sockaddrun_arg": shown}]
    assert msg.process_kprobe.args[0].sockaddrun_arg.path == shown.get("path", "")


def test_sockaddr_un_path_filters_read_the_path() -> None:
    out = Selectors.from_buffer_copy(compile_selectors(
        [SelectorPlan(args=(ArgFilter(0, "Prefix", ("/run/",)),))],
        [plan(ArgKind.SOCKADDR_UN, "sockaddr_un")]))
    assert (out.sel[0].args[0].op, out.sel[0].args[0].flags) == (SelOp.PREFIX, SelFlag.PATH)
