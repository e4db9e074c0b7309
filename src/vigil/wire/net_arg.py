"""skb and sockaddr arguments' bytes (struct vigil_skb_arg, and struct
vigil_sock_arg for a sockaddr) -> the fields of Tetragon's KprobeSkb and
KprobeSockaddr, named as pkg/reader/network names them."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from vigil.wire.decode import DecodeError
from vigil.wire.records import SkbArg, SockaddrUnArg, SockaddrUnFlag, SockArg
from vigil.wire.sock_arg import FAMILIES, PROTOCOLS, ip_string, name_of

__all__ = ["SkbFields", "SockaddrFields", "SockaddrUnFields", "decode_skb_arg",
           "decode_sockaddr_arg", "decode_sockaddr_un_arg"]

_SKB_SIZE = ctypes.sizeof(SkbArg)
_SOCKADDR_SIZE = ctypes.sizeof(SockArg)


@dataclass(slots=True, frozen=True)
class SkbFields:
    """KprobeSkb's fields, as Tetragon fills them."""

    hash: int
    len: int
    priority: int
    mark: int
    saddr: str
    daddr: str
    sport: int
    dport: int
    proto: int
    sec_path_len: int
    sec_path_olen: int
    protocol: str
    family: str


@dataclass(slots=True, frozen=True)
class SockaddrFields:
    """KprobeSockaddr's fields."""

    family: str
    addr: str
    port: int


@dataclass(slots=True, frozen=True)
class SockaddrUnFields:
    """KprobeSockaddrUn's fields: the family (Tetragon names AF_INET,
    AF_INET6 and AF_UNIX only) and the path, "@name" for an abstract one."""

    family: str
    path: str


_UN_FAMILIES = {1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6"}
_UN_HEAD = ctypes.sizeof(SockaddrUnArg)
_UN_PATH_MAX = 108


def decode_sockaddr_un_arg(raw: bytes) -> SockaddrUnFields:
    if not _UN_HEAD <= len(raw) <= _UN_HEAD + _UN_PATH_MAX:
        raise DecodeError("generic_lengths", f"a sockaddr_un argument of {len(raw)} bytes, "
                          f"not {_UN_HEAD} to {_UN_HEAD + _UN_PATH_MAX}")
    head = SockaddrUnArg.from_buffer_copy(raw)
    body = raw[_UN_HEAD:]
    if head.flags & SockaddrUnFlag.ABSTRACT:
        # its NULs dropped, as Tetragon's decodeSockaddrUnPath drops them
        body = body.replace(b"\0", b"")
        body = b"@" + body if body else b""
    path = body.decode("utf-8", "backslashreplace")
    return SockaddrUnFields(_UN_FAMILIES.get(head.family, ""), path)


def decode_skb_arg(raw: bytes) -> SkbFields:
    if len(raw) != _SKB_SIZE:
        raise DecodeError("generic_lengths",
                          f"an skb argument of {len(raw)} bytes, not {_SKB_SIZE}")
    s = SkbArg.from_buffer_copy(raw)
    t = s.tuple
    return SkbFields(s.hash, s.len, t.priority, t.mark, ip_string(bytes(t.saddr), t.family),
                     ip_string(bytes(t.daddr), t.family), t.sport, t.dport, t.protocol,
                     s.secpath_len, s.secpath_olen, name_of(PROTOCOLS, t.protocol),
                     name_of(FAMILIES, t.family))


def decode_sockaddr_arg(raw: bytes) -> SockaddrFields:
    if len(raw) != _SOCKADDR_SIZE:
        raise DecodeError("generic_lengths",
                          f"a sockaddr argument of {len(raw)} bytes, not {_SOCKADDR_SIZE}")
    s = SockArg.from_buffer_copy(raw)
    return SockaddrFields(name_of(FAMILIES, s.family), ip_string(bytes(s.saddr), s.family),
                          s.sport)
