"""Lesson 2's user side: draining finished time slots out of a map."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from ctypes import c_uint64

from vigil.lab.lessons.l02_maps import drain


class Slots(MutableMapping[c_uint64, c_uint64]):
    """A map of slots as TypedMap presents it: ctypes keys and values."""

    def __init__(self, **counts: int) -> None:
        self.data = {int(k.lstrip("s")): v for k, v in counts.items()}

    def __getitem__(self, key: c_uint64) -> c_uint64:
        return c_uint64(self.data[key.value])

    def __setitem__(self, key: c_uint64, value: c_uint64) -> None:
        self.data[key.value] = value.value

    def __delitem__(self, key: c_uint64) -> None:
        del self.data[key.value]

    def __iter__(self) -> Iterator[c_uint64]:
        return (c_uint64(k) for k in list(self.data))

    def __len__(self) -> int:
        return len(self.data)


def test_drain_takes_only_slots_that_are_over() -> None:
    m = Slots(s10=5, s11=7, s12=1)
    assert drain(m, before=12) == 12
    assert m.data == {12: 1}


def test_drain_everything_at_the_end() -> None:
    m = Slots(s10=5, s11=7)
    assert drain(m, before=None) == 12
    assert not m.data
