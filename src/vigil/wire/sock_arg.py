"""A sock argument's bytes (struct vigil_sock_arg) -> what Tetragon shows
(pkg/reader/network: the names of families, types, protocols and TCP
states, numbers for the ones it does not name)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from vigil.wire.decode import DecodeError
from vigil.wire.records import SockArg

__all__ = ["AF_INET", "AF_INET6", "FAMILIES", "PROTOCOLS", "TCP_STATES", "TYPES",
           "SockFields", "decode_sock_arg", "ip_string", "name_of"]

AF_INET, AF_INET6 = 2, 10
# Tetragon's inet_family_linux.go, inet.go
FAMILIES = dict(enumerate((
    "AF_UNSPEC", "AF_UNIX", "AF_INET", "AF_AX25", "AF_IPX", "AF_APPLETALK", "AF_NETROM",
    "AF_BRIDGE", "AF_ATMPVC", "AF_X25", "AF_INET6", "AF_ROSE", "AF_DECnet", "AF_NETBEUI",
    "AF_SECURITY", "AF_KEY", "AF_NETLINK", "AF_PACKET", "AF_ASH", "AF_ECONET", "AF_ATMSVC",
    "AF_RDS", "", "AF_IRDA", "AF_PPPOX", "AF_WANPIPE", "AF_LLC", "AF_IB", "AF_MPLS",
    "AF_CAN", "AF_TIPC", "AF_BLUETOOTH", "AF_IUCV", "AF_RXRPC", "AF_ISDN", "AF_PHONET",
    "AF_IEEE802154", "AF_CAIF", "AF_ALG", "AF_NFC", "AF_VSOCK", "AF_KCM", "AF_QIPCRTR",
    "AF_SMC", "AF_XDP", "AF_MCTP")))
del FAMILIES[22]  # AF_SNA: Tetragon names it not
TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM",
         5: "SOCK_SEQPACKET", 6: "SOCK_DCCP", 7: "SOCK_PACKET"}
PROTOCOLS = {0: "IPPROTO_IP", 1: "IPPROTO_ICMP", 2: "IPPROTO_IGMP", 4: "IPPROTO_IPIP",
             6: "IPPROTO_TCP", 8: "IPPROTO_EGP", 12: "IPPROTO_PUP", 17: "IPPROTO_UDP",
             22: "IPPROTO_IDP", 29: "IPPROTO_TP", 33: "IPPROTO_DCCP", 41: "IPPROTO_IPV6",
             46: "IPPROTO_RSVP", 47: "IPPROTO_GRE", 50: "IPPROTO_ESP", 51: "IPPROTO_AH",
             92: "IPPROTO_MTP", 94: "IPPROTO_BEETPH", 98: "IPPROTO_ENCAP", 103: "IPPROTO_PIM",
             108: "IPPROTO_COMP", 132: "IPPROTO_SCTP", 136: "IPPROTO_UDPLITE",
             137: "IPPROTO_MPLS", 143: "IPPROTO_ETHERNET", 255: "IPPROTO_RAW",
             262: "IPPROTO_MPTCP"}
TCP_STATES = {1: "TCP_ESTABLISHED", 2: "TCP_SYN_SENT", 3: "TCP_SYN_RECV", 4: "TCP_FIN_WAIT1",
              5: "TCP_FIN_WAIT2", 6: "TCP_TIME_WAIT", 7: "TCP_CLOSE", 8: "TCP_CLOSE_WAIT",
              9: "TCP_LAST_ACK", 10: "TCP_LISTEN", 11: "TCP_CLOSING", 12: "TCP_NEW_SYN_RECV"}

_SIZE = 64


@dataclass(slots=True, frozen=True)
class SockFields:
    """KprobeSock's fields, as Tetragon fills them."""

    family: str
    type: str
    protocol: str
    mark: int
    priority: int
    saddr: str
    daddr: str
    sport: int
    dport: int
    cookie: int
    state: str


def name_of(names: dict[int, str], n: int) -> str:
    return names.get(n, str(n))


def ip_string(raw: bytes, family: int) -> str:
    """network.GetIP(...).String(): "" (an invalid netip.Addr prints
    "invalid IP") for a family with no address."""
    if family == AF_INET:
        return str(ipaddress.IPv4Address(raw[:4]))
    if family == AF_INET6:
        return str(ipaddress.IPv6Address(raw[:16]))
    return "invalid IP"


def decode_sock_arg(raw: bytes) -> SockFields:
    if len(raw) != _SIZE:
        raise DecodeError("generic_lengths", f"a sock argument of {len(raw)} bytes, not {_SIZE}")
    s = SockArg.from_buffer_copy(raw)
    return SockFields(
        name_of(FAMILIES, s.family), name_of(TYPES, s.type), name_of(PROTOCOLS, s.protocol),
        s.mark, s.priority, ip_string(bytes(s.saddr), s.family),
        ip_string(bytes(s.daddr), s.family),
        s.sport, s.dport, s.cookie, name_of(TCP_STATES, s.state))
