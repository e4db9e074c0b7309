"""Policies -> what each of their hooks becomes on the running kernel.

For every policy of every file: its hooks planned as `vigil run` plans them
(sensors/tracepoint_compile.py), then each hook's object loaded on the shared
maps exactly as the runtime loads it, but never attached, so the kernel is
asked what it costs (explain/memory.py) and nothing is traced. The selectors
shown are read back from the loaded hook's vigil_selectors map and decoded:
what the kernel will evaluate, not what the YAML says.

The shared maps (exec map, ring buffer, stats) belong to the base process
sensor, created once whatever the number of policies; they are counted apart
from what each policy adds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from vigil.libbpf import possible_cpus
from vigil.policy import LoadedPolicy, PolicyError, check_file
from vigil.sensors.base import SHARED_MAPS, SharedMaps
from vigil.sensors.compile import compile_policy
from vigil.sensors.enforcer import EnforcerPlan, compile_enforcer
from vigil.sensors.generic_tracepoint import TracepointSensor
from vigil.sensors.plan import FUNCTION_PROGRAMS, TracepointHookPlan
from vigil.sensors.process import ProcessSensor
from vigil.sensors.selectors_decode import DecodedSelectors, decode_selectors

from .memory import MapCost, ProgramCost, map_costs, program_costs

__all__ = ["BUDGET", "Explanation", "HookExplanation", "PolicyExplanation", "SharedCost",
           "explain", "hot_path"]

# DESIGN §5: a typical policy should cost the kernel less than this.
BUDGET = 256 << 10

# Tracepoints whose mere enabling slows every syscall on the host: the first
# syscall tracepoint registered sets SYSCALL_WORK_SYSCALL_TRACEPOINT on every
# task (kernel/tracepoint.c syscall_regfunc), so each syscall of each process
# takes the tracing slow path on entry and exit, whichever one the hook wants.
_HOT_SUBSYSTEMS = frozenset({"syscalls", "raw_syscalls"})


def hot_path(plan: TracepointHookPlan) -> str | None:
    """Why the hook is on a hot path, or None."""
    if plan.subsys not in _HOT_SUBSYSTEMS:
        return None
    return (f"{plan.subsys}/{plan.event} is a syscall tracepoint: while it is attached every "
            "syscall of every process on the host, not only this one, goes through the "
            "tracing slow path (a filtered sys_enter_getppid hook measured 120-330 ns per call)")


@dataclass(frozen=True, slots=True)
class HookExplanation:
    hook_id: int
    plan: TracepointHookPlan
    selectors: DecodedSelectors  # read back from the loaded hook's map
    maps: tuple[MapCost, ...]  # the hook's own maps; the shared ones are counted apart
    programs: tuple[ProgramCost, ...]

    @property
    def kind(self) -> str:
        """The policy section the hook came from."""
        call = self.plan.call
        if call is None:
            return "tracepoint"
        return "kprobe" if call.user is None else "uprobe"

    @property
    def target(self) -> str:
        """What the policy named, and where it runs when that differs."""
        where = f"{self.plan.subsys}/{self.plan.event}"
        call = self.plan.call
        if call is None:
            return where
        if call.user is not None:
            user = call.user
            place = user.symbol or f"offset {user.offset:#x}"
            ref = f", semaphore at {user.ref_ctr_offset:#x}" if user.ref_ctr_offset else ""
            ret = " + uretprobe" if call.returns else ""
            return f"{user.path} {place} (uprobe{ret}{ref})"
        kind = self.plan.program.kind
        if kind in FUNCTION_PROGRAMS:
            ret = {"kprobe": "kretprobe", "kprobe_multi": "kretprobe_multi", "fentry": "fexit",
                   "fmod_ret": "fexit"}[kind]
            names = ", ".join(call.functions) if call.functions else call.function_name
            return f"{names} ({kind}{f' + {ret}' if call.returns else ''})"
        if call.returns is not None:
            where += f" + {call.returns.subsys}/{call.returns.event}"
        return f"{call.function_name} (on {where})"

    @property
    def hot_path(self) -> str | None:
        return hot_path(self.plan)

    @property
    def memlock(self) -> int:
        return sum(m.memlock for m in self.maps) + sum(p.memlock for p in self.programs)


@dataclass(frozen=True, slots=True)
class PolicyExplanation:
    file: str
    name: str
    hooks: tuple[HookExplanation, ...]
    # its enforcer as planned (how it changes returns, and why); not loaded:
    # where the kernel refuses it on a function, `vigil run` says so
    enforcer: EnforcerPlan | None = None

    @property
    def memlock(self) -> int:
        return sum(h.memlock for h in self.hooks)

    @property
    def cgroup_paths(self) -> tuple[str, ...]:
        """The cgroup subtrees the policy is scoped to (its hooks share them)."""
        return self.hooks[0].plan.cgroup_paths if self.hooks else ()

    @property
    def hot_paths(self) -> tuple[HookExplanation, ...]:
        return tuple(h for h in self.hooks if h.hot_path)


@dataclass(frozen=True, slots=True)
class SharedCost:
    """The base sensor's maps every hook reuses, at the sizes `vigil run` gives them."""

    maps: tuple[MapCost, ...]

    @property
    def memlock(self) -> int:
        return sum(m.memlock for m in self.maps)


@dataclass(slots=True)
class Explanation:
    cpus: int  # possible CPUs: each per-CPU map holds one value per CPU
    shared: SharedCost | None = None  # None when no hook was loaded
    policies: list[PolicyExplanation] = field(default_factory=list)
    # Every issue as `vigil policy validate` prints it (FILE:LINE:COL: ...),
    # and "FILE: cannot read: why", in the order of the files.
    issues: list[str] = field(default_factory=list)
    failed: bool = False  # an error, an unsupported field or an unreadable file

    @property
    def memlock(self) -> int:
        """Everything: the shared maps once, and every policy."""
        shared = self.shared.memlock if self.shared else 0
        return shared + sum(p.memlock for p in self.policies)


def _plan_files(files: Sequence[str], out: Explanation, hook_rung: str | None = None
                ) -> list[tuple[LoadedPolicy, list[TracepointHookPlan], EnforcerPlan | None]]:
    planned = []
    for name in files:
        try:
            report = check_file(name)
        except OSError as err:
            out.issues.append(f"{name}: cannot read: {err.strerror or err}")
            out.failed = True
            continue
        out.issues += map(str, report.issues)
        if report.blocking():
            out.failed = True
            continue
        for loaded in report.policies:
            try:
                planned.append((loaded, compile_policy(loaded, hook_rung=hook_rung),
                                compile_enforcer(loaded)))
            except PolicyError as err:
                out.issues += map(str, err.issues)
                out.failed = True
    return planned


def _explain_hook(hook_id: int, plan: TracepointHookPlan, shared: SharedMaps) -> HookExplanation:
    # Placeholder match bits: the hook is loaded to be measured, never attached.
    sensor = TracepointSensor(plan, hook_id, range(len(plan.match_wants())))
    try:
        sensor.load(shared)
        obj = sensor.obj
        value = obj.maps["vigil_selectors"].lookup(bytes(4))
        return HookExplanation(
            hook_id, plan, decode_selectors(
                value, plan.args, values=plan.selector_values(),
                strings=plan.selector_strings(), ret=plan.call.returns.value
                if plan.call is not None and plan.call.returns is not None else None),
            tuple(map_costs(obj, skip=frozenset(SHARED_MAPS))), tuple(program_costs(obj)))
    finally:
        sensor.close()


def explain(files: Sequence[str], *, ringbuf_bytes: int = 8 << 20,
            exec_map_entries: int = 32768, hook_rung: str | None = None) -> Explanation:
    """Plan, load (never attach) and measure every hook of every policy of
    `files`. Problems in a file are its issues; files without any are explained.
    Needs root (it loads BPF objects): the caller runs the preflight first."""
    out = Explanation(cpus=possible_cpus())
    planned = _plan_files(files, out, hook_rung)
    if not any(plans for _, plans, _ in planned):
        out.policies = [PolicyExplanation(p.file, p.name, (), enf) for p, _, enf in planned]
        return out
    base = ProcessSensor(ringbuf_bytes=ringbuf_bytes, exec_map_entries=exec_map_entries)
    try:
        base.load()
        out.shared = SharedCost(tuple(MapCost.of(base.obj.maps[n]) for n in SHARED_MAPS))
        shared = base.shared_maps()
        hook_id = 1
        for loaded, plans, enforcer in planned:
            hooks = []
            for plan in plans:
                hooks.append(_explain_hook(hook_id, plan, shared))
                hook_id += 1
            out.policies.append(PolicyExplanation(loaded.file, loaded.name, tuple(hooks),
                                                  enforcer))
    finally:
        base.close()
    return out
