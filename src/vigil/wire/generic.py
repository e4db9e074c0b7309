"""Records of generic (policy) hooks -> messages with raw arguments.

The record says nothing about types: each argument is a __s32 length (a
negative errno when the kernel could not read it) and that many bytes, padded
to 8. The hook's plan, which user space compiled, gives them meaning.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from vigil.wire.decode import DecodeError
from vigil.wire.records import (
    ARG_STR_MAX,
    DATA_CHUNK,
    DATA_FIXED_SIZE,
    GENERIC_ARGS_MAX,
    GENERIC_FIXED_SIZE,
    RETURN_ARGS_MAX,
    RETURN_FIXED_SIZE,
    GenericData,
    GenericReturn,
    MsgHeader,
    ProcKey,
    _GenericFixed,
)

__all__ = ["ArgError", "DataMsg", "GenericMsg", "ReturnMsg", "decode_data", "decode_generic",
           "decode_return"]

_LEN = struct.Struct("=i")
# The fixed part in one unpack, without a ctypes object per record (the hot
# path): hdr.ktime, key.pid, key.ktime, tid, hook_id, action, nargs, data_len.
# The offsets are the ctypes mirror's, which is checked against BTF.
_FIXED = struct.Struct("=8xQI4xQIIIHH")
assert _FIXED.size == GENERIC_FIXED_SIZE
assert [_GenericFixed.hdr.offset + MsgHeader.ktime.offset,
        _GenericFixed.key.offset + ProcKey.pid.offset,
        _GenericFixed.key.offset + ProcKey.ktime.offset,
        _GenericFixed.tid.offset, _GenericFixed.hook_id.offset, _GenericFixed.action.offset,
        _GenericFixed.nargs.offset, _GenericFixed.data_len.offset] == [
            8, 16, 24, 32, 36, 40, 44, 46]


# A return record's fixed part: the same, then enter_ktime.
_RET_FIXED = struct.Struct("=8xQI4xQIIIHHQ")
assert _RET_FIXED.size == RETURN_FIXED_SIZE
assert GenericReturn.enter_ktime.offset == GENERIC_FIXED_SIZE


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


@dataclass(slots=True)
class ReturnMsg:
    """A hooked call's return: its value and the returnCopy argument, raw."""

    ktime: int
    pid: int
    proc_ktime: int
    tid: int
    hook_id: int
    action: int
    enter_ktime: int  # its entry record's ktime: the join key with tid and hook_id
    args: list[bytes | ArgError]


@dataclass(slots=True, frozen=True)
class DataMsg:
    """A chunk of a maxData buffer: which record and argument, where in it."""

    hook_id: int
    tid: int
    enter_ktime: int  # the record's ktime
    arg: int  # the argument's position in the record
    offset: int
    data: bytes


# hook_id, tid, enter_ktime, arg, offset, len (after the 16-byte header)
_DATA_FIXED = struct.Struct("=16xIIQH2xII4x")
assert _DATA_FIXED.size == DATA_FIXED_SIZE
assert [GenericData.hook_id.offset, GenericData.tid.offset, GenericData.enter_ktime.offset,
        GenericData.arg.offset, GenericData.offset.offset, GenericData.len.offset] == [
            16, 20, 24, 32, 36, 40]


def decode_data(rec: bytes) -> DataMsg:
    size = len(rec)
    if size < DATA_FIXED_SIZE:
        raise DecodeError("data_short", f"{size} bytes, fixed part is {DATA_FIXED_SIZE}")
    hook_id, tid, enter_ktime, arg, offset, n = _DATA_FIXED.unpack_from(rec)
    if n > DATA_CHUNK or DATA_FIXED_SIZE + n != size:
        raise DecodeError("data_lengths", f"len {n} disagrees with {size} bytes")
    if arg >= GENERIC_ARGS_MAX:
        raise DecodeError("data_lengths", f"argument {arg}, at most {GENERIC_ARGS_MAX - 1}")
    return DataMsg(hook_id, tid, enter_ktime, arg, offset, rec[DATA_FIXED_SIZE:])


def decode_return(rec: bytes) -> ReturnMsg:
    size = len(rec)
    if size < RETURN_FIXED_SIZE:
        raise DecodeError("return_short", f"{size} bytes, fixed part is {RETURN_FIXED_SIZE}")
    (ktime, pid, proc_ktime, tid, hook_id, action, nargs, data_len,
     enter_ktime) = _RET_FIXED.unpack_from(rec)
    if RETURN_FIXED_SIZE + data_len != size:
        raise DecodeError("return_lengths", f"data_len {data_len} disagrees with {size} bytes")
    if not 1 <= nargs <= RETURN_ARGS_MAX:
        raise DecodeError("return_lengths",
                          f"{nargs} arguments, from 1 to {RETURN_ARGS_MAX}")
    return ReturnMsg(ktime, pid, proc_ktime, tid, hook_id, action, enter_ktime,
                     _args(rec, nargs, RETURN_FIXED_SIZE, "return_lengths"))


def decode_generic(rec: bytes) -> GenericMsg:
    size = len(rec)
    if size < GENERIC_FIXED_SIZE:
        raise DecodeError("generic_short", f"{size} bytes, fixed part is {GENERIC_FIXED_SIZE}")
    ktime, pid, proc_ktime, tid, hook_id, action, nargs, data_len = _FIXED.unpack_from(rec)
    if GENERIC_FIXED_SIZE + data_len != size:
        raise DecodeError("generic_lengths",
                          f"data_len {data_len} disagrees with {size} bytes")
    if nargs > GENERIC_ARGS_MAX:
        raise DecodeError("generic_lengths", f"{nargs} arguments, at most {GENERIC_ARGS_MAX}")
    return GenericMsg(ktime, pid, proc_ktime, tid, hook_id, action,
                      _args(rec, nargs) if nargs or data_len else [])


def _args(rec: bytes, nargs: int, pos: int = GENERIC_FIXED_SIZE,
          cause: str = "generic_lengths") -> list[bytes | ArgError]:
    args: list[bytes | ArgError] = []
    size = len(rec)
    for _ in range(nargs):
        if pos + 4 > size:
            raise DecodeError(cause, "an argument's length is past the record")
        (n,) = _LEN.unpack_from(rec, pos)
        if n > ARG_STR_MAX:
            raise DecodeError(cause, f"argument of {n} bytes, at most {ARG_STR_MAX}")
        end = pos + 4 + max(n, 0)
        if end > size:
            raise DecodeError(cause, "an argument runs past the record")
        args.append(rec[pos + 4 : end] if n >= 0 else ArgError(-n))
        pos = (end + 7) & ~7
    if pos != size:
        raise DecodeError(cause, f"arguments end at {pos}, record at {size}")
    return args
