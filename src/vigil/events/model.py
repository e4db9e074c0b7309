"""Events as exporters and filters see them."""

from __future__ import annotations

from dataclasses import dataclass, field

from vigil.kernel.syscalls import SyscallId
from vigil.process.model import Process
from vigil.wire.cred_arg import CredFields
from vigil.wire.kernel_arg import (
    BpfMapFields,
    BpfProgFields,
    ModuleFields,
    PerfEventFields,
    UserNsFields,
)
from vigil.wire.net_arg import SkbFields, SockaddrFields, SockaddrUnFields
from vigil.wire.sock_arg import SockFields

__all__ = ["PROCESS_EXEC", "PROCESS_EXIT", "PROCESS_KPROBE", "PROCESS_TRACEPOINT",
           "PROCESS_UPROBE", "Arg", "ArgValue", "Event", "FilePath", "KprobeEvent", "SyscallId",
           "TracepointEvent", "TruncatedBytes", "UprobeEvent"]

PROCESS_EXEC = "process_exec"
PROCESS_EXIT = "process_exit"
PROCESS_TRACEPOINT = "process_tracepoint"
PROCESS_KPROBE = "process_kprobe"
PROCESS_UPROBE = "process_uprobe"


@dataclass(slots=True)
class Event:
    kind: str  # Tetragon's event type name, e.g. "process_exec"
    time_ns: int  # wall clock
    process: Process
    parent: Process | None = None
    ancestors: list[Process] = field(default_factory=list)
    status: int = 0  # process_exit: exit code
    signal: str = ""  # process_exit: terminating signal's name, if any


@dataclass(slots=True, frozen=True)
class TruncatedBytes:
    """A buffer read in part: its first bytes and the length it had."""

    data: bytes
    orig_size: int


@dataclass(slots=True, frozen=True)
class FilePath:
    """A file argument (Tetragon's file_arg or path_arg): the path as the task
    saw it, Tetragon's flags ("unresolvedPathComponents" when only its end was
    kept) and the inode's mode as `ls -l` writes it ("-rw-r--r--")."""

    path: str
    flags: str = ""
    permission: str = ""


# What an argument's value can be: a number, a string, bytes, or one of
# Tetragon's messages (its fields decoded).
ArgValue = (int | str | bytes | SyscallId | TruncatedBytes | FilePath | SockFields | CredFields
            | SkbFields | SockaddrFields | UserNsFields | BpfProgFields | BpfMapFields
            | PerfEventFields | ModuleFields | SockaddrUnFields)


@dataclass(slots=True)
class Arg:
    """One argument of a policy event, under Tetragon's key for its type
    ("int_arg", "size_arg", "string_arg", "error_arg", "bytes_arg",
    "truncated_bytes_arg", "syscall_id", "file_arg", "path_arg", ...). Not frozen: one is made per
    argument of every event, and a frozen dataclass takes four times as long
    to make (each field goes through object.__setattr__)."""

    key: str
    value: ArgValue
    label: str = ""


@dataclass(slots=True)
class TracepointEvent(Event):
    """process_tracepoint: a policy's tracepoint fired and matched."""

    subsys: str = ""
    event: str = ""
    args: list[Arg] = field(default_factory=list)
    policy_name: str = ""
    action: str = "KPROBE_ACTION_POST"
    message: str = ""
    tags: tuple[str, ...] = ()


@dataclass(slots=True)
class KprobeEvent(Event):
    """process_kprobe: a policy's kernel function (spec.kprobes) was called
    and matched; with `return: true`, also how it returned."""

    function_name: str = ""
    args: list[Arg] = field(default_factory=list)
    ret: Arg | None = None  # Tetragon's "return"
    policy_name: str = ""
    action: str = "KPROBE_ACTION_POST"
    return_action: str = ""  # set when the return was reported
    message: str = ""
    tags: tuple[str, ...] = ()


@dataclass(slots=True)
class UprobeEvent(Event):
    """process_uprobe: a policy's user function (spec.uprobes) was called and
    matched. As in Tetragon, a call whose return is reported has the return
    value as its last argument (its retprobeMerge appends it)."""

    path: str = ""
    symbol: str = ""  # as the policy wrote it; "" where it named an offset
    offset: int = 0  # the file offset it named (or an address's), else 0
    ref_ctr_offset: int = 0
    args: list[Arg] = field(default_factory=list)
    policy_name: str = ""
    action: str = "KPROBE_ACTION_POST"
    message: str = ""
    tags: tuple[str, ...] = ()
