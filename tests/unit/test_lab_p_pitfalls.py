"""The pitfall lessons' pure logic: their Python mirrors of the C records
match the objects' BTF, and the decoders and log filters say what they should."""

from __future__ import annotations

import ctypes
import os
import struct

import pytest

from tests.btf_layout import assert_mirrors_btf
from vigil.lab.lessons import lp1_stack, lp2_heap_leak, lp3_loop, lp4_counters


@pytest.mark.parametrize(("obj", "c_name", "mirror"), [
    (lp1_stack.OBJECT, "seen", lp1_stack.Seen),
    (lp2_heap_leak.OBJECT, "open_rec", lp2_heap_leak.OpenRec),
    (lp3_loop.OBJECT, "tally", lp3_loop.Tally),
])
def test_mirror_matches_btf(obj: str, c_name: str, mirror: type[ctypes.Structure]) -> None:
    assert_mirrors_btf(obj, c_name, mirror)


def open_rec(name: bytes, name_len: int, variant: int = 1, tgid: int = 42) -> bytes:
    return struct.pack("<IIi64s", tgid, variant, name_len, name)


def test_decode_separates_the_path_from_stale_bytes() -> None:
    o = lp2_heap_leak.decode(open_rec(b"/tmp\0leak\0\0older", 5))
    assert o == {"variant": "leaky", "pid": 42, "name": "/tmp", "name_len": 5,
                 "leaked": "leakolder"}


def test_decode_clean_record_and_failed_read() -> None:
    assert lp2_heap_leak.decode(open_rec(b"/tmp", 5, variant=2))["leaked"] == ""
    # A failed read (negative length) counts every non-zero byte as stale.
    failed = lp2_heap_leak.decode(open_rec(b"old", -14))
    assert (failed["name"], failed["leaked"]) == ("", "old")


def test_decode_refuses_a_record_of_another_size() -> None:
    with pytest.raises(ValueError, match="rebuild"):
        lp2_heap_leak.decode(b"\0" * 10)


def test_expected_tally_looks_at_the_first_chunk_only() -> None:
    assert lp3_loop.expected_tally() == {"writes": 2, "bytes": 17 + 256,
                                         "newlines": 3 + 25, "cut": 1}
    assert lp3_loop.expected_tally((b"a\nb\n",), chunk=2) == {
        "writes": 1, "bytes": 2, "newlines": 1, "cut": 1}


def test_refusal_lines_keep_the_reason_its_context_and_totals() -> None:
    log = "\n".join([
        "0: (b7) r6 = 0", "24: (bf) r1 = r6", "25: (07) r6 += 1 ; R6=8191",
        "26: (ad) if r6 < r7 goto pc+6", "The sequence of 8193 jumps is too complex.",
        "verification time 1 usec",
        "processed 139298 insns (limit 1000000) max_states_per_insn 4",
    ])
    assert lp3_loop.refusal_lines(log) == [
        "25: (07) r6 += 1 ; R6=8191", "26: (ad) if r6 < r7 goto pc+6",
        "The sequence of 8193 jumps is too complex.",
        "processed 139298 insns (limit 1000000) max_states_per_insn 4",
    ]
    assert lp3_loop.refusal_lines("back-edge from insn 9 to 3\n") == [
        "back-edge from insn 9 to 3"]


def test_stack_lines_pick_the_stack_verdict() -> None:
    log = ("0: R1=ctx() R10=fp0\ncombined stack size of 2 calls is 736. Too large\n"
           "processed 41 insns (limit 1000000)\n")
    assert lp1_stack.stack_lines(log) == ["combined stack size of 2 calls is 736. Too large"]


def test_lost_counts_and_worker_cpus() -> None:
    counts = {"plain": 90, "wide": 50, "atomic": 100, "percpu": 100}
    assert lp4_counters.lost(counts, 100) == {"plain": 10, "wide": 50, "atomic": 0,
                                              "percpu": 0}
    first, second = lp4_counters.worker_cpus()
    allowed = os.sched_getaffinity(0)
    assert {first, second} <= allowed
    assert (first != second) == (len(allowed) > 1)
