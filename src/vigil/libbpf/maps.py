"""BPF maps: OpenMap (before load: resize) and Map (after load: raw byte access).

Map works on bytes so it never guesses a layout; ``Map.typed`` puts ctypes
types on top, checking their sizes against the map's (see typed.py).
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ._lib import cstr, lib, possible_cpus
from ._owner import Owner
from .errors import MapError

if TYPE_CHECKING:
    from .typed import K, TypedMap, V

__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_NOEXIST",
    "PERCPU_MAP_TYPES",
    "Map",
    "OpenMap",
]

# Update flags (include/uapi/linux/bpf.h).
BPF_ANY = 0  # create or replace
BPF_NOEXIST = 1  # create only
BPF_EXIST = 2  # replace only

# enum bpf_map_type values whose lookups return one value per possible CPU.
BPF_MAP_TYPE_PERCPU_HASH = 5
BPF_MAP_TYPE_PERCPU_ARRAY = 6
BPF_MAP_TYPE_LRU_PERCPU_HASH = 10
BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE = 21
PERCPU_MAP_TYPES = frozenset(
    {
        BPF_MAP_TYPE_PERCPU_HASH,
        BPF_MAP_TYPE_PERCPU_ARRAY,
        BPF_MAP_TYPE_LRU_PERCPU_HASH,
        BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE,
    }
)


class BpfMapInfo(ctypes.Structure):
    """The head of struct bpf_map_info (include/uapi/linux/bpf.h); the kernel
    fills as much as the length passed says, so the head is enough."""

    _fields_ = (
        ("type", ctypes.c_uint32),
        ("id", ctypes.c_uint32),
        ("key_size", ctypes.c_uint32),
        ("value_size", ctypes.c_uint32),
        ("max_entries", ctypes.c_uint32),
        ("map_flags", ctypes.c_uint32),
        ("name", ctypes.c_char * 16),
    )


def map_info(fd: int) -> BpfMapInfo:
    """What the kernel says of the map behind fd."""
    info = BpfMapInfo()
    size = ctypes.c_uint32(ctypes.sizeof(info))
    ret = int(lib().bpf_obj_get_info_by_fd(fd, ctypes.addressof(info), ctypes.byref(size)))
    if ret < 0:
        raise MapError(f"no map information for fd {fd}", -ret)
    return info


class OpenMap:
    """A map of an opened, not yet loaded object: its size can still change."""

    __slots__ = ("_owner", "_ptr", "name")

    def __init__(self, owner: Owner, ptr: int) -> None:
        self._owner = owner
        self._ptr = ptr
        self.name = cstr(lib().bpf_map__name(ptr))

    @property
    def max_entries(self) -> int:
        self._owner.require(f"read max_entries of map '{self.name}'")
        return int(lib().bpf_map__max_entries(self._ptr))

    @max_entries.setter
    def max_entries(self, value: int) -> None:
        self._owner.require(f"resize map '{self.name}'")
        ret = int(lib().bpf_map__set_max_entries(self._ptr, value))
        if ret < 0:
            raise MapError(f"cannot set max_entries of map '{self.name}' to {value}", -ret)

    @property
    def value_size(self) -> int:
        self._owner.require(f"read value_size of map '{self.name}'")
        return int(lib().bpf_map__value_size(self._ptr))

    @property
    def key_size(self) -> int:
        self._owner.require(f"read key_size of map '{self.name}'")
        return int(lib().bpf_map__key_size(self._ptr))

    def reuse_fd(self, fd: int) -> None:
        """Use the existing map `fd` instead of creating this one at load, so
        several objects share one map. libbpf duplicates fd (the caller keeps
        its own) and takes the other map's definition without comparing it,
        so the type and the key and value sizes are checked here."""
        self._owner.require(f"make map '{self.name}' reuse a map")
        theirs = map_info(fd)
        ours = (int(lib().bpf_map__type(self._ptr)), self.key_size, self.value_size)
        if (theirs.type, theirs.key_size, theirs.value_size) != ours:
            raise MapError(
                f"map '{self.name}' (type {ours[0]}, key {ours[1]} B, value {ours[2]} B) "
                f"cannot reuse map '{cstr(theirs.name)}' (type {theirs.type}, "
                f"key {theirs.key_size} B, value {theirs.value_size} B): they differ"
            )
        ret = int(lib().bpf_map__reuse_fd(self._ptr, fd))
        if ret < 0:
            raise MapError(f"map '{self.name}' cannot reuse map fd {fd}", -ret)

    def initial_value(self) -> tuple[int, int]:
        """(address, size) of the buffer libbpf will load into this data map."""
        self._owner.require(f"set the initial value of map '{self.name}'")
        size = ctypes.c_size_t(0)
        addr = lib().bpf_map__initial_value(self._ptr, ctypes.byref(size))
        if not addr:
            raise MapError(f"map '{self.name}' has no initial value (not a data section map)")
        return int(addr), size.value

    def __repr__(self) -> str:
        return f"<OpenMap {self.name}>"


class Map:
    """A loaded map. Keys and values are raw bytes of exactly key_size/value_size."""

    __slots__ = ("_fd", "_owner", "key_size", "max_entries", "name", "type", "value_size")

    def __init__(self, owner: Owner, ptr: int) -> None:
        libbpf = lib()
        self._owner = owner
        self.name = cstr(libbpf.bpf_map__name(ptr))
        # Fixed once the map exists, so read them once.
        self.type = int(libbpf.bpf_map__type(ptr))
        self.key_size = int(libbpf.bpf_map__key_size(ptr))
        self.value_size = int(libbpf.bpf_map__value_size(ptr))
        self.max_entries = int(libbpf.bpf_map__max_entries(ptr))
        self._fd = int(libbpf.bpf_map__fd(ptr))

    @property
    def fd(self) -> int:
        self._owner.require(f"use map '{self.name}'")
        return self._fd

    @property
    def is_percpu(self) -> bool:
        return self.type in PERCPU_MAP_TYPES

    @property
    def percpu_stride(self) -> int:
        """Bytes per CPU in a per-CPU value: the kernel rounds value_size up to 8."""
        return (self.value_size + 7) & ~7

    def _value_bytes(self) -> int:
        if self.is_percpu:
            return self.percpu_stride * possible_cpus()
        return self.value_size

    def _check_key(self, key: bytes) -> None:
        if len(key) != self.key_size:
            raise MapError(f"map '{self.name}' has {self.key_size}-byte keys; got {len(key)} bytes")

    def _lookup_raw(self, key: bytes) -> bytes:
        self._check_key(key)
        value = ctypes.create_string_buffer(self._value_bytes())
        ret = int(lib().bpf_map_lookup_elem(self.fd, key, value))
        if ret == -errno.ENOENT:
            raise KeyError(key)
        if ret < 0:
            raise MapError(f"lookup in map '{self.name}' failed", -ret)
        return value.raw

    def lookup(self, key: bytes) -> bytes:
        """The value stored under key; KeyError if absent. Per-CPU maps: all CPUs' bytes."""
        return self._lookup_raw(key)

    def lookup_percpu(self, key: bytes) -> list[bytes]:
        """One value_size slice per possible CPU; KeyError if absent."""
        if not self.is_percpu:
            raise MapError(f"map '{self.name}' (type {self.type}) is not a per-CPU map")
        raw = self._lookup_raw(key)
        stride, size = self.percpu_stride, self.value_size
        return [raw[i : i + size] for i in range(0, len(raw), stride)]

    def update(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> None:
        """Store value under key. BPF_NOEXIST/BPF_EXIST make it create-/replace-only.

        For per-CPU maps value holds every CPU's slot (see percpu_stride).
        """
        self._check_key(key)
        expected = self._value_bytes()
        if len(value) != expected:
            raise MapError(
                f"map '{self.name}' takes {expected}-byte values; got {len(value)} bytes"
            )
        ret = int(lib().bpf_map_update_elem(self.fd, key, value, flags))
        if ret < 0:
            raise MapError(f"update of map '{self.name}' failed", -ret)

    def delete(self, key: bytes) -> None:
        """Remove key; KeyError if absent."""
        self._check_key(key)
        ret = int(lib().bpf_map_delete_elem(self.fd, key))
        if ret == -errno.ENOENT:
            raise KeyError(key)
        if ret < 0:
            raise MapError(f"delete from map '{self.name}' failed", -ret)

    def keys(self) -> Iterator[bytes]:
        """Every key, via bpf_map_get_next_key; a hash map changed meanwhile may repeat keys."""
        libbpf = lib()
        current: bytes | None = None
        following = ctypes.create_string_buffer(self.key_size)
        while True:
            ret = int(libbpf.bpf_map_get_next_key(self.fd, current, following))
            if ret == -errno.ENOENT:
                return
            if ret < 0:
                raise MapError(f"iterating map '{self.name}' failed", -ret)
            current = following.raw
            yield current

    def typed(self, key_type: type[K], value_type: type[V]) -> TypedMap[K, V]:
        """A MutableMapping view with ctypes keys and values; sizes are checked now."""
        from .typed import TypedMap

        return TypedMap(self, key_type, value_type)

    def __repr__(self) -> str:
        return f"<Map {self.name} type={self.type} key={self.key_size} value={self.value_size}>"
