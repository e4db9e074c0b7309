"""Match bits (sensors/match_bits.py) and what the selector compiler makes of
matchBinaries, followForks and rateLimit. The kernel's side of the same is
tests/kernel/test_binary_selectors.py."""

from __future__ import annotations

import ctypes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.sensors.match_bits import BinaryMatch, PidFollow, binary_match, matches
from vigil.sensors.selectors import (
    ActionPlan,
    BinaryFilter,
    PidFilter,
    SelectorPlan,
    compile_selectors,
    match_wants,
    parse_rate_limit,
)
from vigil.wire.records import BIN_PATH_MAX, Selectors, SelPidFlag, SelRateScope


def compiled(selectors: list[SelectorPlan], bits: list[int] | None = None) -> Selectors:
    return Selectors.from_buffer_copy(compile_selectors(selectors, (), bits))


@pytest.mark.parametrize(("op", "mask"), [
    ("In", "bin_set"), ("Prefix", "bin_set"), ("Postfix", "bin_set"),
    ("NotIn", "bin_clear"), ("NotPrefix", "bin_clear"), ("NotPostfix", "bin_clear"),
])
def test_a_binary_filter_is_one_bit_set_or_clear(op: str, mask: str) -> None:
    sel = SelectorPlan(binaries=(BinaryFilter(op, ("/bin/a",)),))
    rec = compiled([sel], [37]).sel[0]
    other = "bin_clear" if mask == "bin_set" else "bin_set"
    assert getattr(rec, mask) == 1 << 37 and getattr(rec, other) == 0


def test_bits_go_where_match_wants_says() -> None:
    sels = [
        SelectorPlan(pids=(PidFilter("In", (5,)), PidFilter("NotIn", (6,), follow_forks=True))),
        SelectorPlan(binaries=(BinaryFilter("In", ("/x",), follow_children=True),),
                     pids=(PidFilter("In", (7,), follow_forks=True),)),
    ]
    wants = match_wants(sels)
    assert [w for w, _, _ in wants] == [(0, 1), (1, 0), (1,)]
    assert wants[0][1] == PidFollow((6,))
    assert wants[2][1] == BinaryMatch("exact", (b"/x",), True)
    rec = compiled(sels, [3, 63, 0])
    assert (rec.sel[0].pids[0].flags, rec.sel[0].pids[1].flags) == (0, SelPidFlag.FOLLOW)
    assert rec.sel[0].pids[1].bit == 3
    assert rec.sel[1].pids[0].flags == SelPidFlag.FOLLOW and rec.sel[1].pids[0].bit == 63
    assert rec.sel[1].bin_set == 1 and rec.sel[0].bin_set == rec.sel[0].bin_clear == 0


def test_a_wrong_number_of_bits_is_refused() -> None:
    sel = SelectorPlan(binaries=(BinaryFilter("In", ("/x",)),))
    with pytest.raises(ValueError, match="2 match bits for 1 filters"):
        compiled([sel], [1, 2])


@pytest.mark.parametrize(("f", "message"), [
    (BinaryFilter("Equal", ("/x",)), "matchBinaries takes In, NotIn, Prefix"),
    (BinaryFilter("Prefix", ("/x",), True), "followChildren: only with In or NotIn"),
    (BinaryFilter("In", ("",)), r"values\[0\]: an empty path"),
    (BinaryFilter("In", ()), "needs at least one path"),
    (BinaryFilter("In", ("/" + "a" * (BIN_PATH_MAX - 1),)), "256 bytes; a binary path for In "
     "is at most 255"),
    (BinaryFilter("Prefix", ("/" + "a" * BIN_PATH_MAX,)), "257 bytes; a binary path for Prefix "
     "is at most 256"),
    (BinaryFilter("NotPostfix", ("/" + "a" * BIN_PATH_MAX,)), "257 bytes; a binary path for "
     "NotPostfix is at most 256"),
])
def test_bad_binary_filters(f: BinaryFilter, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compiled([SelectorPlan(binaries=(f,))])


def test_the_longest_binary_paths_compile() -> None:
    value = "/" + "a" * (BIN_PATH_MAX - 2)
    m, negated = binary_match("w", "In", [value], False)
    assert m.values == (value.encode(),) and not negated
    m, negated = binary_match("w", "NotPrefix", [value + "a"], False)
    assert m == BinaryMatch("prefix", ((value + "a").encode(),)) and negated


def test_one_matchbinaries_per_selector() -> None:
    sel = SelectorPlan(binaries=(BinaryFilter("In", ("/x",)), BinaryFilter("In", ("/y",))))
    with pytest.raises(ValueError, match="2 filters; a selector takes one"):
        compiled([sel])


@pytest.mark.parametrize(("text", "ms"), [
    ("1", 1000), ("10s", 10_000), ("10S", 10_000), ("2m", 120_000), ("1h", 3_600_000),
    ("0", 0), ("4294967295h", (1 << 32) - 1),
])
def test_rate_limits_as_tetragon_reads_them(text: str, ms: int) -> None:
    assert parse_rate_limit("w", text, "") == (ms, SelRateScope.THREAD)


@pytest.mark.parametrize("text", ["", "s", "1d", "-1", "1.5", "4294967296", "１"])
def test_bad_rate_limits(text: str) -> None:
    with pytest.raises(ValueError, match="rateLimit"):
        parse_rate_limit("w", text, "")


def test_rate_limit_scopes() -> None:
    assert parse_rate_limit("w", "1", "process")[1] == SelRateScope.PROCESS
    assert parse_rate_limit("w", "1", "global")[1] == SelRateScope.GLOBAL
    with pytest.raises(ValueError, match="rateLimitScope: 'node'"):
        parse_rate_limit("w", "1", "node")


def test_rate_limit_compiles_on_post_only() -> None:
    rec = compiled([SelectorPlan(actions=(ActionPlan("Post", rate_limit="5s",
                                                     rate_limit_scope="global"),))])
    act = rec.sel[0].actions[0]
    assert (act.rate_ms, act.rate_scope) == (5000, SelRateScope.GLOBAL)
    with pytest.raises(ValueError, match="only a Post action takes a rate limit"):
        compiled([SelectorPlan(actions=(ActionPlan("Sigkill", rate_limit="5s"),))])
    with pytest.raises(ValueError, match="rateLimitScope: given without a rateLimit"):
        compiled([SelectorPlan(actions=(ActionPlan("Post", rate_limit_scope="thread"),))])


def test_matches_at_the_256_byte_edges() -> None:
    long = b"/" + b"x" * 299 + b"/tail"
    assert matches(BinaryMatch("prefix", (b"/xx",)), long)
    assert matches(BinaryMatch("postfix", (b"x/tail",)), long)
    assert not matches(BinaryMatch("exact", (long[:255],)), long)
    p255 = b"/" + b"y" * 254
    assert matches(BinaryMatch("exact", (p255,)), p255)  # with its NUL, the key holds it
    p256 = p255 + b"y"
    assert not matches(BinaryMatch("exact", (p256,)), p256)  # no room for the NUL
    assert not matches(BinaryMatch("exact", (p255,)), p256)


@given(st.binary(min_size=1, max_size=400), st.binary(min_size=1, max_size=255))
def test_matches_is_the_kernel_lookup(path: bytes, value: bytes) -> None:
    # The kernel keys the first and the last 256 bytes; a value of at most
    # 255 bytes is a prefix or a suffix of those exactly when of the path.
    assert matches(BinaryMatch("prefix", (value,)), path) == path.startswith(value)
    assert matches(BinaryMatch("postfix", (value,)), path) == path.endswith(value)
    assert matches(BinaryMatch("exact", (value,)), path) == (path == value and len(path) < 256)


def test_bin_key_layout() -> None:
    from vigil.wire.records import BinKey
    assert ctypes.sizeof(BinKey) == 4 + BIN_PATH_MAX
