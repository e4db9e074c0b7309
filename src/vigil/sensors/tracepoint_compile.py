"""A validated policy's spec.tracepoints -> hook plans, against the running
kernel's tracepoint formats.

Each argument's field, type and read come from tracefs exactly as Tetragon
takes them (vigil.kernel.tracepoint_args); the plan then fixes how the
kernel reads it. A problem is a PolicyError located in the policy file (which
tracepoint does not exist, which argument cannot be read and why), never a
half-loaded policy.
"""

from __future__ import annotations

from vigil.kernel.tracefs_format import UnknownTracepointError, read_format, tracepoint_dir
from vigil.kernel.tracepoint_args import ReadKind, ResolvedArg, resolve_arg
from vigil.policy import Issue, LoadedPolicy, PolicyError
from vigil.policy.model.hooks import TracepointSpec
from vigil.sensors.plan import TRACEFS_TRACEPOINT, ArgPlan, TracepointHookPlan
from vigil.sensors.selectors import ActionPlan, ArgFilter, PidFilter, SelectorPlan
from vigil.wire.records import ArgKind

__all__ = ["INT_TYPES", "compile_tracepoints"]

# Tetragon's integer types -> (bytes read, signed). The width is the type's,
# not the field's: a syscall tracepoint gives `int dfd` an 8-byte slot, and
# Tetragon reads 4 of them for `int`.
INT_TYPES: dict[str, tuple[int, bool]] = {
    "int8": (1, True), "sint8": (1, True), "uint8": (1, False),
    "int16": (2, True), "sint16": (2, True), "uint16": (2, False),
    "int": (4, True), "int32": (4, True), "sint32": (4, True), "uint32": (4, False),
    "long": (8, True), "int64": (8, True), "sint64": (8, True),
    "ulong": (8, False), "uint64": (8, False), "size_t": (8, False),
}
# The key of each in the event: what pkg/sensors/tracing emits for it.
_TETRAGON_NAME = {"sint8": "int8", "sint16": "int16", "sint32": "int32", "sint64": "int64",
                  "ulong": "uint64", "long": "int64"}


def _arg_plan(r: ResolvedArg, label: str) -> ArgPlan:
    read, field = r.read, r.field
    if r.type in INT_TYPES:
        if read.kind is not ReadKind.SCALAR:
            raise ValueError(f"field {field.name} ({field.type_text}) is not an integer; "
                             "give it type string, or omit the type")
        width, signed = INT_TYPES[r.type]
        return ArgPlan(r.index, ArgKind.INT, read.offset, min(width, read.size),
                       _TETRAGON_NAME.get(r.type, r.type), signed, label,
                       field.name, field.type_text, field.size)
    if r.type in ("string", "data_loc"):
        kind = {ReadKind.INLINE: ArgKind.STR_ARRAY, ReadKind.DATA_LOC: ArgKind.STR_DATALOC,
                ReadKind.POINTER: ArgKind.STR_PTR}.get(read.kind)
        if kind is None or (kind is ArgKind.STR_PTR and "char" not in field.type_text):
            raise ValueError(f"field {field.name} ({field.type_text}) holds no string")
        return ArgPlan(r.index, kind, read.offset, read.size, "string", False, label,
                       field.name, field.type_text, field.size)
    raise ValueError(f"type {r.type} is not supported yet (issue 8)")


def _arg_index(index: int, args: list[ArgPlan]) -> int:
    """A matchArgs index as Tetragon reads it for tracepoints: the field
    index of one of the hook's arguments, or else a position in args
    (pkg/sensors/tracing/generictracepoint.go rewrites the first into the
    second; its own killer.yaml relies on the second)."""
    if any(a.index == index for a in args) or index >= len(args):
        return index
    return args[index].index


def _selectors(tp: TracepointSpec, args: list[ArgPlan]) -> tuple[SelectorPlan, ...]:
    return tuple(
        SelectorPlan(
            pids=tuple(PidFilter(p.operator, tuple(p.values), p.follow_forks,
                                 p.is_namespace_pid) for p in sel.match_pids),
            args=tuple(ArgFilter(_arg_index(a.index, args), a.operator, tuple(a.values))
                       for a in sel.match_args),
            actions=tuple(ActionPlan(a.action, a.arg_sig) for a in sel.match_actions),
        )
        for sel in tp.selectors
    )


def compile_tracepoints(loaded: LoadedPolicy) -> list[TracepointHookPlan]:
    """Every tracepoint hook of a policy, planned; raises PolicyError with all
    problems at once."""
    plans: list[TracepointHookPlan] = []
    issues: list[Issue] = []
    for i, tp in enumerate(loaded.policy.spec.tracepoints):
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
                args.append(_arg_plan(resolved, arg.label))
            except ValueError as err:
                issues.append(loaded.issue((*at, "args", j, "index"), str(err), value=True))
        if len(args) != len(tp.args):
            continue
        try:
            plans.append(TracepointHookPlan(
                policy_name=loaded.name, subsys=tp.subsystem, event=tp.event, args=tuple(args),
                message=tp.message, tags=tuple(tp.tags), selectors=_selectors(tp, args),
                program=TRACEFS_TRACEPOINT,
                layout_source=str(tracepoint_dir(tp.subsystem, tp.event) / "format")))
        except ValueError as err:  # the selectors do not compile: the message names where
            issues.append(loaded.issue((*at, "selectors"), str(err)))
    if issues:
        raise PolicyError(issues)
    return plans
