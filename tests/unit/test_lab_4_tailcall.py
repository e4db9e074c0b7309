"""Lesson 4's Python mirror of struct chain_event matches the object's BTF,
and its decoder names the stages that ran."""

from __future__ import annotations

from tests.btf_layout import assert_mirrors_btf
from vigil.lab.lessons.l04_tailcall import ChainEvent, decode, describe


def test_mirror_matches_btf() -> None:
    assert_mirrors_btf("lab/04_tailcall.bpf.o", "chain_event", ChainEvent)


def test_decode_and_describe_a_chain_that_hit_the_limit() -> None:
    raw = bytes(ChainEvent(pid=7, ran=0b11111, tail_calls=33, failed_slot=3, comm=b"sh"))
    event = decode(raw)
    assert event == {"pid": 7, "comm": "sh", "tail_calls": 33, "failed_slot": 3,
                     "ran": ["dispatch", "parse", "filter", "output", "again"]}
    assert describe(event) == ("pid 7 (sh): dispatch -> parse -> filter -> output -> again x30; "
                               "33 tail calls, then the call into slot 3 came back")
