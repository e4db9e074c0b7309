"""Python's mirrors of bpf/events.h match the compiled object's BTF exactly."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
from typing import Any

import pytest

from vigil.bpf_objects import object_path
from vigil.events.records import MESSAGE_STRUCTS

BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"


def btf_structs() -> dict[str, dict[str, Any]]:
    out = subprocess.run(
        [BPFTOOL, "-j", "btf", "dump", "file", str(object_path("abi.bpf.o"))],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {t["name"]: t for t in json.loads(out)["types"] if t["kind"] == "STRUCT"}


STRUCTS = btf_structs()


@pytest.mark.parametrize("c_name", sorted(MESSAGE_STRUCTS))
def test_mirror_matches_btf(c_name: str) -> None:
    mirror = MESSAGE_STRUCTS[c_name]
    btf = STRUCTS.get(c_name)
    assert btf is not None, f"struct {c_name} missing from abi.bpf.o's BTF"
    assert ctypes.sizeof(mirror) == btf["size"], f"sizeof(struct {c_name})"
    py_fields = [(name, getattr(mirror, name).offset * 8) for name, *_ in mirror._fields_]
    c_fields = [(m["name"], m["bits_offset"]) for m in btf["members"]]
    assert py_fields == c_fields


def test_every_record_struct_is_mirrored() -> None:
    c_records = {n for n in STRUCTS if n.startswith("vigil_") and n != "vigil_path_buf"}
    assert c_records == set(MESSAGE_STRUCTS)
