"""What `vigil probe` found: one ``Feature`` per capability, plus facts about the kernel.

Pure data: built by ``vigil.kernel.probe``, rendered by ``vigil.kernel.cli``,
and read by tests and sensors (``report.has("fentry")``, ``report.reason("fentry")``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FEATURE_NAMES", "Feature", "KernelInfo", "ProbeReport"]

# Every feature the probe reports, in display order, with what it is.
FEATURE_NAMES: dict[str, str] = {
    "btf": "kernel BTF at /sys/kernel/btf/vmlinux (CO-RE, tp_btf, fentry, lsm)",
    "tracefs": "tracefs mounted (tracepoint ids, legacy kprobe/uprobe events)",
    "bpffs": "bpffs mounted at /sys/fs/bpf (pinning maps and links)",
    "securityfs": "securityfs mounted at /sys/kernel/security (LSM list, lockdown)",
    "ringbuf": "BPF ring buffer map, reserve/submit",
    "perf_event_array": "perf event array map, bpf_perf_event_output",
    "lpm_trie": "LPM trie map, longest-prefix lookups (CIDR selectors)",
    "prog_array": "prog array map and bpf_tail_call",
    "tracepoint": "tracepoint programs (tp/syscalls/sys_enter_getpid)",
    "raw_tracepoint": "raw tracepoint programs (raw_tp/sys_enter)",
    "tp_btf": "BTF-typed raw tracepoints (tp_btf/sys_enter)",
    "kprobe": "kprobes (kprobe/security_file_open)",
    "kretprobe": "kretprobes (kretprobe/security_file_open)",
    "kprobe_multi": "kprobe.multi and kretprobe.multi links (security_file_open, with a cookie)",
    "fentry": "fentry trampolines (fentry/security_file_open)",
    "fexit": "fexit trampolines (fexit/security_file_open)",
    "fmod_ret": "fmod_ret trampolines (fmod_ret/security_file_open)",
    "lsm": "BPF LSM programs (lsm/file_open) running as an active LSM",
    "uprobe": "uprobes (libc getpid)",
    "uretprobe": "uretprobes (libc getpid)",
    "usdt": "USDT probes (a stapsdt note in a library)",
    "iter_task": "BPF iterators (iter/task)",
    "send_signal": "bpf_send_signal helper",
    "override_return": "bpf_override_return helper (kprobe on an error-injectable function)",
    "bpf_loop": "bpf_loop helper",
    "bpf_for": "open-coded iterators (bpf_iter_num kfuncs, bpf_for)",
    "task_under_cgroup": "bpf_current_task_under_cgroup with a cgroup array (cgroup-scoped "
    "policies)",
}


@dataclass(frozen=True)
class Feature:
    """One capability: whether the running kernel offers it, and why (not)."""

    name: str
    available: bool
    reason: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class KernelInfo:
    """Facts about the running kernel that are not yes/no features."""

    release: str
    version: str = ""
    machine: str = ""
    lockdown: str = "unknown"
    lsms: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "version": self.version,
            "machine": self.machine,
            "lockdown": self.lockdown,
            "lsms": list(self.lsms),
        }


@dataclass(frozen=True)
class ProbeReport:
    """The probe's answer for this kernel. ``features`` is keyed by feature name."""

    kernel: KernelInfo
    features: dict[str, Feature] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def has(self, name: str) -> bool:
        """True when the feature was found working. Unknown names raise KeyError."""
        return self._get(name).available

    def reason(self, name: str) -> str:
        """Why the feature is (un)available, e.g. for a test's skip message."""
        return self._get(name).reason

    def missing(self) -> list[Feature]:
        return [f for f in self.features.values() if not f.available]

    def to_json(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel.to_json(),
            "features": {name: f.to_json() for name, f in self.features.items()},
            "elapsed_s": round(self.elapsed_s, 3),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProbeReport:
        k = data["kernel"]
        kernel = KernelInfo(
            release=k["release"],
            version=k.get("version", ""),
            machine=k.get("machine", ""),
            lockdown=k.get("lockdown", "unknown"),
            lsms=tuple(k.get("lsms", ())),
        )
        features = {
            name: Feature(name, bool(f["available"]), f["reason"], f.get("detail", ""))
            for name, f in data["features"].items()
        }
        return cls(kernel, features, float(data.get("elapsed_s", 0.0)))

    def _get(self, name: str) -> Feature:
        try:
            return self.features[name]
        except KeyError:
            known = ", ".join(self.features) or "none"
            raise KeyError(f"unknown feature {name!r}; the probe knows: {known}") from None
