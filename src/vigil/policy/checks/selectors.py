"""A hook's selectors: limits per selector, filters against the hook's arguments, actions.

Each selector is checked as Tetragon compiles it, after the macros it names
(spec.selectorsMacros) are merged in (pkg/sensors/tracing/generic.go
appendMacrosSelectors); a finding about a filter that came from a macro points
at the macro.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vigil.policy import limits
from vigil.policy.checks.filters import check_capability_names, check_filter
from vigil.policy.checks.goparse import RATE_LIMIT, parse_int
from vigil.policy.checks.hooks_of import Hook
from vigil.policy.enums import NAMESPACES
from vigil.policy.errors import PathPart, format_path
from vigil.policy.findings import Findings
from vigil.policy.model import (
    ActionSelector,
    ArgSelector,
    BinarySelector,
    KProbeArg,
    KProbeSelector,
    TracingPolicySpec,
)
from vigil.policy.suggest import closest, one_of

__all__ = ["SELECTOR_FIELDS", "check_selectors"]

Path = tuple[PathPart, ...]
# (python name, YAML name) of every filter and action list of a selector
SELECTOR_FIELDS: tuple[tuple[str, str], ...] = tuple(
    (name, info.alias or name) for name, info in KProbeSelector.model_fields.items()
    if name != "macros")
_ENFORCING = {"Sigkill", "Signal", "NotifyEnforcer", "Override", "Set"}
_LSM_ACTIONS = {"Post", "NoPost", "Sigkill", "Signal", "Override"}
_SCOPES = ("thread", "process", "global")
Effective = dict[str, tuple[list[Any], Path]]


def _merge_macros(sel: KProbeSelector, path: Path, macros: dict[str, KProbeSelector],
                  f: Findings) -> Effective:
    eff: Effective = {name: (list(getattr(sel, name)), (*path, alias))
                      for name, alias in SELECTOR_FIELDS}
    for j, mname in enumerate(sel.macros):
        where = (*path, "macros", j)
        macro = macros.get(mname)
        if macro is None:
            best = closest(mname, list(macros)) if macros else None
            hint = f"did you mean '{best}'?" if best else "define it in spec.selectorsMacros"
            f.error(where, f"macro '{mname}' is not defined; {hint}", value=True)
            continue
        if macro.macros:
            continue  # reported once, at the macro's definition
        for name, alias in SELECTOR_FIELDS:
            items = getattr(macro, name)
            if not items:
                continue
            have, origin = eff[name]
            if have:
                f.error(where, f"{alias} comes both from {format_path(origin)} and from macro "
                        f"'{mname}'; Tetragon fills a field from a macro only when it is "
                        "empty: keep one")
                continue
            eff[name] = (list(items), ("spec", "selectorsMacros", mname, alias))
    return eff


def _declared(args: Sequence[KProbeArg]) -> str:
    return ", ".join(str(a.index) for a in args)


def _known_type(arg: KProbeArg) -> str | None:
    """The filtered argument's type where it does not depend on the kernel."""
    if arg.type == "auto" or arg.resolve:
        return None
    return arg.type


def _target(f: Findings, path: Path, flt: ArgSelector, hook: Hook, which: str) -> tuple[
        bool, str | None]:
    """(found, type) of the argument a filter reads; reports a filter that reads none."""
    if which == "return":
        if hook.return_arg is None:
            f.error(path, "matchReturnArgs filters the return value: add returnArg (and "
                    "return: true) to the hook")
            return False, None
        sig = [hook.return_arg]
    else:
        sig = hook.data if which == "data" else hook.args
    if flt.args:
        for i, pos in enumerate(flt.args):
            if pos >= len(sig):
                f.error((*path, "args", i), f"position {pos} is past the hook's {which} list "
                        f"({len(sig)} entries); args names positions in that list, from 0",
                        value=True)
                return False, None
        return True, _known_type(sig[flt.args[0]])
    if which == "data":
        if flt.index >= len(sig):
            f.error((*path, "index"), f"{flt.index} is past the hook's data list ({len(sig)} "
                    "entries); matchData index is a position in data, from 0", value=True)
            return False, None
        return True, _known_type(sig[flt.index])
    for arg in sig:
        if arg.index == flt.index:
            return True, _known_type(arg)
    if hook.kind == "tracepoint" and flt.index < len(sig):
        # Tetragon renumbers a tracepoint's filters from format indexes to positions in
        # args (generictracepoint.go InitKernelSelectors) and then looks the number up
        # among positions, so a position works too; its own examples rely on it.
        arg = sig[flt.index]
        f.warn((*path, "index"), f"{flt.index} is not the index of a declared argument; "
               f"Tetragon takes it as the position in args, args[{flt.index}] (index "
               f"{arg.index}): write 'index: {arg.index}' to say so", value=True)
        return True, _known_type(arg)
    if which == "return":
        f.error((*path, "index"), f"{flt.index} is not the returnArg's index "
                f"({sig[0].index}); a return filter reads the returnArg", value=True)
    elif not sig:
        f.error((*path, "index"), f"the hook declares no args, so there is no argument "
                f"{flt.index} to filter; add it to {format_path((*hook.path, 'args'))}",
                value=True)
    else:
        f.error((*path, "index"), f"{flt.index} is not the index of a declared argument "
                f"(declared: {_declared(sig)}); filter one of those or declare index "
                f"{flt.index} in args", value=True)
    return False, None


def _check_filters(f: Findings, eff: Effective, hook: Hook, spec: TracingPolicySpec,
                   substrings: list[int]) -> None:
    for name, which in (("match_args", "args"), ("match_data", "data"),
                        ("match_return_args", "return")):
        items, base = eff[name]
        if which == "return" and hook.kind not in ("kprobe", "fentry", "uprobe"):
            continue  # no return value: reported by _check_return_use
        for i, flt in enumerate(items):
            _, ty = _target(f, (*base, i), flt, hook, which)
            check_filter(f, (*base, i), flt, ty, spec.lists, substrings)


def _check_binaries(f: Findings, items: list[BinarySelector], base: Path) -> None:
    for i, b in enumerate(items):
        path = (*base, i)
        if b.follow_children and b.operator not in ("In", "NotIn"):
            f.error((*path, "followChildren"), f"followChildren works with In and NotIn only "
                    f"(Tetragon has not implemented it for {b.operator})")
        if not b.values:
            f.warn((*path, "values"), "no values: Tetragon ignores this filter; add the "
                   "binaries' paths")
        for j, v in enumerate(b.values):
            n = len(v.encode())
            if b.operator in ("In", "NotIn") and n > limits.BINARY_PATH_MAX:
                f.error((*path, "values", j), f"{n} bytes; Tetragon matches binary paths of at "
                        f"most {limits.BINARY_PATH_MAX} bytes (BINARY_PATH_MAX_LEN - 1)",
                        value=True)
            elif b.operator in ("Prefix", "NotPrefix") and n > limits.STRING_PREFIX_MAX:
                f.error((*path, "values", j), f"{n} bytes; a prefix is at most "
                        f"{limits.STRING_PREFIX_MAX} bytes", value=True)
            elif b.operator in ("Postfix", "NotPostfix") and n > limits.STRING_POSTFIX_MAX:
                f.error((*path, "values", j), f"{n} bytes; a postfix is at most "
                        f"{limits.STRING_POSTFIX_MAX} bytes", value=True)


def _check_process_filters(f: Findings, eff: Effective) -> None:
    items, base = eff["match_namespaces"]
    if len(items) > limits.MAX_NAMESPACE_FILTERS:
        f.error(base, f"{len(items)} filters; Tetragon takes at most "
                f"{limits.MAX_NAMESPACE_FILTERS} matchNamespaces filters per selector")
    for i, ns in enumerate(items):
        if len(ns.values) > limits.MAX_NAMESPACE_VALUES:
            f.error((*base, i, "values"), f"{len(ns.values)} values; a matchNamespaces filter "
                    f"takes at most {limits.MAX_NAMESPACE_VALUES}")
        for j, v in enumerate(ns.values):
            if v != "host_ns" and parse_int(v, bits=32, signed=False, base=10) is None:
                f.error((*base, i, "values", j), f"'{v}' is not a namespace: write its inode "
                        "number (ls -lL /proc/self/ns) or host_ns", value=True)
    items, base = eff["match_namespace_changes"]
    if len(items) > limits.MAX_NAMESPACE_CHANGES_FILTERS:
        f.error(base, f"{len(items)} filters; Tetragon takes a single matchNamespaceChanges "
                "filter per selector")
    lowered = {n.lower() for n in NAMESPACES}
    for i, nc in enumerate(items):
        for j, v in enumerate(nc.values):
            if v.lower() not in lowered:
                best = closest(v, NAMESPACES)
                hint = f"did you mean '{best}'?" if best else f"one of {one_of(NAMESPACES)}"
                f.error((*base, i, "values", j), f"'{v}' is not a namespace kind; {hint}",
                        value=True)
    for name in ("match_capabilities", "match_capability_changes"):
        items, base = eff[name]
        for i, cap in enumerate(items):
            check_capability_names(f, (*base, i, "values"), cap.values)
    for name, alias in (("match_binaries", "matchBinaries"),
                        ("match_parent_binaries", "matchParentBinaries")):
        items, base = eff[name]
        if len(items) > limits.MAX_BINARY_FILTERS:
            f.error(base, f"{len(items)} filters; Tetragon takes a single {alias} filter per "
                    "selector: put all the paths in one filter's values")
        _check_binaries(f, items, base)


def _check_action(f: Findings, a: ActionSelector, path: Path, hook: Hook,
                  spec: TracingPolicySpec) -> None:
    act = a.action
    given = a.model_fields_set
    if a.rate_limit:
        m = RATE_LIMIT.match(a.rate_limit)
        if act != "Post":
            f.error((*path, "rateLimit"), f"rateLimit works with the Post action only (this is "
                    f"{act})")
        elif m is None or parse_int(m.group(1), bits=32, signed=False, base=10) is None:
            f.error((*path, "rateLimit"), f"'{a.rate_limit}' is not a rate limit; write a "
                    "whole number of seconds, minutes or hours: 30, 30s, 5m, 1h", value=True)
        if a.rate_limit_scope and a.rate_limit_scope not in _SCOPES:
            best = closest(a.rate_limit_scope, _SCOPES)
            hint = f"did you mean '{best}'?" if best else f"one of {one_of(_SCOPES)}"
            f.error((*path, "rateLimitScope"), f"'{a.rate_limit_scope}' is not a rate limit "
                    f"scope; {hint}", value=True)
    elif a.rate_limit_scope:
        f.warn((*path, "rateLimitScope"), "has no effect without rateLimit")
    for flag, alias in (("kernel_stack_trace", "kernelStackTrace"),
                        ("user_stack_trace", "userStackTrace"), ("ima_hash", "imaHash")):
        if getattr(a, flag) and act != "Post":
            f.error((*path, alias), f"{alias} works with the Post action only (this is {act})")
    if act == "Signal":
        if "arg_sig" not in given:
            f.error(path, "Signal needs argSig, the signal to send: e.g. 'argSig: 9' (SIGKILL) "
                    "or 'argSig: 19' (SIGSTOP)")
        elif not 1 <= a.arg_sig <= limits.SIGNAL_MAX:
            f.error((*path, "argSig"), f"{a.arg_sig} is not a signal; Linux signals are 1 to "
                    f"{limits.SIGNAL_MAX}", value=True)
    elif act == "Override":
        if hook.kind == "uprobe":
            if "arg_error" not in given and not a.arg_regs:
                f.error(path, "Override on a uprobe needs argError (the return value) or "
                        "argRegs (registers to set)")
        elif "arg_error" not in given:
            f.error(path, "Override needs argError, the error the hooked function returns "
                    "instead: e.g. 'argError: -1' (EPERM)")
        if hook.kind == "tracepoint":
            f.warn((*path, "action"), "a tracepoint cannot change what the kernel does; "
                   "Override has no effect here (Sigkill or Signal can stop the process)")
    elif act == "GetUrl" and not a.arg_url:
        f.error(path, "GetUrl needs argUrl, the URL to fetch when the selector matches")
    elif act == "DnsLookup" and not a.arg_fqdn:
        f.error(path, "DnsLookup needs argFqdn, the name to look up when the selector matches")
    elif act in ("FollowFD", "UnfollowFD", "CopyFD"):
        f.warn((*path, "action"), f"{act} is deprecated in Tetragon (to be removed); the fd "
               "and file types give the file's path directly", value=True)
    elif act == "NotifyEnforcer" and not spec.enforcers:
        f.error((*path, "action"), "NotifyEnforcer needs an enforcer: add spec.enforcers "
                "with the calls to enforce on", value=True)
    elif act == "Set":
        if hook.kind != "usdt":
            f.warn((*path, "action"), "Set writes a USDT argument; it does nothing on a "
                   f"{hook.kind}", value=True)
        elif a.arg_index >= len(hook.args):
            f.error((*path, "argIndex"), f"{a.arg_index} is past the hook's args "
                    f"({len(hook.args)}); argIndex is a position in args, from 0", value=True)
    if hook.kind == "fentry" and act in _ENFORCING:
        f.error((*path, "action"), f"{act} enforces, and Tetragon does not enforce from "
                "fentries yet; use a kprobe for this hook", value=True)
    if hook.kind == "lsm" and act not in _LSM_ACTIONS:
        f.error((*path, "action"), f"{act} is not available on LSM hooks; they take "
                f"{one_of(sorted(_LSM_ACTIONS))}", value=True)
    if hook.kind == "lsm" and act == "Post" and (a.kernel_stack_trace or a.user_stack_trace):
        f.error(path, "LSM hooks do not take stack traces")


def _check_actions(f: Findings, eff: Effective, hook: Hook, spec: TracingPolicySpec) -> None:
    for name, alias in (("match_actions", "matchActions"),
                        ("match_return_actions", "matchReturnActions")):
        items, base = eff[name]
        if len(items) > limits.MAX_ACTIONS:
            f.error(base, f"{len(items)} actions; Tetragon runs at most {limits.MAX_ACTIONS} "
                    f"{alias} per selector: split them over selectors")
        for i, a in enumerate(items):
            _check_action(f, a, (*base, i), hook, spec)


def _check_return_use(f: Findings, eff: Effective, hook: Hook) -> None:
    for name, alias in (("match_return_args", "matchReturnArgs"),
                        ("match_return_actions", "matchReturnActions")):
        items, base = eff[name]
        if not items:
            continue
        if hook.kind == "lsm":
            f.error(base, f"LSM hooks have no {alias} (Tetragon: not supported)")
        elif hook.kind in ("tracepoint", "usdt"):
            f.warn(base, f"a {hook.kind} has no return value; {alias} is ignored")
        elif not hook.returns:
            f.warn(base, f"{alias} takes effect only with 'return: true' on the hook")


def check_selectors(hook: Hook, spec: TracingPolicySpec, f: Findings) -> None:
    path = (*hook.path, "selectors")
    if len(hook.selectors) > limits.MAX_SELECTORS:
        f.error(path, f"{len(hook.selectors)} selectors; Tetragon takes at most "
                f"{limits.MAX_SELECTORS} per hook (MaxSelectors): merge some, or split the "
                "hook into two entries")
    substrings = [0]
    for i, sel in enumerate(hook.selectors):
        eff = _merge_macros(sel, (*path, i), spec.selectors_macros, f)
        filters = len(eff["match_args"][0]) + len(eff["match_data"][0])
        if filters > limits.MAX_ARG_FILTERS:
            where = eff["match_args"][1] if eff["match_args"][0] else eff["match_data"][1]
            f.error(where, f"{filters} argument filters (matchArgs + matchData); Tetragon "
                    f"takes at most {limits.MAX_ARG_FILTERS} per selector")
        _check_filters(f, eff, hook, spec, substrings)
        _check_process_filters(f, eff)
        _check_actions(f, eff, hook, spec)
        _check_return_use(f, eff, hook)
