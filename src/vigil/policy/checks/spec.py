"""spec-wide parts: lists, options, enforcers and selector macros."""

from __future__ import annotations

from vigil.policy.checks.goparse import parse_bool
from vigil.policy.enums import OPTIONS, VIGIL_OPTIONS
from vigil.policy.findings import Findings
from vigil.policy.model import TracingPolicySpec
from vigil.policy.suggest import closest, one_of
from vigil.wire.records import CGROUP_SCOPES_MAX

__all__ = ["check_spec"]

_OVERRIDE_METHODS = ("fmod-ret", "override-return")
_MODES = ("enforce", "monitor")
# a syscall symbol with an architecture prefix (pkg/arch), as an enforcer call may name it
_ARCH_PREFIXES = ("__x64_sys_", "__ia32_sys_", "__arm64_sys_", "__ia32_compat_sys_",
                  "__x32_compat_sys_")


def _check_lists(spec: TracingPolicySpec, f: Findings) -> None:
    seen: dict[str, int] = {}
    for i, lst in enumerate(spec.lists):
        path = ("spec", "lists", i)
        if lst.name in seen:
            f.warn((*path, "name"), f"list '{lst.name}' is already defined at "
                   f"spec.lists[{seen[lst.name]}]; Tetragon uses the first", value=True)
        seen.setdefault(lst.name, i)
        if lst.type in ("generated_syscalls", "generated_ftrace") and lst.values:
            f.error((*path, "values"), f"a {lst.type} list is generated; remove its values "
                    "(or drop the type to list them yourself)")
        if lst.type == "generated_ftrace" and not lst.pattern:
            f.error((*path, "pattern"), "a generated_ftrace list needs pattern, a regular "
                    "expression over the kernel's functions, e.g. '^ksys_*'")
        elif lst.pattern is not None and lst.type != "generated_ftrace":
            f.warn((*path, "pattern"), "only generated_ftrace lists use pattern; it is ignored")


_CGROUP_EXAMPLE = "e.g. /system.slice/docker-<id>.scope"


def _cgroup_path_problem(value: str) -> str | None:
    """What is wrong with a cgroup-path option's value, or None."""
    where = ("from the cgroup v2 hierarchy's root, as /proc/<pid>/cgroup shows it after "
             f"'0::' ({_CGROUP_EXAMPLE})")
    if value.startswith("/sys/fs/cgroup"):
        return f"'{value}' is a path of the mount; name the cgroup {where}"
    if not value.startswith("/"):
        return f"'{value}' is not a cgroup path; write it {where}"
    if "\0" in value or any(part in (".", "..") for part in value.split("/")):
        return f"'{value}' has a '.' or '..' component; write the cgroup's own path {where}"
    return None


def _check_cgroup_paths(spec: TracingPolicySpec, f: Findings) -> None:
    count = 0
    for i, opt in enumerate(spec.options):
        if opt.name != "cgroup-path":
            continue
        count += 1
        path = ("spec", "options", i, "value")
        problem = _cgroup_path_problem(opt.value)
        if problem:
            f.error(path, problem, value=True)
        elif count > CGROUP_SCOPES_MAX:
            f.error(path, f"cgroup-path {count}: a policy is scoped to at most "
                    f"{CGROUP_SCOPES_MAX} cgroup subtrees; scope it to a common parent",
                    value=True)


def _check_options(spec: TracingPolicySpec, f: Findings) -> None:
    _check_cgroup_paths(spec, f)
    for i, opt in enumerate(spec.options):
        path = ("spec", "options", i)
        if opt.name in VIGIL_OPTIONS:
            continue
        if opt.name not in OPTIONS:
            best = closest(opt.name, (*OPTIONS, *VIGIL_OPTIONS))
            hint = f"did you mean '{best}'?" if best else f"known options: {one_of(OPTIONS)}"
            f.warn((*path, "name"), f"Tetragon ignores option '{opt.name}'; {hint}", value=True)
            continue
        if opt.name.startswith("disable-") and parse_bool(opt.value) is None:
            f.error((*path, "value"), f"'{opt.value}' is not a boolean; write \"true\" or "
                    "\"false\"", value=True)
        allowed = {"override-method": _OVERRIDE_METHODS, "policy-mode": _MODES}.get(opt.name)
        if allowed and opt.value not in allowed:
            f.error((*path, "value"), f"'{opt.value}' is not a valid {opt.name}; expected "
                    f"{one_of(allowed)}", value=True)


def _check_enforcers(spec: TracingPolicySpec, f: Findings) -> None:
    if len(spec.enforcers) > 1:
        f.error(("spec", "enforcers"), f"{len(spec.enforcers)} enforcers; Tetragon takes one "
                "enforcer per policy: put all the calls in it")
    lists = {lst.name: lst for lst in spec.lists}
    for i, enf in enumerate(spec.enforcers):
        for j, call in enumerate(enf.calls):
            path = ("spec", "enforcers", i, "calls", j)
            if call.startswith("list:"):
                if call[len("list:"):] not in lists:
                    f.error(path, f"list '{call[len('list:'):]}' is not defined in "
                            "spec.lists", value=True)
            elif not call.startswith(("sys_", "security_", *_ARCH_PREFIXES)):
                f.error(path, f"'{call}' is neither a syscall (sys_...) nor a security_ "
                        "function; an enforcer acts on those only", value=True)


def _check_macros(spec: TracingPolicySpec, f: Findings, used: set[str]) -> None:
    for name, macro in spec.selectors_macros.items():
        if macro.macros:
            f.error(("spec", "selectorsMacros", name, "macros"), "a macro cannot use other "
                    "macros; copy their filters in")
        if name not in used:
            f.warn(("spec", "selectorsMacros", name), f"macro '{name}' is not used by any "
                   "selector")


def check_spec(spec: TracingPolicySpec, f: Findings, used_macros: set[str]) -> None:
    _check_lists(spec, f)
    _check_options(spec, f)
    _check_enforcers(spec, f)
    _check_macros(spec, f, used_macros)
