"""Check a Python ctypes mirror of a C struct against the compiled object's BTF.

No struct layout is trusted unchecked: each test names the object, the C
struct and its mirror, and `assert_mirrors_btf` compares the size and every
field's name and offset with what `bpftool btf dump` reads from the object.
"""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
from functools import cache
from typing import Any

from vigil.bpf_objects import object_path

__all__ = ["assert_mirrors_btf", "btf_structs", "btf_types"]

BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"


@cache
def btf_types(object_rel: str) -> tuple[dict[str, Any], ...]:
    """Every BTF type of a built object (e.g. "lab/03_execve.bpf.o"), as bpftool's JSON."""
    out = subprocess.run(
        [BPFTOOL, "-j", "btf", "dump", "file", str(object_path(object_rel))],
        check=True, capture_output=True, text=True,
    ).stdout
    return tuple(json.loads(out)["types"])


def btf_structs(object_rel: str) -> dict[str, dict[str, Any]]:
    """The object's named structs by name."""
    return {t["name"]: t for t in btf_types(object_rel) if t["kind"] == "STRUCT"}


def assert_mirrors_btf(object_rel: str, c_name: str, mirror: type[ctypes.Structure]) -> None:
    """`mirror` has struct `c_name`'s size and its fields, in order, at its offsets."""
    fix = f"update the mirror {mirror.__name__} in {mirror.__module__}"
    btf = btf_structs(object_rel).get(c_name)
    assert btf is not None, f"struct {c_name} missing from {object_rel}'s BTF"
    assert ctypes.sizeof(mirror) == btf["size"], (
        f"sizeof(struct {c_name}) is {btf['size']} in {object_rel}, "
        f"{ctypes.sizeof(mirror)} in Python: {fix}")
    c_fields = [(m["name"], m["bits_offset"]) for m in btf["members"]]
    py_fields = [(name, getattr(mirror, name).offset * 8) for name, *_ in mirror._fields_]
    for n, (c, py) in enumerate(zip(c_fields, py_fields, strict=False)):
        assert c == py, (
            f"struct {c_name} field {n}: C has {c[0]} at bit {c[1]} (byte {c[1] / 8:g}), "
            f"Python has {py[0]} at bit {py[1]} (byte {py[1] // 8}): {fix}")
    assert len(c_fields) == len(py_fields), (
        f"struct {c_name} has {len(c_fields)} fields in C "
        f"({', '.join(name for name, _ in c_fields)}), {len(py_fields)} in Python "
        f"({', '.join(name for name, _ in py_fields)}): {fix}")
