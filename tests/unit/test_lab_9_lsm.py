"""Lesson 9's user side: its mirror of the denial record matches the object's BTF."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess

from vigil.bpf_objects import object_path
from vigil.lab.lessons.l09_lsm import Denial

BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"


def test_denial_matches_btf() -> None:
    out = subprocess.run(
        [BPFTOOL, "-j", "btf", "dump", "file", str(object_path("lab/09_lsm.bpf.o"))],
        check=True, capture_output=True, text=True,
    ).stdout
    btf = next(t for t in json.loads(out)["types"]
               if t["kind"] == "STRUCT" and t["name"] == "denial")
    assert ctypes.sizeof(Denial) == btf["size"]
    assert [(n, getattr(Denial, n).offset * 8) for n, *_ in Denial._fields_] == [
        (m["name"], m["bits_offset"]) for m in btf["members"]]

