"""A cred argument's bytes (struct vigil_cred_arg) -> Tetragon's
ProcessCredentials fields."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from vigil.wire.decode import DecodeError
from vigil.wire.records import CredArg

__all__ = ["SECUREBITS", "CredFields", "decode_cred_arg"]

# uapi/linux/securebits.h, as Tetragon's SecureBitsType names each bit.
SECUREBITS = ((1, "SecBitNoRoot"), (2, "SecBitNoRootLocked"), (4, "SecBitNoSetUidFixup"),
              (8, "SecBitNoSetUidFixupLocked"), (16, "SecBitKeepCaps"),
              (32, "SecBitKeepCapsLocked"), (64, "SecBitNoCapAmbientRaise"),
              (128, "SecBitNoCapAmbientRaiseLocked"))

_SIZE = ctypes.sizeof(CredArg)


@dataclass(slots=True, frozen=True)
class CredFields:
    uid: int
    gid: int
    euid: int
    egid: int
    suid: int
    sgid: int
    fsuid: int
    fsgid: int
    securebits: tuple[str, ...]
    cap_permitted: int
    cap_effective: int
    cap_inheritable: int
    ns_level: int
    ns_uid: int
    ns_gid: int
    ns_inum: int


def decode_cred_arg(raw: bytes) -> CredFields:
    if len(raw) != _SIZE:
        raise DecodeError("generic_lengths", f"a cred argument of {len(raw)} bytes, not {_SIZE}")
    c = CredArg.from_buffer_copy(raw)
    return CredFields(c.uid, c.gid, c.euid, c.egid, c.suid, c.sgid, c.fsuid, c.fsgid,
                      tuple(name for bit, name in SECUREBITS if c.securebits & bit),
                      c.cap_permitted, c.cap_effective, c.cap_inheritable, c.user_ns.level,
                      c.user_ns.uid, c.user_ns.gid, c.user_ns.inum)
