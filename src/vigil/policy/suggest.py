"""Did-you-mean: the allowed word closest to a wrong one (difflib)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = ["closest", "one_of"]


def closest(word: str, allowed: Sequence[str]) -> str | None:
    """The allowed word meant by ``word``: same letters in another case first, else the
    nearest by difflib's ratio (case-insensitive), else None."""
    lowered = {a.lower(): a for a in allowed}
    if word.lower() in lowered:
        return lowered[word.lower()]
    got = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[got[0]] if got else None


def one_of(allowed: Sequence[str], limit: int = 60) -> str:
    """"a, b or c", shortened with a count when the list is long."""
    words = list(allowed)
    if len(words) > limit:
        return ", ".join(words[:limit]) + f", ... ({len(words) - limit} more)"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]
