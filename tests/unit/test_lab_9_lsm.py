"""Lesson 9's user side: its mirror of the denial record matches the object's BTF."""

from __future__ import annotations

from tests.btf_layout import assert_mirrors_btf
from vigil.lab.lessons.l09_lsm import Denial


def test_denial_matches_btf() -> None:
    assert_mirrors_btf("lab/09_lsm.bpf.o", "denial", Denial)
