"""A read-only mapping of names whose KeyError lists the names that do exist."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

V = TypeVar("V")

__all__ = ["NamedMapping"]


class NamedMapping(Mapping[str, V]):
    """Programs or maps by name; a typo gets the list of real names back."""

    __slots__ = ("_items", "_kind", "_owner")

    def __init__(self, kind: str, owner: str, items: dict[str, V]) -> None:
        self._kind = kind
        self._owner = owner
        self._items = items

    def __getitem__(self, name: str) -> V:
        try:
            return self._items[name]
        except KeyError:
            available = ", ".join(sorted(self._items)) or "none"
            raise KeyError(
                f"no {self._kind} named {name!r} in {self._owner}; available: {available}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"<{self._kind}s of {self._owner}: {', '.join(self._items)}>"
