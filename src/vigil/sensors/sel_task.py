"""A selector's filters on the current task, typed, and their compiled form
(struct vigil_selector's task members; the kernel side is
bpf/lib/sel_task.bpf.h): matchPIDs' isNamespacePID, matchNamespaces and
matchCapabilities. matchNamespaceChanges and matchCapabilityChanges are
typed here and refused as not supported yet: they compare with what the
process had at exec, which vigil does not keep. Kept in the exec map's value
(Tetragon's choice) it would cost every user 64 bytes per entry, 2 MiB at
the default 32768 entries, policy or not; a run-time allocated hash map costs
only the live processes but is unsafe in tracing programs before Linux 6.1
(5.10 warns and taints). The home that fits is task storage, freed with the
task (Linux 5.11 and later).

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


def _compile_caps(where: str, f: CapsFilter, host: Mapping[str, int], out: SelCaps) -> None:
    cap_set = _CAP_SETS.get(f.type.lower())
    if cap_set is None:
        raise ValueError(f"{where}.type: {f.type!r}; one of Effective, Inheritable, Permitted")
    out.set = cap_set
    out.not_in = _operator(where, f.operator)
    if not f.values:
        raise ValueError(f"{where}.values: a matchCapabilities filter takes at least one "
                         "capability")
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
    if namespace_changes:
        raise ValueError(f"{where}.matchNamespaceChanges: not supported yet")
    if capability_changes:
        raise ValueError(f"{where}.matchCapabilityChanges: not supported yet")
    for name, items, limit in (("matchNamespaces", namespaces, SEL_NS_MAX),
                               ("matchCapabilities", caps, SEL_CAPS_MAX)):
        if len(items) > limit:
            raise ValueError(f"{where}.{name}: {len(items)} entries; a selector takes at "
                             f"most {limit}")
    needs_host = any("host_ns" in f.values for f in namespaces) or any(
        f.is_namespace_capability for f in caps)
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
    if namespaces:
        task |= SelTask.NS
    if caps:
        task |= SelTask.CAPS
    out.task = task
