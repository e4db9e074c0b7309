"""Python's mirrors of bpf/events.h match the compiled object's BTF exactly."""

from __future__ import annotations

import pytest

from tests.btf_layout import assert_mirrors_btf, btf_structs
from vigil.events.records import MESSAGE_STRUCTS

OBJECT = "abi.bpf.o"


@pytest.mark.parametrize("c_name", sorted(MESSAGE_STRUCTS))
def test_mirror_matches_btf(c_name: str) -> None:
    assert_mirrors_btf(OBJECT, c_name, MESSAGE_STRUCTS[c_name])


def test_every_record_struct_is_mirrored() -> None:
    structs = btf_structs(OBJECT)
    c_records = {n for n in structs if n.startswith("vigil_") and n != "vigil_path_buf"}
    assert c_records == set(MESSAGE_STRUCTS)
