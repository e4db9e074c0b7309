"""Lesson 7's record mirror matches the object's BTF; the variants chosen
follow the probe's answers."""

from __future__ import annotations

from tests.btf_layout import assert_mirrors_btf, btf_types
from vigil.kernel.report import Feature, KernelInfo, ProbeReport
from vigil.lab.lessons.l07_iterators import OBJECT, VARIANTS, ScanEvent, choose, decode


def test_mirror_matches_btf() -> None:
    assert_mirrors_btf(OBJECT, "scan_event", ScanEvent)


def test_variants_follow_enum_and_programs() -> None:
    types = btf_types(OBJECT)
    enum = next(t for t in types if t["kind"] == "ENUM" and t["name"] == "scan_variant")
    assert [v["val"] for v in enum["values"]] == list(range(len(VARIANTS)))
    funcs = {t["name"] for t in types if t["kind"] == "FUNC"}
    assert {v.program for v in VARIANTS} <= funcs


def report(**available: bool) -> ProbeReport:
    return ProbeReport(KernelInfo("test"), {
        name: Feature(name, ok, "here" if ok else f"no {name} on this kernel")
        for name, ok in available.items()
    })


def test_choose_follows_the_probe() -> None:
    on_510 = choose(report(bpf_loop=False, bpf_for=False))
    assert [(v.name, why) for v, why in on_510] == [
        ("plain loop", ""), ("bpf_loop", "no bpf_loop on this kernel"),
        ("bpf_for", "no bpf_for on this kernel")]
    on_61 = choose(report(bpf_loop=True, bpf_for=False))
    assert [bool(why) for _, why in on_61] == [False, False, True]
    assert not any(why for _, why in choose(report(bpf_loop=True, bpf_for=True)))


def test_decode() -> None:
    raw = bytes(ScanEvent(pid=9, variant=2, len=13, slashes=3, path=b"/usr/bin/true"))
    assert decode(raw) == {"kind": "scan", "pid": 9, "variant": "bpf_for", "len": 13,
                           "slashes": 3, "path": "/usr/bin/true"}
