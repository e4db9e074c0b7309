"""resolve: paths parsed (Tetragon's a.b[2].c syntax): every well-formed path
round-trips, and anything else is an error that says where it breaks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.sensors.btf_resolve import parse_resolve

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
PARTS = st.lists(st.one_of(NAMES, st.integers(0, 10**6)), min_size=1, max_size=12)


def text_of(parts: list[str | int]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


@given(PARTS)
def test_round_trip(parts: list[str | int]) -> None:
    assert parse_resolve(text_of(parts)) == parts


@pytest.mark.parametrize(("text", "message"), [
    ("", "resolve is empty; write a field path such as f_path.dentry"),
    ("a..b", "resolve 'a..b': at 2, expected a field name"),
    ("a.", "resolve 'a.': at 2, expected a field name"),
    ("a[x]", "resolve 'a[x]': at 1, an index is [N] with N a number"),
    ("a[1", "resolve 'a[1': at 1, an index is [N] with N a number"),
    ("a b", "resolve 'a b': at 1, expected '.' or '[' after 'a'"),
    ("1a", "resolve '1a': at 0, expected a field name"),
    ("a[-1]", "resolve 'a[-1]': at 1, an index is [N] with N a number"),
])
def test_errors_say_where(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_resolve(text)
    assert str(err.value) == message


@given(st.text(max_size=40))
def test_any_text_parses_or_says_why(text: str) -> None:
    try:
        parts = parse_resolve(text)
    except ValueError as err:
        assert str(err).startswith("resolve ")
    else:
        assert text_of(parts) == text
