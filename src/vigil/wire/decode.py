"""Records from the ring buffer -> typed messages.

Decoding never trusts a record: a short or inconsistent one raises
DecodeError, which the reader counts per cause and skips. One malformed record
never stops the agent.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from dataclasses import dataclass

from vigil.wire.records import (
    CGROUP_FIXED_SIZE,
    CGROUP_PATH_MAX,
    EXEC_FIXED_SIZE,
    PART_MAX,
    CgroupFixed,
    CloneRecord,
    Creds,
    ExitRecord,
    MsgHeader,
    Namespaces,
    Op,
    _ExecFixed,
)

__all__ = [
    "PROCESS_DECODERS",
    "CgroupMsg",
    "CloneMsg",
    "DecodeError",
    "ExecMsg",
    "ExitMsg",
    "Message",
    "decode",
    "record_op",
]

_HEADER_SIZE = ctypes.sizeof(MsgHeader)
# op and size from a header without building a ctypes object per record (the
# hot path); the offsets are the mirror's, which is checked against BTF.
assert (MsgHeader.op.offset, MsgHeader.size.offset) == (0, 4)
_OP_SIZE = struct.Struct("=H2xI")
assert ctypes.sizeof(CgroupFixed) == CGROUP_FIXED_SIZE
# The exec record's four part lengths, likewise.
_LENGTHS_AT = _ExecFixed.filename_len.offset
assert [getattr(_ExecFixed, n).offset - _LENGTHS_AT
        for n in ("filename_len", "args_len", "cwd_len", "exe_len")] == [0, 2, 4, 6]
_LENGTHS = struct.Struct("=4H")
_CLONE_SIZE = ctypes.sizeof(CloneRecord)
_EXIT_SIZE = ctypes.sizeof(ExitRecord)


class DecodeError(ValueError):
    """A record that cannot be decoded; `cause` names why, for the loss report."""

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(f"{cause}: {detail}")
        self.cause = cause


# Not frozen: a frozen dataclass pays a setattr call per field, and messages
# live only while one record is handled.
@dataclass(slots=True)
class ExecMsg:
    ktime: int
    pid: int
    parent_pid: int
    parent_ktime: int
    tid: int
    flags: int
    creds: Creds
    ns: Namespaces
    cgroup_id: int
    start_boottime: int  # when the process was forked (CLOCK_BOOTTIME ns)
    cgroup_name: str  # the kernfs name of cgroup_id's cgroup ("" if unread)
    filename: str  # as the caller spelled it
    argv: tuple[str, ...]
    cwd: str
    exe: str  # the file actually executed (mm->exe_file), "" if unknown
    exe_ino: int
    exe_nlink: int


@dataclass(slots=True)
class CloneMsg:
    ktime: int
    pid: int
    parent_pid: int
    parent_ktime: int
    tid: int
    flags: int
    start_boottime: int
    cgroup_id: int = 0


@dataclass(slots=True)
class CgroupMsg:
    """A cgroup of the default hierarchy made (op CGROUP_MKDIR) or removed."""

    op: int
    ktime: int
    cgroup_id: int
    level: int
    path: str  # from the hierarchy's root: "/a/b"
    flags: int  # CgroupFlag


@dataclass(slots=True)
class ExitMsg:
    ktime: int  # when the process ended
    pid: int
    proc_ktime: int  # the process's identity ktime (0 if it was unknown)
    parent_pid: int
    parent_ktime: int
    tid: int
    exit_code: int
    start_boottime: int


Message = ExecMsg | CloneMsg | ExitMsg | CgroupMsg


def _text(raw: bytes) -> str:
    # Paths and arguments are bytes in the kernel; keep undecodable bytes
    # visible rather than dropping the event.
    return raw.decode("utf-8", "backslashreplace")


def _decode_exec(rec: bytes) -> ExecMsg:
    if len(rec) < EXEC_FIXED_SIZE:
        raise DecodeError("exec_short", f"{len(rec)} bytes, fixed part is {EXEC_FIXED_SIZE}")
    fixed = _ExecFixed.from_buffer_copy(rec, 0)
    filename_len, args_len, cwd_len, exe_len = _LENGTHS.unpack_from(rec, _LENGTHS_AT)
    end_filename = EXEC_FIXED_SIZE + filename_len
    end_args = end_filename + args_len
    end_cwd = end_args + cwd_len
    end_exe = end_cwd + exe_len
    # A record is exactly its parts: trailing bytes would be bytes this
    # record's lengths do not account for.
    if end_exe != len(rec):
        raise DecodeError("exec_lengths", f"parts need {end_exe} bytes, record has {len(rec)}")
    if max(filename_len, args_len, cwd_len, exe_len) > PART_MAX:
        raise DecodeError("exec_lengths", f"a part is longer than {PART_MAX} bytes: "
                          f"{filename_len}, {args_len}, {cwd_len}, {exe_len}")
    # Each argument ends in a NUL (a truncated last one may not): b"" is no
    # argument at all, b"\0" one empty argument (Linux 5.18+ gives execve
    # with an empty argv that one).
    args = rec[end_filename:end_args]
    if args.endswith(b"\0"):
        args = args[:-1]
        argv = tuple(_text(a) for a in args.split(b"\0"))
    else:
        argv = tuple(_text(a) for a in args.split(b"\0")) if args else ()
    return ExecMsg(
        ktime=fixed.key.ktime,
        pid=fixed.key.pid,
        parent_pid=fixed.parent.pid,
        parent_ktime=fixed.parent.ktime,
        tid=fixed.tid,
        flags=fixed.flags,
        creds=fixed.creds,
        ns=fixed.ns,
        cgroup_id=fixed.cgroup_id,
        start_boottime=fixed.start_boottime,
        # .value stops at the first NUL: the kernel wrote one, and zeros after
        cgroup_name=_text(fixed.cgroup_name),
        filename=_text(rec[EXEC_FIXED_SIZE:end_filename]),
        argv=argv,
        cwd=_text(rec[end_args:end_cwd]) or "/",
        exe=_text(rec[end_cwd:end_exe]),
        exe_ino=fixed.exe_ino,
        exe_nlink=fixed.exe_nlink,
    )


def _decode_clone(rec: bytes) -> CloneMsg:
    if len(rec) < _CLONE_SIZE:
        raise DecodeError("clone_short", f"{len(rec)} bytes, need {_CLONE_SIZE}")
    r = CloneRecord.from_buffer_copy(rec, 0)
    return CloneMsg(
        r.key.ktime, r.key.pid, r.parent.pid, r.parent.ktime, r.tid, r.flags, r.start_boottime,
        r.cgroup_id,
    )


def _decode_cgroup(rec: bytes) -> CgroupMsg:
    if len(rec) < CGROUP_FIXED_SIZE:
        raise DecodeError("cgroup_short", f"{len(rec)} bytes, fixed part is {CGROUP_FIXED_SIZE}")
    r = CgroupFixed.from_buffer_copy(rec, 0)
    if r.path_len >= CGROUP_PATH_MAX or CGROUP_FIXED_SIZE + r.path_len != len(rec):
        raise DecodeError("cgroup_lengths", f"path of {r.path_len} bytes, record has "
                          f"{len(rec) - CGROUP_FIXED_SIZE} after its fixed part")
    return CgroupMsg(r.hdr.op, r.hdr.ktime, r.cgroup_id, r.level,
                     _text(rec[CGROUP_FIXED_SIZE:]), r.flags)


def _decode_exit(rec: bytes) -> ExitMsg:
    if len(rec) < _EXIT_SIZE:
        raise DecodeError("exit_short", f"{len(rec)} bytes, need {_EXIT_SIZE}")
    r = ExitRecord.from_buffer_copy(rec, 0)
    return ExitMsg(
        r.hdr.ktime, r.key.pid, r.key.ktime, r.parent.pid, r.parent.ktime, r.tid, r.exit_code,
        r.start_boottime,
    )


# The base process sensor's record kinds: op -> decoder.
PROCESS_DECODERS: dict[int, Callable[[bytes], Message]] = {
    Op.EXEC: _decode_exec,
    Op.CLONE: _decode_clone,
    Op.EXIT: _decode_exit,
    Op.CGROUP_MKDIR: _decode_cgroup,
    Op.CGROUP_RMDIR: _decode_cgroup,
}


def record_op(rec: bytes) -> int:
    """The op of a record whose header is whole and agrees with its length;
    raises DecodeError otherwise."""
    if len(rec) < _HEADER_SIZE:
        raise DecodeError("short_header", f"{len(rec)} bytes")
    op, size = _OP_SIZE.unpack_from(rec)
    if size != len(rec):
        raise DecodeError("size_mismatch", f"header says {size} bytes, record has {len(rec)}")
    return int(op)


def decode(rec: bytes) -> Message:
    """Decode one process record; raises DecodeError if it is malformed."""
    op = record_op(rec)
    decoder = PROCESS_DECODERS.get(op)
    if decoder is None:
        raise DecodeError("unknown_op", f"op {op}")
    return decoder(rec)
