"""DESIGN §5's hook ladder: for each kind of hook a policy names, the ways
vigil can attach it, best first, and the choice of the first that this
kernel offers.

A rung needs kernel features (the names of vigil.kernel.probe, so the
choice follows what was measured on this kernel, never its version) and a
sensor in vigil that runs it. The plan takes the first rung that has both;
`vigil policy explain` prints the rung and the reasons the better ones were
passed over, and a forced rung (`--hook-rung`) is taken or refused with its
reason, so each rung can be tested on a kernel that has a better one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "KPROBE_LADDER",
    "RUNG_NAMES",
    "HookUnavailable",
    "Rung",
    "RungChoice",
    "choose_rung",
]


@dataclass(frozen=True, slots=True)
class Rung:
    name: str
    what: str  # how it attaches, for explain
    entry_features: tuple[str, ...]
    return_features: tuple[str, ...]  # also needed when the call's return is reported
    syscalls_only: bool = False  # only a syscall can hook this way
    # What it needs to make the call return an error (Override); None: it cannot
    override_features: tuple[str, ...] | None = None
    # None: vigil runs this rung; else why it cannot yet (and which issue brings it)
    not_built: str | None = None

    def features(self, returns: bool) -> tuple[str, ...]:
        return self.entry_features + (self.return_features if returns else ())


# spec.kprobes: a kernel function, or a syscall by its function name.
KPROBE_LADDER: tuple[Rung, ...] = (
    Rung("kprobe_multi", "one kprobe.multi program and link for all the functions a kprobe "
         "names (a list's), each function's hook id its cookie (and kretprobe.multi for "
         "their returns); Override through bpf_override_return",
         ("kprobe_multi",), (), override_features=("override_return",)),
    Rung("kprobe", "a kprobe on the function (and a kretprobe for its return); Override "
         "through bpf_override_return",
         ("kprobe",), ("kretprobe",), override_features=("override_return",)),
    Rung("fentry", "an fentry trampoline on the function (and fexit for its return); with "
         "an Override, an fmod_ret program instead",
         ("fentry",), ("fexit",), override_features=("fmod_ret",)),
    Rung("syscall_tracepoint",
         "the syscall's syscalls/sys_enter_NAME tracepoint (and sys_exit_NAME for its return), "
         "whose fields are the call's arguments",
         ("tracepoint",), (), syscalls_only=True),
)

RUNG_NAMES: tuple[str, ...] = tuple(r.name for r in KPROBE_LADDER)


@dataclass(frozen=True, slots=True)
class RungChoice:
    rung: Rung
    passed_over: tuple[str, ...]  # why each better rung was not taken

    @property
    def reason(self) -> str:
        taken = f"{self.rung.name}: {self.rung.what}"
        if not self.passed_over:
            return taken
        return f"{taken}; passed over: {'; '.join(self.passed_over)}"


class HookUnavailable(Exception):
    """No rung can attach the hook: the message names each and why not."""


def _why_not(rung: Rung, syscall: bool, returns: bool, overrides: bool,
             feature: Callable[[str], tuple[bool, str]],
             fits: Callable[[Rung], str | None] | None,
             told: set[str] | None = None) -> str | None:
    """Why `rung` cannot attach the hook, or None. A missing feature whose
    reason is in `told` already is named without it."""
    if rung.syscalls_only and not syscall:
        return f"{rung.name} hooks syscalls only (this call has syscall: false)"
    needed = rung.features(returns)
    if overrides:
        if rung.override_features is None:
            return (f"{rung.name} cannot make a call return an error (Override needs a "
                    "kprobe with bpf_override_return, or fmod_ret)")
        needed += rung.override_features
    for name in needed:
        ok, reason = feature(name)
        if not ok:
            if told is not None and name in told:
                return f"{rung.name} needs {name} too"
            if told is not None:
                told.add(name)
            return f"{rung.name} needs {name}, which this kernel lacks ({reason})"
    if rung.not_built is not None:
        return f"{rung.name}: {rung.not_built}"
    why = fits(rung) if fits is not None else None
    return f"{rung.name}: {why}" if why is not None else None


def choose_rung(ladder: Sequence[Rung], *, syscall: bool, returns: bool,
                feature: Callable[[str], tuple[bool, str]], overrides: bool = False,
                forced: str | None = None,
                fits: Callable[[Rung], str | None] | None = None) -> RungChoice:
    """The first rung that works here, or `forced`; HookUnavailable says why
    none (or not the forced one) can. `feature(name)` is the probe's
    (available, reason) for a kernel feature; `fits(rung)` says why the rung
    cannot hook this particular call (the function is not where that rung
    looks it up), or None."""
    if forced is not None:
        rung = next((r for r in ladder if r.name == forced), None)
        if rung is None:
            raise HookUnavailable(f"no hook rung '{forced}'; the rungs are "
                                  f"{', '.join(r.name for r in ladder)}")
        why = _why_not(rung, syscall, returns, overrides, feature, fits)
        if why is not None:
            raise HookUnavailable(f"the forced rung cannot attach: {why}")
        return RungChoice(rung, (f"the rung was forced to {forced}",))
    passed: list[str] = []
    told: set[str] = set()
    for rung in ladder:
        why = _why_not(rung, syscall, returns, overrides, feature, fits, told)
        if why is None:
            return RungChoice(rung, tuple(passed))
        passed.append(why)
    raise HookUnavailable("no way to attach it on this kernel: " + "; ".join(passed))
