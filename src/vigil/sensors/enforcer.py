"""A policy's enforcer (spec.enforcers): bpf/generic/enforcer.bpf.o on each
function it names, acting on the policy's NotifyEnforcer notes.

How it changes a return is chosen as Tetragon's enforcer chooses
(pkg/sensors/tracing/enforcer.go): a security_* hook takes fmod_ret (a
kprobe's bpf_override_return is never allowed there); otherwise
bpf_override_return where the kernel has it, else fmod_ret; the policy's
override-method option forces one. fmod_ret on a syscall needs the kernel to
list it for error injection: a kernel that does not refuses it at load,
and the error says so (EnforcerRefused)."""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vigil.bpf_objects import object_path
from vigil.libbpf import Link, Object, Program, open_object
from vigil.libbpf.errors import BpfError, LoadError
from vigil.policy import LoadedPolicy, PolicyError
from vigil.sensors.base import RecordDecoder, Sensor, SharedMaps
from vigil.sensors.kprobe_compile import syscall_function
from vigil.sensors.policy_maps import PolicyMaps

__all__ = ["OBJECT", "EnforcerPlan", "EnforcerRefused", "EnforcerSensor", "compile_enforcer"]

OBJECT = "generic/enforcer.bpf.o"
# The two ways, by the override-method option's names -> the entry point.
PROGRAMS = {"fmod-ret": "vigil_enforcer_fmod_ret", "override-return": "vigil_enforcer_kprobe"}
# 32-bit syscalls on a 64-bit kernel, which an enforcer may name as they are
# (killer.yaml's __ia32_sys_dup): the machine's compat prefix.
_COMPAT_PREFIXES = {"x86_64": "__ia32_"}
NOTES = "vigil_enforcer_notes"

Feature = Callable[[str], tuple[bool, str]]


@dataclass(frozen=True, slots=True)
class EnforcerPlan:
    """The enforcer of one policy: the functions it attaches to, how it
    changes what they return, and why that way."""

    policy_name: str
    functions: tuple[str, ...]
    method: str  # "fmod-ret" or "override-return"
    why: str


class EnforcerRefused(BpfError):
    """The kernel would not let the enforcer change what a function returns."""

    def __init__(self, policy: str, function: str, method: str, err: LoadError) -> None:
        self.function = function
        self.errno = err.errno
        why = next((line.strip() for line in err.verifier_log.splitlines()
                    if "is not modifiable" in line), str(err))
        super().__init__(
            f"policy {policy}: its enforcer cannot make {function} return an error on this "
            f"kernel ({method}; {why}). fmod_ret works on security_* hooks, and on syscalls "
            "only in a kernel built with CONFIG_FUNCTION_ERROR_INJECTION (they are then in "
            "/sys/kernel/debug/error_injection/list); bpf_override_return needs "
            "CONFIG_BPF_KPROBE_OVERRIDE. Enforce on a security_* hook the call passes "
            "through instead (security_file_open, security_file_permission, ...), or run "
            "a kernel built with those")


def _probe_feature(name: str) -> tuple[bool, str]:
    from vigil.kernel.probe import probe_feature

    f = probe_feature(name)
    return f.available, f.reason


def _function(call: str, machine: str) -> str:
    """An enforcer's call -> the kernel function (ValueError says why not)."""
    if call.startswith("security_"):
        return call
    compat = _COMPAT_PREFIXES.get(machine)
    if compat and call.startswith(compat + "sys_"):
        return call
    return syscall_function(call, machine)[0]


def _calls(loaded: LoadedPolicy, calls: list[str]) -> list[tuple[int, str]]:
    """(position in calls, function name) of each call, lists expanded."""
    out: list[tuple[int, str]] = []
    lists = {lst.name: lst for lst in loaded.policy.spec.lists}
    for j, call in enumerate(calls):
        if call.startswith("list:"):
            out += [(j, v if v.startswith(("sys_", "security_", "__")) else f"sys_{v}")
                    for v in lists[call[len("list:"):]].values]
        else:
            out.append((j, call))
    return out


def compile_enforcer(loaded: LoadedPolicy, *, feature: Feature | None = None,
                     machine: str | None = None) -> EnforcerPlan | None:
    """The policy's enforcer planned for this kernel, or None if it has none;
    PolicyError says what cannot be."""
    spec = loaded.policy.spec
    if not spec.enforcers:
        return None
    probe = feature or _probe_feature
    machine = machine or platform.machine()
    at = ("spec", "enforcers", 0, "calls")
    issues = []
    functions: list[str] = []
    for j, call in _calls(loaded, spec.enforcers[0].calls):
        try:
            functions.append(_function(call, machine))
        except ValueError as err:
            issues.append(loaded.issue((*at, j), str(err), value=True))
    if issues:
        raise PolicyError(issues)
    functions = list(dict.fromkeys(functions))
    options = {o.name: o.value for o in spec.options}
    asked = options.get("override-method", "")
    security = [f for f in functions if f.startswith("security_")]
    where = ("spec", "options", next((i for i, o in enumerate(spec.options)
                                      if o.name == "override-method"), 0), "value")
    if security and asked == "override-return":
        raise PolicyError([loaded.issue(where, f"override-return cannot change what "
                                        f"{security[0]} returns (the kernel allows "
                                        "bpf_override_return on no security_* hook); "
                                        "use fmod-ret", value=True)])
    if asked:
        feature_name = "override_return" if asked == "override-return" else "fmod_ret"
        ok, reason = probe(feature_name)
        if not ok:
            raise PolicyError([loaded.issue(where, f"override-method {asked}: this kernel "
                                            f"cannot ({reason})", value=True)])
        return EnforcerPlan(loaded.name, tuple(functions), asked,
                            "the policy's override-method option")
    if security:
        ok, reason = probe("fmod_ret")
        if not ok:
            raise PolicyError([loaded.issue(("spec", "enforcers", 0), f"the enforcer's "
                                            f"{security[0]} needs fmod_ret, which this "
                                            f"kernel cannot run: {reason}")])
        return EnforcerPlan(loaded.name, tuple(functions), "fmod-ret",
                            f"{security[0]} is a security hook: only fmod_ret can change "
                            "what it returns")
    has_override, why_not = probe("override_return")
    if has_override:
        return EnforcerPlan(loaded.name, tuple(functions), "override-return",
                            "the kernel has bpf_override_return")
    ok, reason = probe("fmod_ret")
    if not ok:
        raise PolicyError([loaded.issue(("spec", "enforcers", 0), "the enforcer cannot run "
                                        f"here: no bpf_override_return ({why_not}) and no "
                                        f"fmod_ret ({reason})")])
    return EnforcerPlan(loaded.name, tuple(functions), "fmod-ret",
                        f"no bpf_override_return ({why_not}); fmod_ret instead")


class EnforcerSensor(Sensor):
    """One policy's enforcer: an object per function (an fmod_ret program
    has one target), all on the policy's notes map."""

    def __init__(self, plan: EnforcerPlan, policy_maps: PolicyMaps) -> None:
        self.plan = plan
        self.policy_maps = policy_maps
        self.name = f"{plan.policy_name}/enforcer"
        self._objs: list[Object] = []
        self._links: list[Link] = []

    def record_kinds(self) -> Mapping[int, RecordDecoder]:
        return {}  # it sends no records: the notifying hook's event names the action

    @property
    def programs(self) -> Mapping[str, Program]:
        return {f: obj.programs[PROGRAMS[self.plan.method]]
                for f, obj in zip(self.plan.functions, self._objs, strict=False)}

    def start(self, shared: SharedMaps | None) -> None:
        if shared is None:
            raise ValueError("an enforcer runs on the runtime's shared maps")
        program = PROGRAMS[self.plan.method]
        try:
            for function in self.plan.functions:
                with open_object(object_path(OBJECT)) as spec:
                    shared.reuse_in(spec)
                    self.policy_maps.bind(spec, [NOTES])
                    for name, entry in spec.programs.items():
                        entry.autoload = name == program
                    if self.plan.method == "fmod-ret":
                        spec.programs[program].set_attach_target(function)
                    try:
                        obj = spec.load()
                    except LoadError as err:
                        if "is not modifiable" in err.verifier_log:
                            raise EnforcerRefused(self.plan.policy_name, function,
                                                  self.plan.method, err) from err
                        raise
                self._objs.append(obj)
                self.policy_maps.keep(obj, [NOTES])
                prog = obj.programs[program]
                self._links.append(prog.attach_kprobe(function)
                                   if self.plan.method == "override-return" else prog.attach())
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for link in self._links:
            link.close()
        self._links.clear()
        for obj in self._objs:
            obj.close()
        self._objs.clear()
