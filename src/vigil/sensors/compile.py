"""A validated policy -> the plans of all its hooks, whatever their kind;
PolicyError with the problems of every kind at once."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

from vigil.kernel.mounts import cgroup2_mount
from vigil.policy import Issue, LoadedPolicy, PolicyError
from vigil.sensors.kprobe_compile import compile_kprobes
from vigil.sensors.plan import TracepointHookPlan
from vigil.sensors.tracepoint_compile import compile_tracepoints
from vigil.sensors.uprobe_compile import compile_uprobes

__all__ = ["OVERRIDE_METHODS", "cgroup_scopes", "compile_policy"]

# spec.options override-method -> the rung of the hook ladder that does it
OVERRIDE_METHODS = {"fmod-ret": "fentry", "override-return": "kprobe"}
# What Go's strconv.ParseBool takes as true (Tetragon parses the option so).
_TRUE = frozenset({"1", "t", "true"})


def compile_policy(loaded: LoadedPolicy, *, hook_rung: str | None = None
                   ) -> list[TracepointHookPlan]:
    """Its tracepoints, then its kprobes, then its uprobes. `hook_rung` forces the rung of the
    hook ladder its kprobes take (sensors/hook_ladder.py); so does the
    policy's override-method option for its kprobes with an Override
    (fmod-ret: fentry's fmod_ret, override-return: a kprobe's
    bpf_override_return), the command line's rung first."""
    options = {o.name: o.value for o in loaded.policy.spec.options}
    override_rung = OVERRIDE_METHODS.get(options.get("override-method", ""))
    plans: list[TracepointHookPlan] = []
    issues: list[Issue] = []
    no_multi = options.get("disable-kprobe-multi", "").lower() in _TRUE
    for compile_kind in (compile_tracepoints,
                         lambda p: compile_kprobes(p, forced=hook_rung,
                                                   override_rung=override_rung,
                                                   no_multi=no_multi),
                         compile_uprobes):
        try:
            plans += compile_kind(loaded)
        except PolicyError as err:
            issues += err.issues
    if issues:
        raise PolicyError(issues)
    if options.get("policy-mode") == "monitor":
        plans = [replace(p, monitor=True) for p in plans]
    # Policy-wide: every hook names a tracked sock's owner once any hook
    # tracks socks; the NotifyEnforcer notes of its hooks reach its enforcer.
    sock_owners = any(p.tracks_socks for p in plans)
    enforcer = bool(loaded.policy.spec.enforcers)
    if sock_owners or enforcer:
        plans = [replace(p, sock_owners=sock_owners, enforcer=enforcer) for p in plans]
    scopes = cgroup_scopes(loaded)
    if scopes:
        plans = [replace(p, cgroup_paths=scopes) for p in plans]
    return plans


def _probe_feature(name: str) -> tuple[bool, str]:
    from vigil.kernel.probe import probe_feature

    f = probe_feature(name)
    return f.available, f.reason


def cgroup_scopes(loaded: LoadedPolicy, mount: str | None = None,
                  feature: Callable[[str], tuple[bool, str]] | None = None
                  ) -> tuple[str, ...]:
    """The policy's cgroup-path options, each a cgroup that exists now (the
    kernel is given the cgroup itself, so it must exist when the policy
    loads; cgroups made below it later are in scope), on a kernel whose
    probe finds bpf_current_task_under_cgroup working."""
    options = [(i, o.value) for i, o in enumerate(loaded.policy.spec.options)
               if o.name == "cgroup-path"]
    if not options:
        return ()
    mount = mount or cgroup2_mount()
    ok, reason = (feature or _probe_feature)("task_under_cgroup")
    issues = []
    for i, path in options:
        where = ("spec", "options", i, "value")
        if mount is not None and not ok:
            issues.append(loaded.issue(where, f"this kernel cannot scope a policy to a cgroup "
                                       f"({reason}); drop the option, or run on a kernel "
                                       "where `vigil probe` finds task_under_cgroup",
                                       value=True))
        elif mount is None:
            issues.append(loaded.issue(where, "this host has no cgroup v2 hierarchy mounted, "
                                       "so no policy can be scoped to a cgroup; mount one "
                                       "(mount -t cgroup2 none /sys/fs/cgroup) or drop the "
                                       "option", value=True))
        elif not os.path.isdir(mount + path):
            issues.append(loaded.issue(where, f"no cgroup {path} (no directory {mount}{path}); "
                                       "scope the policy to a cgroup that exists when it "
                                       "loads (cgroups made below it later are covered)",
                                       value=True))
    if issues:
        raise PolicyError(issues)
    return tuple(dict.fromkeys(path.rstrip("/") or "/" for _, path in options))
