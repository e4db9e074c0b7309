"""Records of generic (policy) hooks -> messages with raw arguments.

The record says nothing about types: each argument is a __s32 length (a
negative errno when the kernel could not read it) and that many bytes, padded
to 8. The hook's plan, which user space compiled, gives them meaning.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from vigil.wire.decode import DecodeError
from vigil.wire.records import ARG_STR_MAX, GENERIC_ARGS_MAX, GENERIC_FIXED_SIZE, _GenericFixed

__all__ = ["ArgError", "GenericMsg", "decode_generic"]

_LEN = struct.Struct("=i")


@dataclass(slots=True, frozen=True)
class ArgError:
    """An argument the kernel could not read: the helper's errno."""

    errno: int


@dataclass(slots=True)
class GenericMsg:
    ktime: int
    pid: int
    proc_ktime: int  # the exec map's identity; 0 when it had none
    tid: int
    hook_id: int
    action: int
    args: list[bytes | ArgError]


def decode_generic(rec: bytes) -> GenericMsg:
    if len(rec) < GENERIC_FIXED_SIZE:
        raise DecodeError("generic_short", f"{len(rec)} bytes, fixed part is {GENERIC_FIXED_SIZE}")
    fixed = _GenericFixed.from_buffer_copy(rec, 0)
    if GENERIC_FIXED_SIZE + fixed.data_len != len(rec):
        raise DecodeError("generic_lengths",
                          f"data_len {fixed.data_len} disagrees with {len(rec)} bytes")
    if fixed.nargs > GENERIC_ARGS_MAX:
        raise DecodeError("generic_lengths", f"{fixed.nargs} arguments, at most {GENERIC_ARGS_MAX}")
    args: list[bytes | ArgError] = []
    pos = GENERIC_FIXED_SIZE
    for _ in range(fixed.nargs):
        if pos + 4 > len(rec):
            raise DecodeError("generic_lengths", "an argument's length is past the record")
        (n,) = _LEN.unpack_from(rec, pos)
        if n > ARG_STR_MAX:
            raise DecodeError("generic_lengths", f"argument of {n} bytes, at most {ARG_STR_MAX}")
        size = max(n, 0)
        if pos + 4 + size > len(rec):
            raise DecodeError("generic_lengths", "an argument runs past the record")
        args.append(rec[pos + 4 : pos + 4 + size] if n >= 0 else ArgError(-n))
        pos += (4 + size + 7) & ~7
    if pos != len(rec):
        raise DecodeError("generic_lengths", f"arguments end at {pos}, record at {len(rec)}")
    return GenericMsg(fixed.hdr.ktime, fixed.key.pid, fixed.key.ktime, fixed.tid,
                      fixed.hook_id, fixed.action, args)
