"""TypedMap: a Map seen through ctypes key and value types.

The ctypes types are Python's copy of C structs; if the C side changes and
the copy does not, every value would be silently misread. So the sizes are
compared with the map's at construction, and a mismatch is an error.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._lib import possible_cpus
from .errors import MapError

if TYPE_CHECKING:
    from ctypes import Array, Structure, Union, _SimpleCData

    from .maps import Map

__all__ = ["K", "TypedMap", "V"]

K = TypeVar("K", bound="_SimpleCData[Any] | Structure | Union | Array[Any]")
V = TypeVar("V", bound="_SimpleCData[Any] | Structure | Union | Array[Any]")


def _encode(ctype: type[Any], item: object, what: str) -> bytes:
    """Bytes of a ctypes instance; plain ints are accepted for scalar types (c_uint32...)."""
    if isinstance(item, ctype):
        return bytes(cast("ctypes._SimpleCData[Any]", item))
    if isinstance(item, int) and issubclass(ctype, ctypes._SimpleCData):
        return bytes(ctype(item))
    raise TypeError(f"{what} must be {ctype.__name__}, not {type(item).__name__}")


class TypedMap(MutableMapping[K, V]):
    """Dict-like access to a map: m[key] -> value, with KeyError when absent.

    Keys and values are instances of the ctypes types given; for scalar types
    a plain int is accepted wherever a key or value is passed in.
    """

    __slots__ = ("key_type", "map", "value_type")

    def __init__(self, map: Map, key_type: type[K], value_type: type[V]) -> None:
        for role, ctype, expected in (
            ("key", key_type, map.key_size),
            ("value", value_type, map.value_size),
        ):
            size = ctypes.sizeof(ctype)
            if size != expected:
                raise MapError(
                    f"map '{map.name}' has {expected}-byte {role}s but {ctype.__name__} is "
                    f"{size} bytes: the Python struct no longer matches the C one"
                )
        self.map = map
        self.key_type = key_type
        self.value_type = value_type

    def _key(self, key: object) -> bytes:
        return _encode(self.key_type, key, f"key of map '{self.map.name}'")

    def __getitem__(self, key: K | int) -> V:
        try:
            raw = self.map.lookup(self._key(key))
        except KeyError:
            raise KeyError(key) from None
        return cast(V, self.value_type.from_buffer_copy(raw))

    def __setitem__(self, key: K | int, value: V | int) -> None:
        encoded = _encode(self.value_type, value, f"value of map '{self.map.name}'")
        if self.map.is_percpu:
            # Per-CPU maps take one slot per CPU; a single value goes to every CPU.
            encoded = encoded.ljust(self.map.percpu_stride, b"\0") * possible_cpus()
        self.map.update(self._key(key), encoded)

    def __delitem__(self, key: K | int) -> None:
        try:
            self.map.delete(self._key(key))
        except KeyError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[K]:
        key_type = self.key_type
        for raw in self.map.keys():  # noqa: SIM118 - Map is not a dict: keys() is the walk
            yield cast(K, key_type.from_buffer_copy(raw))

    def __len__(self) -> int:
        # The kernel keeps no count: the only way to know is to walk the keys.
        return sum(1 for _ in self.map.keys())  # noqa: SIM118

    def get_percpu(self, key: K | int) -> list[V]:
        """One value per possible CPU; KeyError if absent."""
        try:
            slices = self.map.lookup_percpu(self._key(key))
        except KeyError:
            raise KeyError(key) from None
        value_type = self.value_type
        return [cast(V, value_type.from_buffer_copy(raw)) for raw in slices]

    def sum_percpu(self, key: K | int) -> int:
        """The sum over CPUs of an integer per-CPU value (a per-CPU counter's total)."""
        if not issubclass(self.value_type, ctypes._SimpleCData) or not isinstance(
            self.value_type(0).value, int
        ):
            raise MapError(
                f"sum_percpu needs an integer value type; map '{self.map.name}' is typed "
                f"with {self.value_type.__name__}"
            )
        return sum(
            int(v.value) for v in cast("list[ctypes._SimpleCData[int]]", self.get_percpu(key))
        )

    def __repr__(self) -> str:
        return f"<TypedMap {self.map.name} {self.key_type.__name__} -> {self.value_type.__name__}>"
