"""Go's strconv.ParseInt / ParseUint / ParseBool, as Tetragon parses policy values.

A value that Tetragon's parser refuses at load time is refused here at
validation, with the same rules: base 0 takes 0x, 0o, 0b and a leading 0
(octal) and underscores between digits; ParseUint takes no sign.
"""

from __future__ import annotations

import re

__all__ = ["RATE_LIMIT", "parse_bool", "parse_int"]

_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


def _digits_ok(digits: str, base: int, underscores: bool) -> bool:
    if not digits:
        return False
    if "_" in digits:
        if not underscores or "__" in digits or digits.endswith("_"):
            return False
        digits = digits.replace("_", "")
        if not digits:
            return False
    return all(c in _DIGITS[base] for c in digits)


def parse_int(text: str, *, bits: int = 64, signed: bool = True, base: int = 0) -> int | None:
    """The integer Go would parse from ``text``, or None where Go returns an error."""
    s = text
    negative = False
    if s[:1] in ("+", "-"):
        if not signed:
            return None
        negative = s[0] == "-"
        s = s[1:]
    underscores = False
    prefixed = False
    if base == 0:
        underscores = True
        low = s[:2].lower()
        if low in ("0x", "0b", "0o"):
            base = {"0x": 16, "0b": 2, "0o": 8}[low]
            s = s[2:]
            prefixed = True
        elif len(s) > 1 and s[0] == "0":
            base = 8
            s = s[1:]
            prefixed = True
        else:
            base = 10
    if prefixed and s.startswith("_"):
        s = s[1:]  # "0x_1f": an underscore may follow the base prefix
        if not s or s.startswith("_"):
            return None
    elif s.startswith("_"):
        return None
    if not _digits_ok(s, base, underscores):
        return None
    value = int(s.replace("_", ""), base)
    if negative:
        value = -value
    if signed:
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        lo, hi = 0, 2**bits - 1
    return value if lo <= value <= hi else None


_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
          "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def parse_bool(text: str) -> bool | None:
    return _BOOLS.get(text)


# a decimal unsigned integer with an optional unit (rateLimit: "10", "10s", "5m", "1h")
RATE_LIMIT = re.compile(r"^([0-9]+)([smhSMH]?)$")
