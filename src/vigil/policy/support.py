"""What vigil implements today, as data, and the check that reports everything else.

A policy can be valid for Tetragon and still use a field or a value that vigil
does not implement yet; loading it must then fail and say what, where, and which
issue brings it, never ignore it silently. The tables below are the only place
that knows what is implemented: a sensor that learns a field adds it here (and
its tests), nothing else changes.

Paths are schema paths: ``[]`` stands for any list item, ``{}`` for any map key.
A field is reported only where the policy gives it a value other than its
default, and only at the outermost unsupported field (``spec.kprobes``, not each
kprobe's fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from vigil.policy.enums import OPTIONS
from vigil.policy.errors import PathPart, Severity
from vigil.policy.findings import Finding
from vigil.policy.model import AnyPolicy
from vigil.policy.model.hooks import KProbeSpec, TracepointSpec, UProbeSpec
from vigil.wire.records import SEL_STR_MAX

__all__ = ["PLANNED", "REFUSED", "SUPPORTED_FIELDS", "SUPPORTED_VALUES", "WHOLE", "unsupported"]

_TP = "spec.tracepoints[]"
_SEL = f"{_TP}.selectors[]"
_KP = "spec.kprobes[]"
_KSEL = f"{_KP}.selectors[]"
_INTEGERS = ("int", "sint8", "int8", "uint8", "sint16", "int16", "uint16", "uint32", "sint32",
             "int32", "ulong", "uint64", "size_t", "long", "sint64", "int64", "bpf_cmd")

# Fields under which everything is implemented (metadata: vigil reads name and namespace).
WHOLE: frozenset[str] = frozenset({"apiVersion", "metadata"})

# Fields implemented: the generic tracepoint sensor so far (issue 8): a
# tracepoint's arguments read (integers, strings, syscall64, char_buf with its
# sizeArgIndex, arrays, nop), from tracefs or (raw) from TP_PROTO; selectors on
# pids (host or namespace pids, followForks), binaries (followChildren),
# arguments (InMap/NotInMap with syscall lists too), namespaces and
# capabilities and their changes since exec, evaluated in the kernel; Post
# (with rateLimit)/NoPost/Sigkill/Signal.
def _selector_fields(sel: str) -> set[str]:
    """What a hook's selectors implement, under its selectors[] path `sel`."""
    return {
        *(f"{sel}.{f}" for f in ("matchArgs", "matchPIDs", "matchActions", "matchBinaries",
                                 "matchNamespaces", "matchCapabilities",
                                 "matchNamespaceChanges", "matchCapabilityChanges")),
        *(f"{sel}.matchArgs[].{f}" for f in ("index", "operator", "values")),
        *(f"{sel}.matchPIDs[].{f}" for f in ("operator", "values", "followForks",
                                             "isNamespacePID")),
        *(f"{sel}.matchBinaries[].{f}" for f in ("operator", "values", "followChildren")),
        *(f"{sel}.matchNamespaces[].{f}" for f in ("namespace", "operator", "values")),
        *(f"{sel}.{kind}[].{f}" for kind in ("matchCapabilities", "matchCapabilityChanges")
          for f in ("type", "operator", "values", "isNamespaceCapability")),
        *(f"{sel}.matchNamespaceChanges[].{f}" for f in ("operator", "values")),
        *(f"{sel}.matchActions[].{f}" for f in ("action", "argSig", "rateLimit",
                                                "rateLimitScope", "argError", "argSock")),
    }


SUPPORTED_FIELDS: frozenset[str] = frozenset({
    "kind",
    "spec",
    "spec.tracepoints",
    *(f"{_TP}.{f}" for f in ("subsystem", "event", "message", "tags", "args", "raw")),
    *(f"{_TP}.args[].{f}" for f in ("index", "type", "label", "sizeArgIndex", "maxData")),
    f"{_TP}.selectors",
    *_selector_fields(_SEL),
    # spec.kprobes (issue 9) on the hook ladder's rungs (kprobe, fentry, the
    # syscall fallback): integer, string, char_buf (returnCopy too) and file
    # (fd, file, path, dentry) arguments, the return value as an integer, the
    # same selectors, with the string operators on file arguments' paths.
    "spec.kprobes",
    *(f"{_KP}.{f}" for f in ("call", "syscall", "return", "message", "tags", "args",
                             "returnArg", "returnArgAction", "selectors", "ignore")),
    f"{_KP}.ignore.callNotFound",
    *(f"{_KP}.args[].{f}" for f in ("index", "type", "label", "sizeArgIndex", "returnCopy",
                                    "resolve", "maxData")),
    *(f"{_KP}.returnArg.{f}" for f in ("index", "type", "label")),
    *_selector_fields(_KSEL),
    f"{_KSEL}.matchReturnArgs",
    *(f"{_KSEL}.matchReturnArgs[].{f}" for f in ("index", "operator", "values")),
    f"{_KSEL}.matchReturnActions",
    *(f"{_KSEL}.matchReturnActions[].{f}" for f in ("action", "argSig")),
    "spec.options",
    *(f"spec.options[].{f}" for f in ("name", "value")),
    "spec.lists",
    *(f"spec.lists[].{f}" for f in ("name", "type", "values", "pattern")),
    # NotifyEnforcer's enforcer (on syscalls and security_* hooks)
    "spec.enforcers",
    "spec.enforcers[].calls",
})

# spec.fentries: spec.kprobes' fields, attached as fentry (and fexit).
_FE = "spec.fentries[]"
SUPPORTED_FIELDS = SUPPORTED_FIELDS | {"spec.fentries"} | {
    f.replace(_KP, _FE, 1) for f in SUPPORTED_FIELDS if f.startswith(_KP)}

# spec.uprobes: user functions (sensors/uprobe_compile.py), their arguments
# from registers, with a kprobe's selectors.
_UP = "spec.uprobes[]"
_USEL = f"{_UP}.selectors[]"
SUPPORTED_FIELDS = SUPPORTED_FIELDS | {
    "spec.uprobes",
    *(f"{_UP}.{f}" for f in ("path", "symbols", "offsets", "addrs", "refCtrOffsets",
                             "message", "tags", "args", "return", "returnArg", "selectors")),
    *(f"{_UP}.args[].{f}" for f in ("index", "type", "label", "sizeArgIndex", "returnCopy")),
    *(f"{_UP}.returnArg.{f}" for f in ("index", "type", "label")),
    *(f.replace(_KSEL, _USEL, 1) for f in SUPPORTED_FIELDS if f.startswith(_KSEL)),
}

# Fields implemented for some of their values only: the values implemented.
SUPPORTED_VALUES: Mapping[str, frozenset[str]] = {
    # a namespaced policy applies to the pods of a Kubernetes namespace
    "kind": frozenset({"TracingPolicy"}),
    # auto: the type Tetragon infers, if it is one of these (the planner checks)
    # (the struct types: raw tracepoints only; the planner says so of a tracefs one)
    f"{_TP}.args[].type": frozenset({"auto", *_INTEGERS, "string", "data_loc", "syscall64",
                                     "char_buf", "nop", "file", "path", "dentry", "sock",
                                     "cred", "linux_binprm", "net_device", "socket", "skb",
                                     "sockaddr", "user_namespace", "bpf_attr", "bpf_prog",
                                     "bpf_map", "perf_event", "module", "load_info",
                                     "iov_iter", "kiocb", "sockaddr_un", "filename"}),
    f"{_SEL}.matchArgs[].operator": frozenset({
        "Equal", "NotEqual", "Prefix", "NotPrefix", "Postfix", "NotPostfix", "GT", "LT",
        "GreaterThan", "LessThan", "Mask", "InRange", "NotInRange", "InMap", "NotInMap"}),
    # (no type: kernel functions, as generated_ftrace's; both for kprobe calls)
    "spec.lists[].type": frozenset({"syscalls", "generated_syscalls", "generated_ftrace"}),
    f"{_SEL}.matchActions[].action": frozenset({"Post", "NoPost", "Sigkill", "Signal",
                                                "NotifyEnforcer",
                                                "CleanupEnforcerNotification", "TrackSock",
                                                "UntrackSock"}),
    f"{_KP}.args[].type": frozenset({*_INTEGERS, "string", "char_buf", "fd", "file", "path",
                                     "dentry", "sock", "nop", "cred", "kernel_cap_t",
                                     "cap_inheritable", "cap_permitted", "cap_effective",
                                     "linux_binprm", "net_device", "capability", "socket",
                                     "skb", "sockaddr", "user_namespace", "bpf_attr",
                                     "bpf_prog", "bpf_map", "perf_event", "module",
                                     "load_info", "char_iovec", "iov_iter", "kiocb",
                                     "sockaddr_un", "filename"}),
    # the integers, or a struct returned by pointer (sensors/plan.py's
    # RETURN_STRUCT_KINDS)
    f"{_KP}.returnArg.type": frozenset({*_INTEGERS, "file", "path", "dentry", "sock",
                                        "socket", "skb", "cred", "linux_binprm",
                                        "net_device", "user_namespace", "bpf_prog",
                                        "bpf_map", "perf_event", "module", "filename"}),
    f"{_KSEL}.matchArgs[].operator": frozenset({
        "Equal", "NotEqual", "Prefix", "NotPrefix", "Postfix", "NotPostfix", "GT", "LT",
        "GreaterThan", "LessThan", "Mask", "InRange", "NotInRange", "InMap", "NotInMap",
        # on sock arguments
        "SPort", "NotSPort", "SPortPriv", "NotSportPriv", "DPort", "NotDPort", "DPortPriv",
        "NotDPortPriv", "SAddr", "NotSAddr", "DAddr", "NotDAddr", "Protocol", "Family",
        "State",
        # on file and path arguments
        "FileType", "NotFileType"}),
    f"{_KSEL}.matchActions[].action": frozenset({"Post", "NoPost", "Sigkill", "Signal",
                                                 "Override", "NotifyEnforcer",
                                                 "CleanupEnforcerNotification", "TrackSock",
                                                 "UntrackSock"}),
    f"{_KSEL}.matchReturnArgs[].operator": frozenset({
        "Equal", "NotEqual", "GT", "LT", "GreaterThan", "LessThan", "Mask", "InRange",
        "NotInRange", "InMap", "NotInMap"}),
    f"{_KSEL}.matchReturnActions[].action": frozenset({"Post", "NoPost", "Sigkill",
                                                       "Signal"}),
    # Tetragon's option names that vigil implements: policy-mode (monitor:
    # enforcing actions reported, not done), override-method (the rung that
    # overrides), disable-kprobe-multi (vigil has no kprobe.multi sensor yet:
    # every kprobe is one)
    "spec.options[].name": frozenset({"policy-mode", "override-method",
                                      "disable-kprobe-multi"}),
}
SUPPORTED_VALUES = {**SUPPORTED_VALUES, **{
    k.replace(_KP, _FE, 1): v for k, v in SUPPORTED_VALUES.items() if k.startswith(_KP)}}
# A user function's arguments are its registers' values and the user memory
# they point at: no kernel struct is there to read.
SUPPORTED_VALUES = {
    **SUPPORTED_VALUES,
    **{k.replace(_KSEL, _USEL, 1): v for k, v in SUPPORTED_VALUES.items()
       if k.startswith(_KSEL)},
    f"{_UP}.args[].type": frozenset({*_INTEGERS, "string", "char_buf", "fd", "nop"}),
    f"{_UP}.returnArg.type": frozenset(_INTEGERS),
    f"{_USEL}.matchActions[].action": frozenset({"Post", "NoPost", "Sigkill", "Signal"}),
}

# Where the rest is planned: the longest matching schema path, or the value
# ("path=value") wins. Anything not here is not planned in an issue yet.
PLANNED: Mapping[str, str] = {
    "kind=TracingPolicyNamespaced": "issue 10",
    f"{_SEL}": "issue 8",
    f"{_SEL}.matchArgs[].args": "issue 8",
    # Tetragon has these; no issue plans them for vigil yet.
    f"{_SEL}.matchParentBinaries": "no issue yet",
    **{f"{_SEL}.matchArgs[].operator={op}": "no issue yet" for op in (
        "SubString", "SubStringIgnCase", "CelExpr", "FileType", "NotFileType",
        "CapabilitiesGained", "In", "NotIn")},
    "spec.kprobes": "issue 9",
    "spec.fentries": "issue 9",
    "spec.lsmhooks": "issue 10",
    f"{_UP}.data": "issue 10",
    f"{_UP}.btfPath": "issue 10",
    f"{_UP}.args[].resolve": "issue 10",
    f"{_UP}.args[].btfType": "issue 10",
    f"{_UP}.args[].maxData": "no issue yet",
    f"{_USEL}.matchActions[].action=Override": "issue 10",
    f"{_USEL}.matchActions[].action=Set": "issue 10",
    "spec.usdts": "issue 10",
    f"{_TP}.args[].resolve": "issue 9",
    f"{_TP}.args[].btfType": "issue 10",
    f"{_SEL}.matchActions[].imaHash": "issue 10",
    f"{_SEL}.matchActions[].action=Override": "issue 9",
    f"{_SEL}.matchActions[].action=Set": "issue 10",
    f"{_SEL}.matchReturnArgs": "issue 9",
    f"{_SEL}.matchReturnActions": "issue 9",
    "spec.options[].name=disable-uprobe-multi": "issue 10",
    **{f"{_SEL}.matchArgs[].operator={op}": "issue 9" for op in (
        "SPort", "NotSPort", "SPortPriv", "NotSportPriv", "DPort", "NotDPort", "DPortPriv",
        "NotDPortPriv", "SAddr", "NotSAddr", "DAddr", "NotDAddr", "Protocol", "Family",
        "State")},
    **{f"{_TP}.args[].type={ty}": "issue 9" for ty in (
        "char_iovec", "skb", "sock", "sockaddr", "socket", "sockaddr_un", "fd", "file",
        "filename", "path", "bpf_attr", "perf_event", "bpf_map", "user_namespace",
        "capability", "kiocb", "iov_iter", "cred", "const_buf", "load_info", "module",
        "kernel_cap_t", "cap_inheritable", "cap_permitted", "cap_effective", "linux_binprm",
        "net_device", "bpf_cmd", "dentry", "bpf_prog")},
}


# Fields vigil will not implement, and what to write instead.
_NO_K8S = ("the Kubernetes API is not supported: vigil watches no pods or containers' "
           "labels, so it cannot tell which processes this selects; scope the policy to "
           "the cgroup subtree of those pods or containers instead, with spec.options "
           "{name: cgroup-path, value: /kubepods.slice/...} (docs/cgroups.md)")
REFUSED: Mapping[str, str] = {
    "spec.podSelector": _NO_K8S,
    "spec.containerSelector": _NO_K8S,
}


# A kprobe's selectors and arguments are planned where a tracepoint's are.
PLANNED = {**PLANNED, **{
    k.replace(_SEL, _KSEL, 1) if k.startswith(_SEL) else k.replace(_TP, _KP, 1): v
    for k, v in PLANNED.items() if k.startswith((_SEL, f"{_TP}.args[]"))}}


def _planned(schema: str, value: str | None = None) -> str:
    if value is not None and f"{schema}={value}" in PLANNED:
        return PLANNED[f"{schema}={value}"]
    parts = schema
    while parts:
        if parts in PLANNED:
            return PLANNED[parts]
        cut = max(parts.rfind("."), parts.rfind("["))
        parts = parts[:cut] if cut > 0 else ""
    return "no issue yet"


def _is_default(model: BaseModel, name: str, value: Any) -> bool:
    info = type(model).model_fields[name]
    if info.default_factory is not None:
        return bool(value == info.default_factory())  # type: ignore[call-arg]
    return bool(value == info.default)


def _walk(model: BaseModel, path: tuple[PathPart, ...], schema: str,
          out: list[Finding]) -> None:
    for name in sorted(model.model_fields_set, key=list(type(model).model_fields).index):
        info = type(model).model_fields[name]
        key = info.alias or name
        value = getattr(model, name)
        if _is_default(model, name, value):
            continue
        here = f"{schema}.{key}" if schema else key
        where = (*path, key)
        if here in WHOLE:
            continue
        if here in REFUSED:
            out.append(Finding(where, REFUSED[here], Severity.UNSUPPORTED))
            continue
        if here not in SUPPORTED_FIELDS:
            out.append(Finding(where, f"not supported yet ({_planned(here)})",
                               Severity.UNSUPPORTED))
            continue
        allowed = SUPPORTED_VALUES.get(here)
        if here == "spec.options[].name" and value not in OPTIONS:
            # an option of vigil's own (checks/spec.py), or one Tetragon ignores
            allowed = None  # an option Tetragon ignores: a warning of the checks, no more
        if allowed is not None and isinstance(value, str) and value not in allowed:
            out.append(Finding(where, f"{value} is not supported yet ({_planned(here, value)})",
                               Severity.UNSUPPORTED, at_value=True))
        _descend(value, where, here, out)


def _descend(value: Any, path: tuple[PathPart, ...], schema: str, out: list[Finding]) -> None:
    if isinstance(value, BaseModel):
        _walk(value, path, schema, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _descend(item, (*path, i), f"{schema}[]", out)
    elif isinstance(value, dict):
        for k, item in value.items():
            _descend(item, (*path, k), f"{schema}{{}}", out)


# Operators whose values are always strings; Equal and NotEqual may be either.
_STRING_OPS = frozenset({"Prefix", "NotPrefix", "Postfix", "NotPostfix"})


def _hooks(policy: AnyPolicy) -> list[tuple[str, int, TracepointSpec | KProbeSpec | UProbeSpec]]:
    """The hooks vigil plans, as (section under spec, index, hook)."""
    hooks: list[tuple[str, int, TracepointSpec | KProbeSpec | UProbeSpec]] = [
        ("tracepoints", t, tp) for t, tp in enumerate(policy.spec.tracepoints)]
    hooks += [("kprobes", k, kp) for k, kp in enumerate(policy.spec.kprobes)]
    hooks += [("uprobes", u, up) for u, up in enumerate(policy.spec.uprobes)]
    return hooks


def _narrower_limits(policy: AnyPolicy, out: list[Finding]) -> None:
    """Values Tetragon takes and vigil's kernel side cannot hold: a string
    value of a tracepoint's matchArgs is compared in at most SEL_STR_MAX
    bytes (Tetragon: 4096 for Equal). Integer values are never that long."""
    for section, t, tp in _hooks(policy):
        for s, sel in enumerate(tp.selectors):
            for a, arg in enumerate(sel.match_args):
                if arg.operator not in _STRING_OPS | {"Equal", "NotEqual"}:
                    continue
                for v, value in enumerate(arg.values):
                    n = len(value.encode())
                    if n > SEL_STR_MAX and not value.startswith("list:"):
                        out.append(Finding(
                            ("spec", section, t, "selectors", s, "matchArgs", a,
                             "values", v),
                            f"{n} bytes: vigil compares string values of at most "
                            f"{SEL_STR_MAX} bytes (not supported yet)",
                            Severity.UNSUPPORTED, at_value=True))


def _namespace_pid_forks(policy: AnyPolicy, out: list[Finding]) -> None:
    """followForks with isNamespacePID: Tetragon walks the process's
    ancestors comparing their namespace pids; vigil's followForks bits are
    kept for host pids only so far (sensors/selectors.py refuses it)."""
    for section, h, hook in _hooks(policy):
        for s, sel in enumerate(hook.selectors):
            for p, pids in enumerate(sel.match_pids):
                if pids.follow_forks and pids.is_namespace_pid:
                    out.append(Finding(
                        ("spec", section, h, "selectors", s, "matchPIDs", p, "followForks"),
                        "followForks together with isNamespacePID is not supported yet "
                        "(no issue yet)", Severity.UNSUPPORTED, at_value=True))


def unsupported(policy: AnyPolicy) -> list[Finding]:
    """Every use in ``policy`` of a field or value vigil does not implement yet."""
    out: list[Finding] = []
    _walk(policy, (), "", out)
    _narrower_limits(policy, out)
    _namespace_pid_forks(policy, out)
    return out
