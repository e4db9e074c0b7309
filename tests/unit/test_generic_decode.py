"""decode_generic (one struct unpack for the fixed part) against a plain
reference decoder that reads the record through its ctypes mirror: for any
bytes, the same message or the same error (cause and text)."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.wire.decode import DecodeError
from vigil.wire.generic import ArgError, GenericMsg, decode_generic
from vigil.wire.records import ARG_STR_MAX, GENERIC_ARGS_MAX, GENERIC_FIXED_SIZE, _GenericFixed

from .test_generic_records import generic_record


def reference_args(rec: bytes, nargs: int, pos: int, cause: str) -> list[bytes | ArgError]:
    """The arguments from `pos` on, read one slot at a time (shared with the
    return record's reference decoder)."""
    args: list[bytes | ArgError] = []
    for _ in range(nargs):
        if pos + 4 > len(rec):
            raise DecodeError(cause, "an argument's length is past the record")
        (n,) = struct.unpack_from("=i", rec, pos)
        if n > ARG_STR_MAX:
            raise DecodeError(cause, f"argument of {n} bytes, at most {ARG_STR_MAX}")
        size = max(n, 0)
        if pos + 4 + size > len(rec):
            raise DecodeError(cause, "an argument runs past the record")
        args.append(rec[pos + 4 : pos + 4 + size] if n >= 0 else ArgError(-n))
        pos += (4 + size + 7) & ~7
    if pos != len(rec):
        raise DecodeError(cause, f"arguments end at {pos}, record at {len(rec)}")
    return args


def reference(rec: bytes) -> GenericMsg:
    """The record read field by field through the ctypes mirror."""
    if len(rec) < GENERIC_FIXED_SIZE:
        raise DecodeError("generic_short", f"{len(rec)} bytes, fixed part is {GENERIC_FIXED_SIZE}")
    fixed = _GenericFixed.from_buffer_copy(rec, 0)
    if GENERIC_FIXED_SIZE + fixed.data_len != len(rec):
        raise DecodeError("generic_lengths",
                          f"data_len {fixed.data_len} disagrees with {len(rec)} bytes")
    if fixed.nargs > GENERIC_ARGS_MAX:
        raise DecodeError("generic_lengths", f"{fixed.nargs} arguments, at most {GENERIC_ARGS_MAX}")
    args = reference_args(rec, fixed.nargs, GENERIC_FIXED_SIZE, "generic_lengths")
    return GenericMsg(fixed.hdr.ktime, fixed.key.pid, fixed.key.ktime, fixed.tid,
                      fixed.hook_id, fixed.action, args)


def outcome(decode: object, rec: bytes) -> object:
    try:
        return decode(rec)  # type: ignore[operator]
    except DecodeError as err:
        return ("error", err.cause, str(err))


def same(rec: bytes) -> None:
    assert outcome(decode_generic, rec) == outcome(reference, rec)


slots = st.one_of(st.binary(max_size=ARG_STR_MAX + 4), st.integers(-4096, ARG_STR_MAX + 8))


@settings(max_examples=400)
@given(st.lists(slots, max_size=GENERIC_ARGS_MAX + 2), st.binary(max_size=24),
       st.integers(0, 40), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_records_built_as_the_kernel_builds_them(args: list[bytes | int], tail: bytes, cut: int,
                                                 nargs: int, data_len: int) -> None:
    rec = generic_record(args)
    for candidate in (rec, rec + tail, rec[: max(len(rec) - cut, 0)]):
        same(candidate)
    # The counts the kernel wrote, replaced by anything.
    same(rec[:44] + struct.pack("=H", nargs) + rec[46:])
    same(rec[:46] + struct.pack("=H", data_len) + rec[48:])


@settings(max_examples=400)
@given(st.binary(max_size=GENERIC_FIXED_SIZE + 64))
def test_any_bytes(rec: bytes) -> None:
    same(rec)


def test_no_arguments_and_trailing_bytes_is_an_error() -> None:
    # nargs 0 but data_len covering 8 more bytes: the arguments end before the record.
    rec = generic_record([])
    longer = rec[:46] + struct.pack("=H", 8) + bytes(8)
    assert outcome(decode_generic, longer) == (
        "error", "generic_lengths",
        f"generic_lengths: arguments end at {GENERIC_FIXED_SIZE}, record at "
        f"{GENERIC_FIXED_SIZE + 8}")
    same(longer)
