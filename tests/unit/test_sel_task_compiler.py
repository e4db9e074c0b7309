"""The compiled form of a selector's filters on the current task
(sensors/sel_task.py): isNamespacePID, matchNamespaces, matchCapabilities,
matchNamespaceChanges and matchCapabilityChanges, and a clear ValueError for
what is wrong. The kernel side's behaviour is
tests/kernel/test_task_selectors.py."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.process.caps import CAP_NAMES
from vigil.process.procfs import host_namespaces
from vigil.sensors.sel_task import CapsFilter, NamespaceChangesFilter, NamespaceFilter
from vigil.sensors.selectors import PidFilter, SelectorPlan, compile_selectors
from vigil.wire.records import (
    NAMESPACE_NAMES,
    SEL_CAPS_MAX,
    SEL_NS_MAX,
    SEL_VALUES_MAX,
    Selector,
    Selectors,
    SelTask,
)

# A made-up host: every kind a distinct inode number.
HOST = {name: 4026531000 + i for i, name in enumerate(NAMESPACE_NAMES)}


def sel(plan: SelectorPlan, host: dict[str, int] = HOST) -> Selector:
    raw = compile_selectors([plan], (), host=host)
    assert len(raw) == ctypes.sizeof(Selectors)
    return Selectors.from_buffer_copy(raw).sel[0]


def test_no_task_filters_read_nothing() -> None:
    s = sel(SelectorPlan(pids=(PidFilter("In", (5,)),)))
    assert (s.task, s.nspid, s.nns, s.ncaps) == (0, 0, 0, 0)


def test_namespace_pid_filters_are_flagged_by_position() -> None:
    s = sel(SelectorPlan(pids=(PidFilter("In", (5,)),
                               PidFilter("NotIn", (1, 2), is_namespace_pid=True),
                               PidFilter("In", (7,), is_namespace_pid=True))))
    assert s.task == SelTask.NSPID
    assert s.nspid == 0b110
    assert s.npids == 3 and list(s.pids[1].values[:2]) == [1, 2]


@pytest.mark.parametrize(("name", "kind"), [
    ("Uts", 0), ("Ipc", 1), ("Mnt", 2), ("Pid", 3), ("PidForChildren", 4), ("Net", 5),
    ("Time", 6), ("TimeForChildren", 7), ("Cgroup", 8), ("User", 9),
    ("pidforchildren", 4), ("NET", 5),  # Tetragon lower-cases the name
])
def test_namespace_kinds_are_tetragons_order(name: str, kind: int) -> None:
    s = sel(SelectorPlan(namespaces=(NamespaceFilter(name, "In", ("host_ns",)),)))
    assert s.task == SelTask.NS and s.nns == 1
    assert s.ns[0].kind == kind
    assert s.ns[0].values[0] == HOST[NAMESPACE_NAMES[kind]]


def test_namespace_values_and_operator() -> None:
    s = sel(SelectorPlan(namespaces=(
        NamespaceFilter("Net", "NotIn", ("4026531840", "host_ns", "0", str((1 << 32) - 1))),
        NamespaceFilter("Mnt", "In", ("12",)))))
    assert (s.nns, s.ns[0].not_in, s.ns[0].nvalues) == (2, 1, 4)
    assert list(s.ns[0].values) == [4026531840, HOST["net"], 0, (1 << 32) - 1]
    assert (s.ns[1].kind, s.ns[1].not_in, s.ns[1].nvalues, s.ns[1].values[0]) == (2, 0, 1, 12)


@pytest.mark.parametrize(("f", "message"), [
    (NamespaceFilter("Net", "In", (str(1 << 32),)), r"values\[0\]: '4294967296'; a namespace "
     r"is its inode number \(decimal, 0..4294967295\) or host_ns"),
    (NamespaceFilter("Net", "In", ("0x10",)), "'0x10'; a namespace is its inode number"),
    (NamespaceFilter("Net", "In", ("-1",)), "'-1'"),
    (NamespaceFilter("Net", "In", ("١٢",)), "a namespace is its inode number"),  # not ASCII
    (NamespaceFilter("Net", "In", ("host",)), "'host'"),
    (NamespaceFilter("Net", "In", ()), "0 values; a matchNamespaces filter takes 1 to 4"),
    (NamespaceFilter("Net", "In", ("1",) * (SEL_VALUES_MAX + 1)), "5 values"),
    (NamespaceFilter("Net", "Equal", ("1",)), r"operator: 'Equal'; this filter takes In or NotIn"),
    (NamespaceFilter("Nett", "In", ("1",)), r"matchNamespaces\[0\].namespace: unknown namespace"),
])
def test_bad_namespace_filters(f: NamespaceFilter, message: str) -> None:
    with pytest.raises(ValueError, match=r"selectors\[0\].matchNamespaces\[0\]") as err:
        sel(SelectorPlan(namespaces=(f,)))
    assert err.match(message)


def test_host_ns_of_a_kind_the_host_lacks() -> None:
    host = {k: v for k, v in HOST.items() if k != "time"}
    with pytest.raises(ValueError, match=r"host_ns: cannot read the host's time namespace"):
        sel(SelectorPlan(namespaces=(NamespaceFilter("Time", "In", ("host_ns",)),)), host)
    # a number needs no host
    assert sel(SelectorPlan(namespaces=(NamespaceFilter("Time", "In", ("7",)),)), host).ns[0] \
        .values[0] == 7


def test_namespace_filters_at_and_past_the_limit() -> None:
    at = tuple(NamespaceFilter("Uts", "In", ("1",)) for _ in range(SEL_NS_MAX))
    assert sel(SelectorPlan(namespaces=at)).nns == SEL_NS_MAX
    with pytest.raises(ValueError,
                       match=r"matchNamespaces: 11 entries; a selector takes at most 10"):
        sel(SelectorPlan(namespaces=(*at, at[0])))


@pytest.mark.parametrize(("ty", "want"), [
    ("Permitted", 0), ("Effective", 1), ("Inheritable", 2), ("effective", 1), ("PERMITTED", 0)])
def test_capability_sets_are_tetragons_numbers(ty: str, want: int) -> None:
    s = sel(SelectorPlan(capabilities=(CapsFilter(ty, "In", ("CAP_SYS_ADMIN",)),)))
    assert (s.task, s.ncaps, s.caps[0].set) == (SelTask.CAPS, 1, want)


def test_capability_values_are_ored_bits() -> None:
    s = sel(SelectorPlan(capabilities=(
        CapsFilter("Effective", "NotIn",
                   (" cap_chown", "DAC_OVERRIDE", "CAP_CHECKPOINT_RESTORE ")),)))
    c = s.caps[0]
    assert c.mask == (1 << 0) | (1 << 1) | (1 << 40)
    assert (c.not_in, c.host_user_ns) == (1, 0)


def test_namespace_capability_carries_the_host_user_namespace() -> None:
    s = sel(SelectorPlan(capabilities=(CapsFilter("Effective", "In", ("CAP_NET_RAW",),
                                                  is_namespace_capability=True),)))
    assert s.caps[0].host_user_ns == HOST["user"]
    assert s.caps[0].mask == 1 << 13


@given(st.sets(st.integers(0, len(CAP_NAMES) - 1), min_size=1, max_size=8))
def test_any_set_of_capability_names_compiles_to_its_bits(bits: set[int]) -> None:
    names = tuple(CAP_NAMES[b] for b in sorted(bits))
    s = sel(SelectorPlan(capabilities=(CapsFilter("Permitted", "In", names),)))
    assert s.caps[0].mask == sum(1 << b for b in bits)


@pytest.mark.parametrize(("f", "message"), [
    (CapsFilter("Effective", "In", ("CAP_DAC_OVERRIDE",)),
     "'CAP_DAC_OVERRIDE' is not a capability"),
    (CapsFilter("Effective", "In", ("CAP_NOPE",)), r"values\[0\]: 'CAP_NOPE' is not a capability"),
    (CapsFilter("Effective", "In", ()), "takes at least one capability"),
    (CapsFilter("Bounding", "In", ("CAP_BPF",)), "type: 'Bounding'; one of Effective"),
    (CapsFilter("Effective", "Mask", ("CAP_BPF",)), "operator: 'Mask'"),
])
def test_bad_capability_filters(f: CapsFilter, message: str) -> None:
    with pytest.raises(ValueError, match=r"selectors\[0\].matchCapabilities\[0\]") as err:
        sel(SelectorPlan(capabilities=(f,)))
    assert err.match(message)


def test_capability_filters_at_and_past_the_limit() -> None:
    at = tuple(CapsFilter("Effective", "In", ("CAP_BPF",)) for _ in range(SEL_CAPS_MAX))
    assert sel(SelectorPlan(capabilities=at)).ncaps == SEL_CAPS_MAX
    with pytest.raises(ValueError,
                       match="matchCapabilities: 4 entries; a selector takes at most 3"):
        sel(SelectorPlan(capabilities=(*at, at[0])))


def test_all_task_filters_together() -> None:
    s = sel(SelectorPlan(pids=(PidFilter("In", (1,), is_namespace_pid=True),),
                         namespaces=(NamespaceFilter("Uts", "In", ("host_ns",)),),
                         capabilities=(CapsFilter("Effective", "In", ("CAP_BPF",)),)))
    assert s.task == SelTask.NSPID | SelTask.NS | SelTask.CAPS


ALL_KINDS = (1 << len(NAMESPACE_NAMES)) - 1


@pytest.mark.parametrize(("op", "values", "kinds"), [
    ("In", ("Mnt",), 1 << 2),
    ("In", ("uts", "USER"), 1 << 0 | 1 << 9),
    ("In", tuple(NAMESPACE_NAMES[k].replace("_", "") for k in range(10)), ALL_KINDS),
    # NotIn compares the kinds not listed (Tetragon's meaning)
    ("NotIn", ("Mnt",), ALL_KINDS & ~(1 << 2)),
    ("NotIn", (), ALL_KINDS),
    ("NotIn", tuple(NAMESPACE_NAMES[k].replace("_", "") for k in range(10)), 0),
])
def test_namespace_changes_compile_to_the_kinds_compared(op: str, values: tuple[str, ...],
                                                         kinds: int) -> None:
    s = sel(SelectorPlan(namespace_changes=(NamespaceChangesFilter(op, values),)))
    assert s.task == SelTask.NS_CHANGE
    assert s.ns_change == kinds


@pytest.mark.parametrize(("plan", "message"), [
    (SelectorPlan(namespace_changes=(NamespaceChangesFilter("In", ()),)),
     r"matchNamespaceChanges\[0\]\.values: In with no namespace never matches"),
    (SelectorPlan(namespace_changes=(NamespaceChangesFilter("In", ("Mount",)),)),
     r"matchNamespaceChanges\[0\]\.values\[0\]: unknown namespace 'Mount'"),
    (SelectorPlan(namespace_changes=(NamespaceChangesFilter("Equal", ("Mnt",)),)),
     r"matchNamespaceChanges\[0\]\.operator: 'Equal'; this filter takes In or NotIn"),
    (SelectorPlan(namespace_changes=(NamespaceChangesFilter("In", ("Mnt",)),
                                     NamespaceChangesFilter("In", ("Uts",)))),
     r"matchNamespaceChanges: 2 entries; a selector takes one"),
    (SelectorPlan(capability_changes=(CapsFilter("Effective", "In", ()),)),
     r"matchCapabilityChanges\[0\]\.values: this filter takes at least one capability "
     r"\(or NotIn with none"),
])
def test_bad_change_filters_name_the_field(plan: SelectorPlan, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sel(plan)


def test_capability_changes_compile_apart_from_capabilities() -> None:
    s = sel(SelectorPlan(
        capabilities=(CapsFilter("Permitted", "In", ("CAP_CHOWN",)),),
        capability_changes=(CapsFilter("Effective", "In", ("CAP_SYS_ADMIN", "cap_net_raw"),
                                       is_namespace_capability=True),
                            CapsFilter("Inheritable", "NotIn", ()))))
    assert s.task == SelTask.CAPS | SelTask.CAP_CHANGE
    assert (s.ncaps, s.ncap_changes) == (1, 2)
    assert s.caps[0].mask == 1 << CAP_NAMES.index("CAP_CHOWN")
    c = s.cap_changes[0]
    assert (c.set, c.not_in, c.host_user_ns) == (1, 0, HOST["user"])
    assert c.mask == 1 << CAP_NAMES.index("CAP_SYS_ADMIN") | 1 << CAP_NAMES.index("CAP_NET_RAW")
    c = s.cap_changes[1]
    assert (c.set, c.not_in, c.host_user_ns, c.mask) == (2, 1, 0, 0)


def test_capability_change_filters_at_and_past_the_limit() -> None:
    at = tuple(CapsFilter("Effective", "In", ("CAP_BPF",)) for _ in range(SEL_CAPS_MAX))
    assert sel(SelectorPlan(capability_changes=at)).ncap_changes == SEL_CAPS_MAX
    with pytest.raises(ValueError,
                       match="matchCapabilityChanges: 4 entries; a selector takes at most 3"):
        sel(SelectorPlan(capability_changes=(*at, at[0])))


def test_the_host_is_read_only_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    import vigil.sensors.sel_task as sel_task

    def no_proc() -> dict[str, int]:
        raise AssertionError("read the host's namespaces without host_ns")

    monkeypatch.setattr(sel_task, "_host_namespaces", no_proc)
    raw = compile_selectors([SelectorPlan(namespaces=(NamespaceFilter("Uts", "In", ("3",)),))], ())
    assert Selectors.from_buffer_copy(raw).sel[0].ns[0].values[0] == 3


def test_host_namespaces_fall_back_to_vigils_own(tmp_path: Path) -> None:
    """pid 1's when readable, else (a sandbox hides them) vigil's own."""
    root = tmp_path
    for pid in ("1", "self"):
        (root / pid / "ns").mkdir(parents=True)
    (root / "self" / "ns" / "uts").symlink_to("uts:[11]")
    assert host_namespaces(str(root)) == {"uts": 11}
    (root / "1" / "ns" / "uts").symlink_to("uts:[22]")
    (root / "1" / "ns" / "user").symlink_to("user:[33]")
    assert host_namespaces(str(root)) == {"uts": 22, "user": 33}
