"""sock arguments: the kernel's bytes (struct vigil_sock_arg) decoded as
Tetragon shows them, their JSON (parseable with its schema), tetra's compact
lines for tcp_connect, tcp_close and tcp_sendmsg; the socket operators
compiled, their trie keys, and their errors."""

from __future__ import annotations

import ctypes
import ipaddress

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st

from vigil.api.gen.tetragon import events_pb2
from vigil.encode.compact import CompactEncoder
from vigil.encode.tetragon import JsonEncoder, RenderOptions
from vigil.events.model import Arg
from vigil.sensors.plan import ArgPlan
from vigil.sensors.selectors import (
    ArgFilter,
    SelectorPlan,
    addr_keys,
    compile_selectors,
    selector_strings,
)
from vigil.wire.decode import DecodeError
from vigil.wire.records import ArgKind, Selectors, SelOp, SelStrKey, SockArg
from vigil.wire.sock_arg import SockFields, decode_sock_arg

from .test_kprobe_encoders import P, kprobe

SOCK = ArgPlan(0, ArgKind.SOCK, 0, 8, "sock")


def sock_bytes(family: int = 2, saddr: bytes = b"\x7f\0\0\x01", daddr: bytes = b"\x0a\0\0\x02",
               **kw: int) -> bytes:
    s = SockArg(family=family, type=kw.get("type", 1), protocol=kw.get("protocol", 6),
                state=kw.get("state", 2), sport=kw.get("sport", 40000),
                dport=kw.get("dport", 443), cookie=kw.get("cookie", 0xFFFF888812345678),
                mark=kw.get("mark", 0), priority=kw.get("priority", 0))
    ctypes.memmove(s.saddr, saddr, len(saddr))
    ctypes.memmove(s.daddr, daddr, len(daddr))
    return bytes(s)


def test_decode_ipv4_and_ipv6() -> None:
    assert decode_sock_arg(sock_bytes()) == SockFields(
        "AF_INET", "SOCK_STREAM", "IPPROTO_TCP", 0, 0, "127.0.0.1", "10.0.0.2", 40000, 443,
        0xFFFF888812345678, "TCP_SYN_SENT")
    v6 = decode_sock_arg(sock_bytes(10, ipaddress.IPv6Address("::1").packed,
                                    ipaddress.IPv6Address("2001:db8::5").packed))
    assert (v6.family, v6.saddr, v6.daddr) == ("AF_INET6", "::1", "2001:db8::5")


def test_unnamed_numbers_and_families_without_addresses() -> None:
    s = decode_sock_arg(sock_bytes(1, type=99, protocol=300, state=200))
    assert (s.family, s.type, s.protocol, s.state, s.saddr, s.daddr) == (
        "AF_UNIX", "99", "300", "200", "invalid IP", "invalid IP")


@given(st.binary(max_size=80))
def test_only_a_whole_sock_decodes(raw: bytes) -> None:
    try:
        decode_sock_arg(raw)
    except DecodeError as err:
        assert len(raw) != ctypes.sizeof(SockArg) and err.cause == "generic_lengths"
    else:
        assert len(raw) == ctypes.sizeof(SockArg)


def test_json_and_schema() -> None:
    value = decode_sock_arg(sock_bytes())
    ev = kprobe("tcp_connect", [Arg("sock_arg", value)])
    line = JsonEncoder(RenderOptions(node_name="n")).encode(ev)
    assert orjson.loads(line)["process_kprobe"]["args"] == [{"sock_arg": {
        "family": "AF_INET", "type": "SOCK_STREAM", "protocol": "IPPROTO_TCP",
        "saddr": "127.0.0.1", "daddr": "10.0.0.2", "sport": 40000, "dport": 443,
        "cookie": str(0xFFFF888812345678), "state": "TCP_SYN_SENT"}}]
    msg = json_format.Parse(line, events_pb2.GetEventsResponse())
    assert msg.process_kprobe.args[0].sock_arg.cookie == 0xFFFF888812345678


@pytest.mark.parametrize(("function", "args", "line"), [
    ("tcp_connect", [Arg("sock_arg", decode_sock_arg(sock_bytes()))],
     f"🔌 connect {P} tcp 127.0.0.1:40000 -> 10.0.0.2:443"),
    ("tcp_close", [Arg("sock_arg", decode_sock_arg(sock_bytes()))],
     f"\U0001F9F9 close   {P} tcp 127.0.0.1:40000 -> 10.0.0.2:443"),
    ("tcp_sendmsg", [Arg("sock_arg", decode_sock_arg(sock_bytes())), Arg("int_arg", 12)],
     f"📤 sendmsg {P} tcp 127.0.0.1:40000 -> 10.0.0.2:443 bytes 12"),
    ("tcp_connect", [Arg("int_arg", 1)], f"🔌 connect {P} tcp :0 -> :0"),
])
def test_compact_lines(function: str, args: list[Arg], line: str) -> None:
    assert CompactEncoder("n").line(kprobe(function, args)) == line


def compiled(*filters: ArgFilter) -> Selectors:
    return Selectors.from_buffer_copy(compile_selectors([SelectorPlan(args=filters)], (SOCK,)))


def test_ports_families_protocols_states() -> None:
    sel = compiled(ArgFilter(0, "DPort", ("80", "8000:8080")),
                   ArgFilter(0, "Family", ("AF_INET6", "2")),
                   ArgFilter(0, "Protocol", ("IPPROTO_TCP",)),
                   ArgFilter(0, "State", ("TCP_LISTEN",)),
                   ArgFilter(0, "NotSportPriv", ())).sel[0]
    got = [(a.op, a.nvalues, list(a.lo[:a.nvalues]), list(a.hi[:a.nvalues]))
           for a in sel.args[:5]]
    assert got == [(SelOp.DPORT, 2, [80, 8000], [80, 8080]), (SelOp.FAMILY, 2, [10, 2], [10, 2]),
                   (SelOp.PROTOCOL, 1, [6], [6]), (SelOp.STATE, 1, [10], [10]),
                   (SelOp.NOT_SPORT_PRIV, 0, [], [])]


def test_addresses_go_to_the_trie() -> None:
    plan = SelectorPlan(args=(ArgFilter(0, "NotDAddr", ("10.0.0.0/8", "::1", "192.168.1.7")),))
    sel = Selectors.from_buffer_copy(compile_selectors([plan], (SOCK,))).sel[0]
    assert (sel.args[0].op, sel.args[0].nvalues, sel.args[0].lo[0]) == (SelOp.NOT_DADDR, 0, 0)
    keys = [SelStrKey.from_buffer_copy(k) for k in selector_strings([plan], (SOCK,))]
    assert sorted((k.prefixlen, bytes(k.data[:17])) for k in keys) == sorted([
        (32 + 8 + 8, bytes([2, 10]) + bytes(15)),
        (32 + 8 + 128, bytes([10]) + ipaddress.IPv6Address("::1").packed),
        (32 + 8 + 32, bytes([2, 192, 168, 1, 7]) + bytes(12)),
    ])


@pytest.mark.parametrize(("flt", "error"), [
    (ArgFilter(0, "DPort", ("65536",)),
     "selectors[0].matchArgs[0].values[0]: '65536' is not a port or a range 'min:max' of "
     "ports (0 to 65535)"),
    (ArgFilter(0, "DPort", ("9:8",)), "selectors[0].matchArgs[0].values[0]: '9:8' is empty: "
     "min is above max"),
    (ArgFilter(0, "Family", ("AF_NOPE",)),
     "selectors[0].matchArgs[0].values[0]: 'AF_NOPE' is not a name (AF_UNSPEC, AF_UNIX, "
     "AF_INET, AF_AX25, ...) or a number"),
    (ArgFilter(0, "DAddr", ("10.0.0.300",)),
     "selectors[0].matchArgs[0].values[0]: '10.0.0.300' is not an IP address or CIDR (e.g. "
     "10.0.0.0/8, ::1)"),
    (ArgFilter(0, "Equal", ("1",)),
     "selectors[0].matchArgs[0].operator: Equal does not apply to a sock; use the socket "
     "operators (SAddr, DAddr, SPort, DPort, Protocol, Family, State, ...)"),
    (ArgFilter(0, "SPort", ("1", "2", "3", "4", "5")),
     "selectors[0].matchArgs[0].values: 5 values; a filter takes 1 to 4"),
])
def test_errors(flt: ArgFilter, error: str) -> None:
    with pytest.raises(ValueError) as err:
        compile_selectors([SelectorPlan(args=(flt,))], (SOCK,))
    assert str(err.value) == error


def test_a_socket_operator_on_another_type() -> None:
    with pytest.raises(ValueError) as err:
        compile_selectors([SelectorPlan(args=(ArgFilter(0, "DAddr", ("::1",)),))],
                          (ArgPlan(0, ArgKind.INT, 0, 4, "int", signed=True),))
    assert str(err.value) == ("selectors[0].matchArgs[0].operator: DAddr filters sock, "
                              "socket, skb and sockaddr arguments; the argument at index 0 "
                              "is int")


@pytest.mark.parametrize("prefix", (0, 1, 31, 32))
def test_ipv4_prefix_lengths_either_side(prefix: int) -> None:
    key = SelStrKey.from_buffer_copy(addr_keys("w", [f"10.1.2.3/{prefix}"], 3)[0])
    assert (key.prefixlen, key.set) == (32 + 8 + prefix, 3)
