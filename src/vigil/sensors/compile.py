"""A validated policy -> the plans of all its hooks, whatever their kind;
PolicyError with the problems of every kind at once."""

from __future__ import annotations

from vigil.policy import Issue, LoadedPolicy, PolicyError
from vigil.sensors.kprobe_compile import compile_kprobes
from vigil.sensors.plan import TracepointHookPlan
from vigil.sensors.tracepoint_compile import compile_tracepoints

__all__ = ["compile_policy"]


def compile_policy(loaded: LoadedPolicy, *, hook_rung: str | None = None
                   ) -> list[TracepointHookPlan]:
    """Its tracepoints, then its kprobes. `hook_rung` forces the rung of the
    hook ladder its kprobes take (sensors/hook_ladder.py)."""
    plans: list[TracepointHookPlan] = []
    issues: list[Issue] = []
    for compile_kind in (compile_tracepoints,
                         lambda p: compile_kprobes(p, forced=hook_rung)):
        try:
            plans += compile_kind(loaded)
        except PolicyError as err:
            issues += err.issues
    if issues:
        raise PolicyError(issues)
    return plans
