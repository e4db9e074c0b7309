"""A selector's filters on the current task, typed, and their compiled form
(struct vigil_selector's task members; the kernel side is
bpf/lib/sel_task.bpf.h): matchPIDs' isNamespacePID, matchNamespaces,
matchCapabilities, and matchNamespaceChanges and matchCapabilityChanges,
which compare the task with what its process had at exec (its baseline,
kept by the process sensor only while a policy needs it: sensors/baselines.py).

Value syntax as Tetragon's pkg/selectors/kernel.go takes it: a namespace is
a decimal inode number or host_ns (the host's namespace: pid 1's, read once
per vigil process); capabilities are CAP_* names, trimmed and case-insensitive;
namespace kinds and capability set types are case-insensitive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from vigil.process.caps import CAP_NAMES
from vigil.process.procfs import host_namespaces
from vigil.wire.records import (
    NAMESPACE_NAMES,
    SEL_CAPS_MAX,
    SEL_NS_MAX,
    SEL_VALUES_MAX,
    SelCaps,
    SelCapSet,
    Selector,
    SelNs,
    SelTask,
)

if TYPE_CHECKING:
    from vigil.sensors.selectors import PidFilter

__all__ = [
    "CapsFilter",
    "NamespaceChangesFilter",
    "NamespaceFilter",
    "compile_task_filters",
    "namespace_kind",
]

# Tetragon's namespace names (lower-cased) -> index into struct vigil_namespaces,
# which is Tetragon's own order (kernel.go namespaceTypeTable).
_NS_KINDS = {name.replace("_", ""): i for i, name in enumerate(NAMESPACE_NAMES)}
_CAP_SETS = {"permitted": SelCapSet.PERMITTED, "effective": SelCapSet.EFFECTIVE,
             "inheritable": SelCapSet.INHERITABLE}
_SET_OPS = ("In", "NotIn")
_U32 = (1 << 32) - 1


@dataclass(frozen=True, slots=True)
class NamespaceFilter:
    """matchNamespaces: the task's namespace of one kind, In or NotIn values."""

    namespace: str  # "Uts", "Ipc", "Mnt", "Pid", "PidForChildren", "Net", ... "User"
    operator: str
    values: tuple[str, ...]  # decimal inode numbers or "host_ns"


@dataclass(frozen=True, slots=True)
class CapsFilter:
    """matchCapabilities (and matchCapabilityChanges)."""

    type: str  # "Effective", "Inheritable" or "Permitted"
    operator: str
    values: tuple[str, ...]  # CAP_* names
    is_namespace_capability: bool = False


@dataclass(frozen=True, slots=True)
class NamespaceChangesFilter:
    """matchNamespaceChanges: namespace kinds."""

    operator: str
    values: tuple[str, ...]


@cache
def _host_namespaces() -> Mapping[str, int]:
    return host_namespaces()


def namespace_kind(where: str, name: str) -> int:
    """A namespace's index into struct vigil_namespaces, from Tetragon's name."""
    kind = _NS_KINDS.get(name.lower())
    if kind is None:
        raise ValueError(f"{where}: unknown namespace {name!r}; one of Uts, Ipc, Mnt, Pid, "
                         "PidForChildren, Net, Time, TimeForChildren, Cgroup, User")
    return kind


def _host(where: str, kind: int, host: Mapping[str, int]) -> int:
    name = NAMESPACE_NAMES[kind]
    if name not in host:
        raise ValueError(f"{where}: host_ns: cannot read the host's {name} namespace "
                         f"(/proc/1/ns/{name} or /proc/self/ns/{name}; this kernel may lack it)")
    return host[name]


def _operator(where: str, op: str) -> int:
    if op not in _SET_OPS:
        raise ValueError(f"{where}.operator: {op!r}; this filter takes In or NotIn")
    return 1 if op == "NotIn" else 0


def _compile_ns(where: str, f: NamespaceFilter, host: Mapping[str, int], out: SelNs) -> None:
    out.kind = namespace_kind(f"{where}.namespace", f.namespace)
    out.not_in = _operator(where, f.operator)
    if not 1 <= len(f.values) <= SEL_VALUES_MAX:
        raise ValueError(f"{where}.values: {len(f.values)} values; a matchNamespaces filter "
                         f"takes 1 to {SEL_VALUES_MAX}")
    out.nvalues = len(f.values)
    for i, text in enumerate(f.values):
        vwhere = f"{where}.values[{i}]"
        if text == "host_ns":
            out.values[i] = _host(vwhere, out.kind, host)
            continue
        if not text.isascii() or not text.isdigit() or int(text) > _U32:
            raise ValueError(f"{vwhere}: {text!r}; a namespace is its inode number (decimal, "
                             f"0..{_U32}) or host_ns")
        out.values[i] = int(text)


def _cap_mask(where: str, values: Sequence[str]) -> int:
    mask = 0
    for i, text in enumerate(values):
        name = text.strip().upper()
        if name not in CAP_NAMES:
            raise ValueError(f"{where}.values[{i}]: {text!r} is not a capability "
                             "(CAP_SYS_ADMIN, ...; Tetragon spells bit 1 DAC_OVERRIDE)")
        mask |= 1 << CAP_NAMES.index(name)
    return mask


def _compile_caps(where: str, f: CapsFilter, host: Mapping[str, int], out: SelCaps,
                  change: bool = False) -> None:
    """One matchCapabilities filter, or with `change` one of
    matchCapabilityChanges, where NotIn with no capability means a change
    of any."""
    cap_set = _CAP_SETS.get(f.type.lower())
    if cap_set is None:
        raise ValueError(f"{where}.type: {f.type!r}; one of Effective, Inheritable, Permitted")
    out.set = cap_set
    out.not_in = _operator(where, f.operator)
    if not f.values and not (change and out.not_in):
        hint = (" (or NotIn with none, for a change of any capability)" if change else "")
        raise ValueError(f"{where}.values: this filter takes at least one capability{hint}")
    out.mask = _cap_mask(where, f.values)
    if f.is_namespace_capability:
        out.host_user_ns = _host(f"{where}.isNamespaceCapability", NAMESPACE_NAMES.index("user"),
                                 host)


def compile_task_filters(where: str, pids: Sequence[PidFilter],
                         namespaces: Sequence[NamespaceFilter], caps: Sequence[CapsFilter],
                         namespace_changes: Sequence[NamespaceChangesFilter],
                         capability_changes: Sequence[CapsFilter], out: Selector,
                         host: Mapping[str, int] | None = None) -> None:
    """Fills selector `out`'s task members; `host` the host's namespaces (by
    NAMESPACE_NAMES), read from /proc/1 when a filter needs them and none are given."""
    for name, items, limit in (("matchNamespaces", namespaces, SEL_NS_MAX),
                               ("matchCapabilities", caps, SEL_CAPS_MAX),
                               ("matchCapabilityChanges", capability_changes, SEL_CAPS_MAX)):
        if len(items) > limit:
            raise ValueError(f"{where}.{name}: {len(items)} entries; a selector takes at "
                             f"most {limit}")
    if len(namespace_changes) > 1:
        raise ValueError(f"{where}.matchNamespaceChanges: {len(namespace_changes)} entries; a "
                         "selector takes one (as Tetragon), which lists every namespace kind")
    needs_host = any("host_ns" in f.values for f in namespaces) or any(
        f.is_namespace_capability for f in (*caps, *capability_changes))
    if host is None:
        host = _host_namespaces() if needs_host else {}
    task = SelTask(0)
    for i, pf in enumerate(pids):
        if pf.is_namespace_pid:
            out.nspid |= 1 << i
            task |= SelTask.NSPID
    out.nns, out.ncaps = len(namespaces), len(caps)
    for i, nf in enumerate(namespaces):
        _compile_ns(f"{where}.matchNamespaces[{i}]", nf, host, out.ns[i])
    for i, cf in enumerate(caps):
        _compile_caps(f"{where}.matchCapabilities[{i}]", cf, host, out.caps[i])
    for i, cf in enumerate(capability_changes):
        _compile_caps(f"{where}.matchCapabilityChanges[{i}]", cf, host, out.cap_changes[i],
                      change=True)
    out.ncap_changes = len(capability_changes)
    if namespace_changes:
        out.ns_change = _ns_change_kinds(f"{where}.matchNamespaceChanges[0]",
                                         namespace_changes[0])
        task |= SelTask.NS_CHANGE
    if namespaces:
        task |= SelTask.NS
    if caps:
        task |= SelTask.CAPS
    if capability_changes:
        task |= SelTask.CAP_CHANGE
    out.task = task


def _ns_change_kinds(where: str, f: NamespaceChangesFilter) -> int:
    """The namespace kinds the kernel compares, one bit each: those listed
    for In, the others for NotIn (Tetragon's meaning: a change of any kind
    but these)."""
    not_in = _operator(where, f.operator)
    if not f.values and not not_in:
        raise ValueError(f"{where}.values: In with no namespace never matches; list the kinds "
                         "(Uts, Ipc, Mnt, Pid, PidForChildren, Net, Time, TimeForChildren, "
                         "Cgroup, User), or use NotIn with none for a change of any kind")
    kinds = 0
    for i, name in enumerate(f.values):
        kinds |= 1 << namespace_kind(f"{where}.values[{i}]", name)
    every = (1 << len(NAMESPACE_NAMES)) - 1
    return every & ~kinds if not_in else kinds
