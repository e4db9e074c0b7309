"""A validated policy's spec.tracepoints -> hook plans, against the running
kernel's tracepoint formats.

Each argument's field, type and read come from tracefs exactly as Tetragon
takes them (vigil.kernel.tracepoint_args); the plan then fixes how the
kernel reads it. A problem is a PolicyError located in the policy file (which
tracepoint does not exist, which argument cannot be read and why), never a
half-loaded policy.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from vigil.kernel.tracefs_format import (
    TracepointFormat,
    UnknownTracepointError,
    read_format,
    tracepoint_dir,
)
from vigil.kernel.tracepoint_args import FieldRead, ReadKind, ResolvedArg, field_read, resolve_arg
from vigil.policy import Issue, LoadedPolicy, PolicyError
from vigil.policy.model.hooks import KProbeSpec, TracepointSpec
from vigil.policy.model.selectors import CapabilitiesSelector, KProbeSelector
from vigil.policy.suggest import closest
from vigil.sensors.lists import ListError, SyscallLists, resolve_lists
from vigil.sensors.plan import (
    STRUCT_TYPE_KINDS,
    TRACEFS_TRACEPOINT,
    ArgPlan,
    TracepointHookPlan,
    with_max_data,
)
from vigil.sensors.selectors import (
    ActionPlan,
    ArgFilter,
    BinaryFilter,
    CapsFilter,
    NamespaceChangesFilter,
    NamespaceFilter,
    PidFilter,
    SelectorPlan,
)
from vigil.wire.records import CONST_BUF_MASK, ArgKind

__all__ = ["INT_TYPES", "TETRAGON_INT_NAMES", "Lists", "arg_plan", "buffer_plan",
           "compile_tracepoints", "selector_plans"]


# Tetragon's integer types -> (bytes read, signed). The width is the type's,
# not the field's: a syscall tracepoint gives `int dfd` an 8-byte slot, and
# Tetragon reads 4 of them for `int`.
INT_TYPES: dict[str, tuple[int, bool]] = {
    "int8": (1, True), "sint8": (1, True), "uint8": (1, False),
    "int16": (2, True), "sint16": (2, True), "uint16": (2, False),
    "int": (4, True), "int32": (4, True), "sint32": (4, True), "uint32": (4, False),
    "long": (8, True), "int64": (8, True), "sint64": (8, True),
    "ulong": (8, False), "uint64": (8, False), "size_t": (8, False),
    # an int, shown by its name in Tetragon's BpfCmd (bpf_cmd_arg)
    "bpf_cmd": (4, True),
}
# The key of each in the event: what pkg/sensors/tracing emits for it.
TETRAGON_INT_NAMES = {"sint8": "int8", "sint16": "int16", "sint32": "int32",
                      "sint64": "int64", "ulong": "uint64", "long": "int64"}


# C integer types a length field is declared with -> (bytes, signed)
_C_INTS = {"int": (4, True), "unsigned int": (4, False), "long": (8, True),
           "unsigned long": (8, False), "size_t": (8, False), "ssize_t": (8, True),
           "u32": (4, False), "u64": (8, False), "s32": (4, True), "s64": (8, True)}


def _is_int_field(read: FieldRead) -> bool:
    """A scalar, or a fixed array of integers (an integer type then reads its
    first element, as Tetragon reads the type's width at the field's offset)."""
    return read.kind is ReadKind.SCALAR or (read.kind is ReadKind.INLINE
                                            and read.element_size is not None)


def buffer_plan(r: ResolvedArg, fmt: TracepointFormat, label: str,
                kind: ArgKind = ArgKind.CHAR_BUF) -> ArgPlan:
    """A char pointer whose length is the field sizeArgIndex names (or, for
    a char_iovec, an iovec array and their number). vigil reads up to
    CHAR_BUF_MAX bytes and says when it cut (truncated_bytes_arg, as
    Tetragon's kprobes do); Tetragon's tracepoints read up to 4095 and show
    what they read as a plain bytes_arg (generictracepoint.go drops OrigSize)."""
    read, field = r.read, r.field
    name, pointee = ("char_buf", "char") if kind is ArgKind.CHAR_BUF else ("char_iovec", "iovec")
    if read.kind is not ReadKind.POINTER or pointee not in field.type_text:
        raise ValueError(f"field {field.name} ({field.type_text}) is not a {pointee} pointer; "
                         f"{name} reads the buffer{'s' if name == 'char_iovec' else ''} a "
                         f"{pointee} * points to")
    if r.size_field is None:
        raise ValueError(f"{name} field {field.name} needs sizeArgIndex: the 1-based "
                         "index of the field holding its length (common_* fields counted)")
    size_field = fmt.fields[r.size_field]
    meta = field_read(size_field)
    if meta.kind is not ReadKind.SCALAR or meta.size not in (1, 2, 4, 8):
        raise ValueError(f"sizeArgIndex {r.size_field + 1} names field {size_field.name} "
                         f"({size_field.type_text}), which is not an integer")
    # The C type's width and sign where it has one: a syscall tracepoint gives
    # `int len` an 8-byte unsigned slot, in which -1 would be 2^64 - 1.
    width, signed = _C_INTS.get(size_field.type_text.removeprefix("const "),
                                (meta.size, meta.signed))
    return ArgPlan(r.index, kind, read.offset, read.size, name, False,
                   label, meta.offset, min(width, meta.size), signed, field=field.name,
                   c_type=field.type_text, field_size=field.size)


def _const_buf(r: ResolvedArg, label: str) -> ArgPlan:
    read = r.read
    if not r.emitted:  # read and dropped by Tetragon: not read here at all
        return ArgPlan(r.index, ArgKind.NONE, read.offset, 0, "const_buf", False, label)
    if read.size > CONST_BUF_MASK:
        raise ValueError(f"field {r.field.name} ({r.field.type_text}) has {read.size} bytes; "
                         f"an array is read up to {CONST_BUF_MASK}")
    return ArgPlan(r.index, ArgKind.CONST_BUF, read.offset, read.size, "const_buf", False,
                   label, elements=r.emitted)


def arg_plan(r: ResolvedArg, label: str, fmt: TracepointFormat) -> ArgPlan:
    """How the kernel reads the argument, with where its layout came from."""
    plan = _arg_read(r, label, fmt)
    return replace(plan, field=r.field.name, c_type=r.field.type_text,
                   field_size=r.field.size)


def _arg_read(r: ResolvedArg, label: str, fmt: TracepointFormat) -> ArgPlan:
    read, field = r.read, r.field
    if r.type == "syscall64":
        if not _is_int_field(read):
            raise ValueError(f"field {field.name} ({field.type_text}) is not an integer; "
                             "syscall64 reads a syscall id")
        return ArgPlan(r.index, ArgKind.SYSCALL64, read.offset, min(8, read.size),
                       "syscall64", False, label)
    if r.type == "char_buf":
        return buffer_plan(r, fmt, label)
    if r.type == "const_buf":
        return _const_buf(r, label)
    if r.type == "nop":  # read nothing, show nothing (Tetragon ignores it in events)
        return ArgPlan(r.index, ArgKind.NONE, read.offset, 0, "nop", False, label)
    if r.type in INT_TYPES:
        if not _is_int_field(read):
            raise ValueError(f"field {field.name} ({field.type_text}) is not an integer; "
                             "give it type string, or omit the type")
        width, signed = INT_TYPES[r.type]
        return ArgPlan(r.index, ArgKind.INT, read.offset, min(width, read.size),
                       TETRAGON_INT_NAMES.get(r.type, r.type), signed, label)
    if r.type in ("string", "data_loc"):
        kind = {ReadKind.INLINE: ArgKind.STR_ARRAY, ReadKind.DATA_LOC: ArgKind.STR_DATALOC,
                ReadKind.POINTER: ArgKind.STR_PTR}.get(read.kind)
        if kind is None or (kind is ArgKind.STR_PTR and "char" not in field.type_text):
            raise ValueError(f"field {field.name} ({field.type_text}) holds no string")
        return ArgPlan(r.index, kind, read.offset, read.size, "string", False, label)
    if r.type in STRUCT_TYPE_KINDS:
        raise ValueError(f"type {r.type} reads a kernel struct through a pointer, and a "
                         "tracefs record's fields are copies, not the kernel's pointers; "
                         "set raw: true to read the tracepoint's own arguments (TP_PROTO)")
    raise ValueError(f"type {r.type} is not supported yet (issue 8)")


def _arg_index(index: int, args: list[ArgPlan]) -> int:
    """A matchArgs index as Tetragon reads it for tracepoints: the field
    index of one of the hook's arguments, or else a position in args
    (pkg/sensors/tracing/generictracepoint.go rewrites the first into the
    second; its own killer.yaml relies on the second)."""
    if any(a.index == index for a in args) or index >= len(args):
        return index
    return args[index].index


def _caps(c: CapabilitiesSelector) -> CapsFilter:
    return CapsFilter(c.type, c.operator, tuple(c.values), c.is_namespace_capability)


Path = tuple[str | int, ...]


class Lists:
    """The policy's syscall lists, resolved on first use (generated_syscalls
    reads the kernel's BTF: a policy without list: values never does)."""

    def __init__(self, loaded: LoadedPolicy) -> None:
        self.loaded = loaded
        self._lists: SyscallLists | None = None

    def ids(self, name: str, at: Path, arg: ArgPlan) -> tuple[int, ...]:
        """The ids `list:NAME` stands for in a filter of `arg`; ListError at `at`."""
        if self._lists is None:
            self._lists = resolve_lists(self.loaded.policy.spec.lists)
        try:
            ids = self._lists.values(name)
        except KeyError:
            names = list(self._lists.types)
            best = closest(name, names) if names else None
            hint = f"did you mean 'list:{best}'?" if best else "add it to spec.lists"
            raise ListError(at, f"list '{name}' is not defined; {hint}") from None
        except ValueError as err:
            raise ListError(at, str(err)) from None
        if arg.kind is not ArgKind.SYSCALL64:
            raise ListError(at, f"list '{name}' holds syscalls, but the argument at index "
                            f"{arg.index} is {arg.tetragon_type}; a syscall list filters a "
                            "syscall64 argument (as Tetragon's listReader requires)")
        return ids


def _values(values: list[str], operator: str, at: Path, arg: ArgPlan | None,
            lists: Lists | None) -> tuple[str, ...]:
    """A filter's values with each list:NAME of an InMap/NotInMap replaced by
    the list's ids (Tetragon expands lists there only)."""
    if operator not in ("InMap", "NotInMap"):
        return tuple(values)
    out: list[str] = []
    for k, v in enumerate(values):
        if v.startswith("list:") and arg is not None and lists is not None:
            out.extend(str(i) for i in lists.ids(v[len("list:"):], (*at, "values", k), arg))
        else:
            out.append(v)
    return tuple(out)


def _returns(sel: KProbeSelector) -> dict[str, Any]:
    """matchReturnArgs and matchReturnActions (kprobes only: validation
    refuses them on a tracepoint)."""
    return {
        "ret_args": tuple(ArgFilter(a.index, a.operator, tuple(a.values))
                          for a in sel.match_return_args),
        "ret_actions": tuple(ActionPlan(a.action, a.arg_sig, a.rate_limit, a.rate_limit_scope,
                                        a.arg_error, a.arg_sock)
                             for a in sel.match_return_actions),
    }


def selector_plans(tp: TracepointSpec | KProbeSpec, args: list[ArgPlan], at: Path = (),
                   lists: Lists | None = None, *,
                   positional: bool = True) -> tuple[SelectorPlan, ...]:
    """The hook's selectors as plans; `lists` expands list:NAME values (a
    hook without them leaves such a value to fail where it is compiled).
    `positional`: a matchArgs index that names no argument may be a position
    in args (tracepoints, see _arg_index); a kprobe's names its argument's
    index only, as Tetragon's argIndexType requires."""
    def index_of(index: int) -> int:
        return _arg_index(index, args) if positional else index

    def arg_of(index: int) -> ArgPlan | None:
        return next((a for a in args if a.index == index_of(index)), None)

    return tuple(
        SelectorPlan(
            pids=tuple(PidFilter(p.operator, tuple(p.values), p.follow_forks,
                                 p.is_namespace_pid) for p in sel.match_pids),
            args=tuple(ArgFilter(index_of(a.index), a.operator,
                                 _values(a.values, a.operator,
                                         (*at, "selectors", s, "matchArgs", k),
                                         arg_of(a.index), lists))
                       for k, a in enumerate(sel.match_args)),
            actions=tuple(ActionPlan(a.action, a.arg_sig, a.rate_limit, a.rate_limit_scope,
                                     a.arg_error, a.arg_sock)
                          for a in sel.match_actions),
            binaries=tuple(BinaryFilter(b.operator, tuple(b.values), b.follow_children)
                           for b in sel.match_binaries),
            namespaces=tuple(NamespaceFilter(n.namespace, n.operator, tuple(n.values))
                             for n in sel.match_namespaces),
            capabilities=tuple(_caps(c) for c in sel.match_capabilities),
            namespace_changes=tuple(NamespaceChangesFilter(n.operator, tuple(n.values))
                                    for n in sel.match_namespace_changes),
            capability_changes=tuple(_caps(c) for c in sel.match_capability_changes),
            **_returns(sel),
        )
        for s, sel in enumerate(tp.selectors)
    )


def compile_tracepoints(loaded: LoadedPolicy) -> list[TracepointHookPlan]:
    """Every tracepoint hook of a policy, planned; raises PolicyError with all
    problems at once."""
    # Imported here: it builds on this module's argument types and selectors.
    from vigil.sensors.raw_tracepoint_compile import RawPlanner

    plans: list[TracepointHookPlan] = []
    issues: list[Issue] = []
    raw = RawPlanner(loaded)
    lists = Lists(loaded)
    for i, tp in enumerate(loaded.policy.spec.tracepoints):
        if tp.raw:
            raw_plan = raw.plan(i, tp, issues)
            if raw_plan is not None:
                plans.append(raw_plan)
            continue
        at = ("spec", "tracepoints", i)
        try:
            fmt = read_format(tp.subsystem, tp.event)
        except (UnknownTracepointError, PermissionError, ValueError) as err:
            issues.append(loaded.issue((*at, "event"), str(err), value=True))
            continue
        args: list[ArgPlan] = []
        for j, arg in enumerate(tp.args):
            try:
                resolved = resolve_arg(fmt, arg.index, arg.type, size_arg_index=arg.size_arg_index)
                plan = arg_plan(resolved, arg.label, fmt)
            except ValueError as err:
                issues.append(loaded.issue((*at, "args", j, "index"), str(err), value=True))
                continue
            try:
                args.append(with_max_data(plan) if arg.max_data else plan)
            except ValueError as err:
                issues.append(loaded.issue((*at, "args", j, "maxData"), str(err), value=True))
        if len(args) != len(tp.args):
            continue
        try:
            selectors = selector_plans(tp, args, at, lists)
        except ListError as err:
            issues.append(loaded.issue(err.path, err.message, value=True))
            continue
        try:
            plans.append(TracepointHookPlan(
                policy_name=loaded.name, subsys=tp.subsystem, event=tp.event, args=tuple(args),
                message=tp.message, tags=tuple(tp.tags), selectors=selectors,
                program=TRACEFS_TRACEPOINT,
                layout_source=str(tracepoint_dir(tp.subsystem, tp.event) / "format")))
        except ValueError as err:  # the selectors do not compile: the message names where
            issues.append(loaded.issue((*at, "selectors"), str(err)))
    if issues:
        raise PolicyError(issues)
    return plans
