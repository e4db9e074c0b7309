"""A raw tracepoint's arguments, its TP_PROTO, read from the kernel's BTF.

A raw tracepoint program (``raw: true`` in a policy) gets no tracefs record:
``ctx->args[i]`` holds the i-th argument the kernel passed to the tracepoint,
as ``TP_PROTO`` declares it. Every tracepoint leaves its prototype in BTF as

    typedef void (*btf_trace_<event>)(void *__data, TP_PROTO...);

one per event, with anonymous parameters (include/trace/bpf_probe.h; the
verifier reads it for tp_btf programs). The parameter names come from a
function with the same prototype, tried in this order and used only when its
parameter types are exactly the typedef's: ``__traceiter_<event>`` and
``__probestub_<event>`` (one per event, on the kernels that have them), then
``__bpf_trace_<event>`` (one per event *class*, so only for events that are
their own class: ``sched_wakeup`` is a DEFINE_EVENT of
``sched_wakeup_template``). Without one, ``name`` is ''.

Tetragon numbers raw arguments from 0 at the first TP_PROTO argument, the
hidden ``void *__data`` not counted (pkg/sensors/tracing/generic.go 136-140
adds 1 to skip it when resolving through BTF). It lets a policy give index 5
(generictracepoint.go 255-260 rejects only ``index > 5``) but its BPF side
copies ``ctx->args[0]`` to ``args[4]`` only (bpf/process/generic_calls.h
825-831), so index 5 reads past them: ``MAX_RAW_INDEX`` is 4 here.
Tetragon resolves through ``__bpf_trace_<event>`` (generictracepoint.go 368),
which misses every DEFINE_EVENT; the typedef does not.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from vigil.libbpf.btf_types import Btf, BtfKind

__all__ = [
    "MAX_RAW_INDEX",
    "RawTracepoint",
    "RawTracepointArg",
    "UnknownRawTracepointError",
    "raw_tracepoint",
]

MAX_RAW_INDEX = 4
TYPEDEF_PREFIX = "btf_trace_"
# Functions that carry the same prototype with parameter names, most specific first.
_NAMED_PROTOS = ("__traceiter_", "__probestub_", "__bpf_trace_")
_EVENT = re.compile(r"[A-Za-z_]\w*\Z")


class UnknownRawTracepointError(LookupError):
    """The kernel has no raw tracepoint of that name; the message says what to use."""


@dataclass(frozen=True, slots=True)
class RawTracepointArg:
    """One TP_PROTO argument: what ``ctx->args[index]`` holds."""

    index: int  # the policy's index: 0 is the first TP_PROTO argument
    name: str  # the parameter's name in the kernel source, '' when BTF names none
    type_id: int  # in the kernel's BTF
    type_text: str  # C, as BTF spells it: "struct task_struct *", "long int"
    size: int  # sizeof the C type (each ctx->args slot is 8 bytes)
    signed: bool  # integers and enums: whether the C type is signed
    is_pointer: bool
    pointee: str | None  # what a pointer points to, in C: "struct task_struct", "const char"
    struct_name: str | None  # the struct (or union) pointed to, typedefs looked through
    is_integer: bool = False  # an integer, bool or enum (not a pointer, not a struct)


@dataclass(frozen=True, slots=True)
class RawTracepoint:
    event: str
    typedef_id: int  # btf_trace_<event>
    args: tuple[RawTracepointArg, ...]
    names_from: str | None  # the BTF function the parameter names came from

    def arg(self, index: int) -> RawTracepointArg:
        """The argument at a policy's index; ValueError listing them when out of range."""
        if not 0 <= index < len(self.args):
            listing = ", ".join(f"{a.index}={a.name or '?'}: {a.type_text}" for a in self.args)
            raise ValueError(
                f"raw tracepoint {self.event} has {len(self.args)} arguments but index {index} "
                f"was requested; its arguments: {listing}"
            )
        if index > MAX_RAW_INDEX:
            raise ValueError(
                f"raw tracepoint {self.event}: index {index} is past the first "
                f"{MAX_RAW_INDEX + 1} arguments, the ones the BPF side copies"
            )
        return self.args[index]


def _describe(btf: Btf, index: int, name: str, type_id: int) -> RawTracepointArg:
    core = btf.type(btf.strip(type_id))
    is_pointer = core.kind is BtfKind.PTR
    pointee = struct_name = None
    signed = is_integer = False
    if is_pointer:
        pointee = btf.type_text(core.ref)
        target = btf.type(btf.strip(core.ref))
        if target.kind in (BtfKind.STRUCT, BtfKind.UNION, BtfKind.FWD):
            struct_name = target.name or None
    elif core.kind is BtfKind.INT:
        signed, is_integer = core.int_signed, True
    elif core.kind in (BtfKind.ENUM, BtfKind.ENUM64):
        signed, is_integer = core.kind_flag, True
    return RawTracepointArg(
        index=index, name=name, type_id=type_id, type_text=btf.type_text(type_id),
        size=btf.size_of(type_id), signed=signed, is_pointer=is_pointer,
        pointee=pointee, struct_name=struct_name, is_integer=is_integer,
    )


def _param_names(btf: Btf, event: str, types: list[int]) -> tuple[list[str], str | None]:
    for prefix in _NAMED_PROTOS:
        func_id = btf.find(prefix + event, BtfKind.FUNC)
        if func_id is None:
            continue
        proto = btf.type(btf.type(func_id).ref)
        if [p.type_id for p in proto.params] == types:
            return [p.name for p in proto.params], prefix + event
    return [""] * len(types), None


def _not_found(btf: Btf, event: str, system: str | None, tracefs: str | Path | None) -> str:
    where = f"{system}/{event}" if system else event
    if system == "syscalls" or event.startswith(("sys_enter_", "sys_exit_")):
        return (
            f"no raw tracepoint {event}: {where} is a syscall event that ftrace builds on "
            "raw_syscalls/sys_enter and sys_exit, not a tracepoint of its own; use it with "
            "`raw: false`, or hook raw_syscalls sys_enter (or sys_exit) with `raw: true` "
            "and filter on the syscall id"
        )
    known = [
        n.removeprefix(TYPEDEF_PREFIX) for n in btf.names(BtfKind.TYPEDEF)
        if n.startswith(TYPEDEF_PREFIX)
    ]
    close = difflib.get_close_matches(event, known, n=5, cutoff=0.6)
    guess = f" Did you mean {', '.join(close)}?" if close else ""
    hint = ""
    if system:
        try:
            from vigil.kernel.tracefs_format import tracepoint_dir

            if (tracepoint_dir(system, event, tracefs=tracefs) / "format").exists():
                hint = (
                    f" tracefs has {where}, but BTF has no prototype for it (a module's "
                    "tracepoint, whose BTF vigil does not read yet, or an event that is not "
                    "a tracepoint): use `raw: false`."
                )
        except (LookupError, OSError):
            pass
    return (
        f"no raw tracepoint {event}: the kernel's BTF has no typedef {TYPEDEF_PREFIX}{event}."
        f"{guess}{hint} Raw tracepoints are named by event alone (sched_process_exec, "
        "sys_enter), as /sys/kernel/tracing/available_events lists them after the colon."
    )


def raw_tracepoint(
    event: str,
    *,
    system: str | None = None,
    btf: Btf | None = None,
    tracefs: str | Path | None = None,
) -> RawTracepoint:
    """The TP_PROTO arguments of raw tracepoint ``event`` (``sched_process_fork``).

    ``system`` only sharpens the error message (raw tracepoints are named by event
    alone). ``btf`` is the kernel's BTF when the caller already holds it (loading
    it takes ~10 ms). Raises ``UnknownRawTracepointError`` saying what to use instead.
    """
    if not _EVENT.match(event):
        raise UnknownRawTracepointError(
            f"{event!r} is not a raw tracepoint name: expected a C identifier such as "
            "sched_process_exec"
        )
    own = btf is None
    kernel = Btf.vmlinux() if btf is None else btf
    try:
        typedef_id = kernel.find(TYPEDEF_PREFIX + event, BtfKind.TYPEDEF)
        if typedef_id is None:
            raise UnknownRawTracepointError(_not_found(kernel, event, system, tracefs))
        ptr = kernel.type(kernel.type(typedef_id).ref)
        proto = kernel.type(ptr.ref) if ptr.kind is BtfKind.PTR else ptr
        if proto.kind is not BtfKind.FUNC_PROTO or not proto.params:
            raise UnknownRawTracepointError(
                f"BTF typedef {TYPEDEF_PREFIX}{event} is not a pointer to a function taking "
                "void *__data first: not a tracepoint prototype this kernel's BTF should have"
            )
        types = [p.type_id for p in proto.params[1:]]  # [0] is void *__data
        names, names_from = _param_names(kernel, event, [proto.params[0].type_id, *types])
        args = tuple(
            _describe(kernel, i, name, t)
            for i, (name, t) in enumerate(zip(names[1:], types, strict=True))
        )
        return RawTracepoint(event, typedef_id, args, names_from)
    finally:
        if own:
            kernel.close()
