"""Python's mirrors of bpf/events.h (structs, enums, sizes) match the compiled
object's BTF exactly."""

from __future__ import annotations

import pytest

from tests.btf_layout import assert_mirrors_btf, btf_structs, btf_types
from vigil.wire.records import ABI_SIZES, MESSAGE_ENUMS, MESSAGE_STRUCTS, Stat

OBJECT = "abi.bpf.o"


@pytest.mark.parametrize("c_name", sorted(MESSAGE_STRUCTS))
def test_mirror_matches_btf(c_name: str) -> None:
    assert_mirrors_btf(OBJECT, c_name, MESSAGE_STRUCTS[c_name])


def test_every_record_struct_is_mirrored() -> None:
    structs = btf_structs(OBJECT)
    c_records = {n for n in structs if n.startswith("vigil_") and n != "vigil_path_buf"}
    assert c_records == set(MESSAGE_STRUCTS)


def btf_enums(object_rel: str) -> dict[str, dict[str, int]]:
    return {
        t["name"]: {v["name"]: v["val"] for v in t["values"]}
        for t in btf_types(object_rel)
        if t["kind"] == "ENUM"
    }


@pytest.mark.parametrize("c_name", sorted(MESSAGE_ENUMS))
def test_enum_mirror_matches_btf(c_name: str) -> None:
    mirror, prefix = MESSAGE_ENUMS[c_name]
    c_values = btf_enums(OBJECT).get(c_name)
    assert c_values is not None, (
        f"enum {c_name} missing from {OBJECT}'s BTF (anchor it in abi.bpf.c)")
    # A *_MAX member counts the others; it is not a value of its own.
    c_values = {k: v for k, v in c_values.items() if not k.endswith("_MAX")}
    # __members__: aliases too (VIGIL_ARG_LAST names the last kind's value)
    py_values = {prefix + name: int(m.value)  # type: ignore[union-attr]
                 for name, m in mirror.__members__.items()}
    assert py_values == c_values, (
        f"enum {c_name} differs between bpf/events.h and {mirror.__module__}.{mirror.__name__}")


def test_stat_max_counts_every_stat() -> None:
    assert btf_enums(OBJECT)["vigil_stat"]["VIGIL_STAT_MAX"] == len(Stat)


def test_sizes_match_btf() -> None:
    assert btf_enums(OBJECT)["vigil_abi_sizes"] == ABI_SIZES


def test_every_enum_is_mirrored() -> None:
    c_enums = {n for n in btf_enums(OBJECT) if n.startswith("vigil_") and n != "vigil_abi_sizes"}
    assert c_enums == set(MESSAGE_ENUMS)
