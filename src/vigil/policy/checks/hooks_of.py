"""Every hook of a spec with what the checks need to know about it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vigil.policy.errors import PathPart
from vigil.policy.model import (
    KProbeArg,
    KProbeSelector,
    KProbeSpec,
    LsmHookSpec,
    TracepointSpec,
    TracingPolicySpec,
    UProbeSpec,
    UsdtSpec,
)

__all__ = ["Hook", "HookKind", "hooks_of"]

HookKind = Literal["kprobe", "fentry", "tracepoint", "uprobe", "usdt", "lsm"]


@dataclass(frozen=True)
class Hook:
    kind: HookKind
    path: tuple[PathPart, ...]
    spec: KProbeSpec | TracepointSpec | UProbeSpec | UsdtSpec | LsmHookSpec
    args: list[KProbeArg]
    data: list[KProbeArg]
    selectors: list[KProbeSelector]
    return_arg: KProbeArg | None = None
    returns: bool = False
    raw: bool = False

    @property
    def name(self) -> str:
        s = self.spec
        if isinstance(s, KProbeSpec):
            return s.call
        if isinstance(s, TracepointSpec):
            return f"{s.subsystem}/{s.event}"
        if isinstance(s, UProbeSpec):
            return s.path
        if isinstance(s, UsdtSpec):
            return f"{s.provider}:{s.name}"
        return s.hook


def hooks_of(spec: TracingPolicySpec) -> list[Hook]:
    out: list[Hook] = []
    kprobe_lists: tuple[tuple[str, HookKind, list[KProbeSpec]], ...] = (
        ("kprobes", "kprobe", spec.kprobes), ("fentries", "fentry", spec.fentries))
    for field, kind, kprobes in kprobe_lists:
        for i, k in enumerate(kprobes):
            out.append(Hook(kind, ("spec", field, i), k, k.args, k.data, k.selectors,
                            k.return_arg, k.return_))
    for i, t in enumerate(spec.tracepoints):
        out.append(Hook("tracepoint", ("spec", "tracepoints", i), t, t.args, [], t.selectors,
                        raw=t.raw))
    for i, u in enumerate(spec.uprobes):
        out.append(Hook("uprobe", ("spec", "uprobes", i), u, u.args, u.data, u.selectors,
                        u.return_arg, u.return_))
    for i, s in enumerate(spec.usdts):
        out.append(Hook("usdt", ("spec", "usdts", i), s, s.args, [], s.selectors))
    for i, h in enumerate(spec.lsmhooks):
        out.append(Hook("lsm", ("spec", "lsmhooks", i), h, h.args, [], h.selectors))
    return out
