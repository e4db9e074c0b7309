"""A validated policy's spec.kprobes -> hook plans, on the rung of the hook
ladder (sensors/hook_ladder.py) that this kernel offers.

Today's only rung that runs is the syscall fallback: a kprobe on a syscall
(`syscall: true`, Tetragon's default) hooks syscalls/sys_enter_NAME, whose
fields after __syscall_nr are the syscall's arguments in order, so kprobe
argument i is field i of the call, read as the policy types it. `return:
true` adds syscalls/sys_exit_NAME, whose `ret` is the returnArg. The events
are the kprobe's: process_kprobe named by the function with the
architecture's prefix (__x64_sys_openat), as Tetragon's pkg/arch adds it.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass, replace

from vigil.kernel.tracefs_format import (
    TracepointFormat,
    UnknownTracepointError,
    read_format,
    tracepoint_dir,
)
from vigil.kernel.tracepoint_args import field_read, resolve_arg
from vigil.policy import Issue, LoadedPolicy, PolicyError
from vigil.policy.model.hooks import KProbeSpec
from vigil.sensors.hook_ladder import (
    KPROBE_LADDER,
    HookUnavailable,
    RungChoice,
    choose_rung,
)
from vigil.sensors.lists import ListError
from vigil.sensors.plan import (
    ArgPlan,
    CallView,
    ProgramChoice,
    ReturnPlan,
    TracepointHookPlan,
)
from vigil.sensors.tracepoint_compile import (
    INT_TYPES,
    TETRAGON_INT_NAMES,
    Lists,
    arg_plan,
    selector_plans,
)
from vigil.wire.records import GENERIC_ARGS_MAX, ArgKind

__all__ = ["SYSCALL_PREFIXES", "compile_kprobes", "syscall_function"]

# Tetragon's pkg/arch: the prefix of a syscall's function, by machine.
SYSCALL_PREFIXES = {"x86_64": "__x64_", "aarch64": "__arm64_"}
_ALL_PREFIXES = ("__x64_", "__arm64_", "__ia32_")
# The kprobe argument types the syscall fallback reads (Tetragon's names).
_FALLBACK_TYPES = frozenset({*INT_TYPES, "string", "char_buf"})
# Syscalls that never return: a `return: true` on them would wait forever.
_NO_RETURN = frozenset({"exit", "exit_group"})

Path = tuple[str | int, ...]
Feature = Callable[[str], tuple[bool, str]]


def syscall_function(call: str, machine: str | None = None) -> tuple[str, str]:
    """A syscall kprobe's `call` -> (function with the machine's prefix,
    syscall name): sys_openat and __x64_sys_openat both give
    ("__x64_sys_openat", "openat") on x86-64. ValueError says what is wrong."""
    machine = machine or platform.machine()
    prefix = SYSCALL_PREFIXES.get(machine)
    if prefix is None:
        raise ValueError(f"syscall kprobes are not supported on {machine}; vigil knows "
                         f"{', '.join(SYSCALL_PREFIXES)}")
    rest = call
    for p in _ALL_PREFIXES:
        if call.startswith(p):
            if p != prefix:
                raise ValueError(f"'{call}' has the prefix {p}, but this machine's syscalls "
                                 f"are {prefix}sys_*; write sys_{call.split('sys_', 1)[-1]}")
            rest = call[len(p):]
            break
    if not rest.startswith("sys_") or len(rest) == len("sys_"):
        raise ValueError(f"'{call}' is not a syscall's function; a kprobe with syscall: true "
                         "names one as sys_NAME (sys_openat) or with the machine's prefix "
                         f"({prefix}sys_openat)")
    return prefix + rest, rest[len("sys_"):]


def _probe_feature(name: str) -> tuple[bool, str]:
    from vigil.kernel.probe import probe_feature

    f = probe_feature(name)
    return f.available, f.reason


@dataclass
class _Features:
    """The kernel features the ladder asks about, each probed once."""

    probe: Feature
    seen: dict[str, tuple[bool, str]]

    def __call__(self, name: str) -> tuple[bool, str]:
        if name not in self.seen:
            self.seen[name] = self.probe(name)
        return self.seen[name]


def _calls(loaded: LoadedPolicy, kp: KProbeSpec, at: Path) -> list[str]:
    """The functions a kprobe's `call` names: itself, or a list's values."""
    if not kp.call.startswith("list:"):
        return [kp.call]
    name = kp.call[len("list:"):]
    lst = next((x for x in loaded.policy.spec.lists if x.name == name), None)
    if lst is None:
        raise ListError((*at, "call"), f"list '{name}' is not defined in spec.lists")
    kind = (lst.type or "").lower()
    if kind == "syscalls":
        return [v if v.startswith(("sys_", *_ALL_PREFIXES)) else f"sys_{v}" for v in lst.values]
    if kind == "generated_syscalls":
        from vigil.sensors.lists import kernel_functions, syscall_function_names

        # Only those with a syscall tracepoint: the others are stubs of
        # syscalls this kernel was built without (COND_SYSCALL: ENOSYS) or
        # second names of one that has its own (__x64_sys_stat beside
        # sys_enter_newstat), which the fallback has no tracepoint for.
        return sorted(f for f in kernel_functions(syscall_function_names(None))
                      if (tracepoint_dir("syscalls", "sys_enter_" + f.split("sys_", 1)[1])
                          / "format").exists())
    raise ListError((*at, "call"), f"list '{name}' has type {lst.type or 'none'}; a kprobe "
                    "call takes lists of type syscalls or generated_syscalls here (lists of "
                    "kernel functions need the kprobe sensor, issue 9)")


class _KprobePlanner:
    def __init__(self, loaded: LoadedPolicy, feature: Feature, forced: str | None) -> None:
        self.loaded = loaded
        self.feature = feature
        self.forced = forced
        self.lists = Lists(loaded)
        self.issues: list[Issue] = []

    def issue(self, at: Path, message: str, value: bool = True) -> None:
        self.issues.append(self.loaded.issue(at, message, value=value))

    def plan(self, i: int, kp: KProbeSpec) -> list[TracepointHookPlan]:
        at: Path = ("spec", "kprobes", i)
        try:
            calls = _calls(self.loaded, kp, at)
        except ListError as err:
            self.issue(err.path, err.message)
            return []
        try:
            choice = choose_rung(KPROBE_LADDER, syscall=kp.syscall, returns=kp.return_,
                                 feature=self.feature, forced=self.forced)
        except HookUnavailable as err:
            self.issue((*at, "call"), f"kprobe on {kp.call}: {err}")
            return []
        plans = []
        for call in calls:
            plan = self._syscall_plan(at, kp, call, choice)
            if plan is not None:
                plans.append(plan)
        return plans

    def _syscall_plan(self, at: Path, kp: KProbeSpec, call: str,
                      choice: RungChoice) -> TracepointHookPlan | None:
        try:
            function, name = syscall_function(call)
        except ValueError as err:
            self.issue((*at, "call"), str(err))
            return None
        try:
            fmt = read_format("syscalls", f"sys_enter_{name}")
        except (UnknownTracepointError, PermissionError, ValueError) as err:
            if kp.ignore is not None and kp.ignore.call_not_found:
                return None  # as Tetragon's ignore.callNotFound: skipped, not an error
            self.issue((*at, "call"), f"syscall {name} ({call}) cannot be hooked on this "
                       f"kernel: {err}")
            return None
        args = self._args(at, kp, fmt, name)
        if args is None:
            return None
        returns = self._returns(at, kp, name, args)
        if kp.return_ and returns is None:
            return None
        try:
            selectors = selector_plans(kp, args, at, self.lists, positional=False)
        except ListError as err:
            self.issue(err.path, err.message)
            return None
        try:
            return TracepointHookPlan(
                policy_name=self.loaded.name, subsys="syscalls", event=f"sys_enter_{name}",
                args=tuple(args), message=kp.message, tags=tuple(kp.tags),
                selectors=selectors, program=ProgramChoice("tracepoint", choice.reason),
                layout_source=str(tracepoint_dir("syscalls", f"sys_enter_{name}") / "format"),
                call=CallView(function, returns))
        except ValueError as err:
            self.issue((*at, "selectors"), str(err), value=False)
            return None

    def _args(self, at: Path, kp: KProbeSpec, fmt: TracepointFormat,
              name: str) -> list[ArgPlan] | None:
        names = [f.name for f in fmt.fields]
        base = names.index("__syscall_nr") + 1 if "__syscall_nr" in names else len(names)
        nparams = len(names) - base
        args: list[ArgPlan] = []
        ok = True
        for j, arg in enumerate(kp.args):
            where = (*at, "args", j)
            if arg.index >= GENERIC_ARGS_MAX:
                self.issue((*where, "index"), f"index {arg.index}: a kprobe reads arguments "
                           f"0 to {GENERIC_ARGS_MAX - 1} (as Tetragon's)")
                ok = False
                continue
            if arg.index >= nparams:
                self.issue((*where, "index"), f"index {arg.index}: {name} takes {nparams} "
                           f"argument{'s' if nparams != 1 else ''} "
                           f"({', '.join(names[base:]) or 'none'})")
                ok = False
                continue
            if arg.type not in _FALLBACK_TYPES:
                self.issue((*where, "type"), f"type {arg.type} is not read by the syscall "
                           f"fallback; it reads {', '.join(sorted(_FALLBACK_TYPES))}")
                ok = False
                continue
            size_index = 0
            if arg.size_arg_index:
                if arg.size_arg_index > nparams:
                    self.issue((*where, "sizeArgIndex"),
                               f"sizeArgIndex {arg.size_arg_index} is past {name}'s "
                               f"{nparams} arguments (it counts them from 1)")
                    ok = False
                    continue
                # a 1-based argument number -> the 1-based field number
                size_index = base + arg.size_arg_index
            try:
                resolved = resolve_arg(fmt, base + arg.index, arg.type,
                                       size_arg_index=size_index)
                plan = arg_plan(resolved, arg.label, fmt)
            except ValueError as err:
                self.issue((*where, "type"), str(err))
                ok = False
                continue
            args.append(replace(plan, index=arg.index))
        return args if ok else None

    def _returns(self, at: Path, kp: KProbeSpec, name: str,
                 args: list[ArgPlan]) -> ReturnPlan | None:
        copies = [j for j, a in enumerate(kp.args) if a.return_copy]
        if not kp.return_:
            if copies:
                self.issue((*at, "args", copies[0], "returnCopy"),
                           "returnCopy reads the buffer when the call returns; set return: "
                           "true (and a returnArg) on this kprobe")
            return None
        if name in _NO_RETURN:
            self.issue((*at, "return"), f"{name} never returns; remove return: true")
            return None
        if kp.return_arg is None:
            self.issue((*at, "return"), "return: true needs a returnArg (its type, e.g. int), "
                       "as Tetragon requires", value=False)
            return None
        ra = kp.return_arg
        if ra.type not in INT_TYPES:
            self.issue((*at, "returnArg", "type"), f"returnArg type {ra.type}: the syscall "
                       "fallback returns integers (int, long, size_t, ...)")
            return None
        if len(copies) > 1:
            self.issue((*at, "args", copies[1], "returnCopy"),
                       "one argument per kprobe can be read again at return")
            return None
        copy = None
        if copies:
            copy = copies[0]
            if args[copy].kind is not ArgKind.CHAR_BUF:
                self.issue((*at, "args", copy, "returnCopy"),
                           f"returnCopy reads a char_buf at return; this argument is "
                           f"{args[copy].tetragon_type}")
                return None
        try:
            fmt = read_format("syscalls", f"sys_exit_{name}")
            ret = next(f for f in fmt.fields if f.name == "ret")
        except (UnknownTracepointError, PermissionError, ValueError, StopIteration) as err:
            self.issue((*at, "return"), f"the return of {name} cannot be read: "
                       f"{err or 'its sys_exit tracepoint has no ret field'}")
            return None
        width, signed = INT_TYPES[ra.type]
        read = field_read(ret)
        value = ArgPlan(0, ArgKind.INT, read.offset, min(width, read.size),
                        TETRAGON_INT_NAMES.get(ra.type, ra.type), signed, ra.label,
                        field="ret", c_type=ret.type_text, field_size=ret.size)
        return ReturnPlan("syscalls", f"sys_exit_{name}", value, copy)


def compile_kprobes(loaded: LoadedPolicy, *, forced: str | None = None,
                    feature: Feature | None = None) -> list[TracepointHookPlan]:
    """Every kprobe hook of a policy, planned on this kernel's rung; raises
    PolicyError with all problems at once. `forced` names the rung to take
    (--hook-rung); `feature` answers for kernel features (the probe's)."""
    planner = _KprobePlanner(loaded, _Features(feature or _probe_feature, {}), forced)
    plans: list[TracepointHookPlan] = []
    for i, kp in enumerate(loaded.policy.spec.kprobes):
        plans += planner.plan(i, kp)
    if planner.issues:
        raise PolicyError(planner.issues)
    return plans
