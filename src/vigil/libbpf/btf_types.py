"""BTF types read through libbpf: the running kernel's (vmlinux) by default.

    with Btf.vmlinux() as btf:
        tid = btf.find("btf_trace_sched_process_fork", BtfKind.TYPEDEF)
        btf.type_text(tid)            # 'btf_trace_sched_process_fork'
        btf.type_text(btf.type(tid).ref)  # 'void (*)(void *, struct task_struct *, ...)'
        btf.struct("trace_entry").members

libbpf parses the BTF (``btf__load_vmlinux_btf``) and hands out each type's
raw record (``btf__type_by_id``): a ``struct btf_type`` header followed by
kind-specific data. ``parse_type`` turns a record into a ``BtfTypeInfo``; it is
a pure function over bytes, unit-tested without a kernel. (``_btf.py`` does the
same for an object's DATASEC only, which ``set_rodata`` needs.)
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import IntEnum

from vigil.closing import Closable

from ._btf import BtfType
from ._lib import cstr, lib
from .errors import BpfError

__all__ = [
    "Btf",
    "BtfArray",
    "BtfKind",
    "BtfMember",
    "BtfParam",
    "BtfTypeInfo",
    "parse_type",
    "record_size",
]


class BtfKind(IntEnum):
    """BTF_KIND_* of include/uapi/linux/btf.h."""

    UNKN = 0  # void, as type id 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


# Bytes after the 12-byte header: fixed per kind, or per vlen entry.
_FIXED_TAIL = {BtfKind.INT: 4, BtfKind.ARRAY: 12, BtfKind.VAR: 4, BtfKind.DECL_TAG: 4}
_PER_ENTRY = {
    BtfKind.STRUCT: 12, BtfKind.UNION: 12, BtfKind.ENUM: 8, BtfKind.FUNC_PROTO: 8,
    BtfKind.DATASEC: 12, BtfKind.ENUM64: 12,
}
_HEADER = ctypes.sizeof(BtfType)
# Kinds whose third header word is a size, not a type id.
_SIZED = {BtfKind.INT, BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM, BtfKind.ENUM64,
          BtfKind.FLOAT, BtfKind.DATASEC}
# Kinds that only qualify or rename the type they refer to.
_MODIFIERS = {BtfKind.TYPEDEF, BtfKind.CONST, BtfKind.VOLATILE, BtfKind.RESTRICT,
              BtfKind.TYPE_TAG}
_QUALIFIER = {BtfKind.CONST: "const", BtfKind.VOLATILE: "volatile", BtfKind.RESTRICT: "restrict"}
_MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class BtfMember:
    """A struct or union member; ``bit_size`` is 0 unless it is a bit-field."""

    name: str
    type_id: int
    bit_offset: int
    bit_size: int = 0


@dataclass(frozen=True, slots=True)
class BtfParam:
    """A FUNC_PROTO parameter (``name`` is '' in the anonymous protos of typedefs)."""

    name: str
    type_id: int


@dataclass(frozen=True, slots=True)
class BtfArray:
    element: int
    index_type: int
    nelems: int


@dataclass(frozen=True, slots=True)
class BtfTypeInfo:
    """One BTF type record.

    ``size`` is set for sized kinds (INT, STRUCT, UNION, ENUM, ENUM64, FLOAT,
    DATASEC); ``ref`` is the referred type for the others (the target of PTR,
    TYPEDEF and qualifiers, the return type of FUNC_PROTO, the proto of FUNC).
    """

    id: int
    kind: BtfKind
    name: str
    vlen: int
    kind_flag: bool
    size: int = 0
    ref: int = 0
    members: tuple[BtfMember, ...] = ()
    params: tuple[BtfParam, ...] = ()
    array: BtfArray | None = None
    int_signed: bool = False
    int_bits: int = 0
    enum_values: tuple[tuple[str, int], ...] = ()


def record_size(header: bytes) -> int:
    """Bytes of the whole type record that starts with this 12-byte header."""
    if len(header) < _HEADER:
        raise ValueError(f"BTF type header truncated: {len(header)} bytes, need {_HEADER}")
    hdr = BtfType.from_buffer_copy(header)
    try:
        kind = BtfKind(hdr.kind)
    except ValueError:
        raise ValueError(f"unknown BTF kind {hdr.kind}: the BTF is newer than vigil") from None
    return _HEADER + _FIXED_TAIL.get(kind, 0) + _PER_ENTRY.get(kind, 0) * hdr.vlen


def parse_type(type_id: int, raw: bytes, name_of: Callable[[int], str]) -> BtfTypeInfo:
    """A type record (header and tail, as ``record_size`` measures) made readable.

    ``name_of`` turns a string-section offset into the string.
    """
    need = record_size(raw)
    if len(raw) < need:
        raise ValueError(f"BTF type {type_id} truncated: {len(raw)} bytes, its record has {need}")
    hdr = BtfType.from_buffer_copy(raw)
    kind = BtfKind(hdr.kind)
    kind_flag = bool(hdr.info >> 31)
    third = int(hdr.size_or_type)
    base = BtfTypeInfo(
        type_id, kind, name_of(hdr.name_off) if hdr.name_off else "", hdr.vlen, kind_flag,
        size=third if kind in _SIZED else 0, ref=0 if kind in _SIZED else third,
    )
    tail = raw[_HEADER:need]
    if kind is BtfKind.INT:
        (enc,) = struct.unpack_from("<I", tail)
        return replace(base, int_signed=bool((enc >> 24) & 1), int_bits=enc & 0xFF)
    if kind is BtfKind.ARRAY:
        return replace(base, array=BtfArray(*struct.unpack_from("<III", tail)))
    if kind in (BtfKind.STRUCT, BtfKind.UNION):
        members = []
        for i in range(hdr.vlen):
            name_off, member_type, offset = struct.unpack_from("<III", tail, 12 * i)
            members.append(BtfMember(
                name_of(name_off) if name_off else "", member_type,
                offset & 0xFFFFFF if kind_flag else offset, offset >> 24 if kind_flag else 0,
            ))
        return replace(base, members=tuple(members))
    if kind is BtfKind.FUNC_PROTO:
        params = tuple(
            BtfParam(name_of(n) if n else "", t)
            for n, t in (struct.unpack_from("<II", tail, 8 * i) for i in range(hdr.vlen))
        )
        return replace(base, params=params)
    if kind is BtfKind.ENUM:
        fmt = "<Ii" if kind_flag else "<II"
        entries = (struct.unpack_from(fmt, tail, 8 * i) for i in range(hdr.vlen))
        return replace(base, enum_values=tuple((name_of(n), v) for n, v in entries))
    if kind is BtfKind.ENUM64:
        values = []
        for i in range(hdr.vlen):
            n, lo, hi = struct.unpack_from("<III", tail, 12 * i)
            v = hi << 32 | lo
            values.append((name_of(n), v - (1 << 64) if kind_flag and hi >> 31 else v))
        return replace(base, enum_values=tuple(values))
    return base


class Btf(Closable):
    """A parsed BTF (a ``struct btf *`` libbpf owns); ``close()`` frees it."""

    def __init__(self, ptr: int, source: str) -> None:
        self._ptr: int | None = ptr
        self.source = source
        self._names: dict[BtfKind, dict[str, int]] = {}

    @classmethod
    def vmlinux(cls) -> Btf:
        """The running kernel's BTF (libbpf reads /sys/kernel/btf/vmlinux)."""
        ptr = lib().btf__load_vmlinux_btf()
        if not ptr:
            err = ctypes.get_errno()
            raise BpfError(
                f"cannot load the kernel's BTF from /sys/kernel/btf/vmlinux: {os.strerror(err)}; "
                "the kernel needs CONFIG_DEBUG_INFO_BTF=y, and the file must be readable (root)"
            )
        return cls(int(ptr), "/sys/kernel/btf/vmlinux")

    def _require(self) -> int:
        if self._ptr is None:
            raise BpfError(f"BTF of {self.source} is closed")
        return self._ptr

    def close(self) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            lib().btf__free(ptr)

    def __repr__(self) -> str:
        return f"<Btf {self.source}{' closed' if self._ptr is None else ''}>"

    # --- lookups ----------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of type ids, void (0) included: valid ids are 0 .. len - 1."""
        return int(lib().btf__type_cnt(self._require()))

    def _name(self, offset: int) -> str:
        return cstr(lib().btf__name_by_offset(self._require(), offset))

    def find(self, name: str, kind: BtfKind) -> int | None:
        """The id of the type of that name and kind, or None."""
        type_id = int(lib().btf__find_by_name_kind(self._require(), name.encode(), int(kind)))
        return type_id if type_id > 0 else None

    def type(self, type_id: int) -> BtfTypeInfo:
        """The type with that id (0 is void); KeyError when there is none."""
        if type_id == 0:
            return BtfTypeInfo(0, BtfKind.UNKN, "void", 0, False)
        ptr = lib().btf__type_by_id(self._require(), type_id) if type_id > 0 else None
        if not ptr:
            raise KeyError(f"no BTF type id {type_id} in {self.source} ({len(self)} types)")
        header = ctypes.string_at(ptr, _HEADER)
        return parse_type(type_id, ctypes.string_at(ptr, record_size(header)), self._name)

    def kind_of(self, type_id: int) -> BtfKind:
        if type_id == 0:
            return BtfKind.UNKN
        ptr = lib().btf__type_by_id(self._require(), type_id)
        if not ptr:
            raise KeyError(f"no BTF type id {type_id} in {self.source}")
        return BtfKind(BtfType.from_buffer_copy(ctypes.string_at(ptr, _HEADER)).kind)

    def names(self, kind: BtfKind) -> dict[str, int]:
        """Every named type of one kind, by name: a scan of all types (0.1-0.3 s on
        vmlinux), done once per kind and Btf. For error messages, not hot paths."""
        if kind not in self._names:
            libbpf, ptr = lib(), self._require()
            found: dict[str, int] = {}
            for type_id in range(1, len(self)):
                hdr = BtfType.from_buffer_copy(
                    ctypes.string_at(libbpf.btf__type_by_id(ptr, type_id), _HEADER)
                )
                if hdr.kind == kind and hdr.name_off:
                    found.setdefault(self._name(hdr.name_off), type_id)
            self._names[kind] = found
        return self._names[kind]

    def struct(self, name: str) -> BtfTypeInfo:
        """The struct of that name; KeyError when BTF has none."""
        type_id = self.find(name, BtfKind.STRUCT)
        if type_id is None:
            raise KeyError(f"no struct {name} in the BTF of {self.source}")
        return self.type(type_id)

    def strip(self, type_id: int) -> int:
        """The type under any typedefs and qualifiers."""
        for _ in range(_MAX_DEPTH):
            if self.kind_of(type_id) not in _MODIFIERS:
                return type_id
            type_id = self.type(type_id).ref
        raise ValueError(f"BTF type {type_id}: typedefs and qualifiers nest too deep")

    def size_of(self, type_id: int) -> int:
        """sizeof the type (libbpf's btf__resolve_size)."""
        size = int(lib().btf__resolve_size(self._require(), type_id))
        if size < 0:
            raise ValueError(f"BTF type {type_id} has no size (errno {-size})")
        return size

    # --- C text ------------------------------------------------------------------------

    def type_text(self, type_id: int, name: str = "") -> str:
        """The C declaration of ``name`` with this type, or the bare type if no name."""
        return self._decl(type_id, name, 0).strip()

    def _decl(self, type_id: int, inner: str, depth: int) -> str:
        if depth > _MAX_DEPTH:
            raise ValueError(f"BTF type {type_id}: declaration nests too deep")
        t = self.type(type_id)
        k = t.kind

        def spaced(base: str) -> str:
            return f"{base} {inner}" if inner and not inner.startswith("[") else base + inner

        if k is BtfKind.UNKN:
            return spaced("void")
        if k in (BtfKind.INT, BtfKind.FLOAT, BtfKind.TYPEDEF):
            return spaced(t.name)
        if k in (BtfKind.STRUCT, BtfKind.UNION, BtfKind.FWD):
            word = "union" if k is BtfKind.UNION or (k is BtfKind.FWD and t.kind_flag) else "struct"
            return spaced(f"{word} {t.name}" if t.name else f"{word} {{...}}")
        if k in (BtfKind.ENUM, BtfKind.ENUM64):
            return spaced(f"enum {t.name}" if t.name else "enum {...}")
        if k is BtfKind.PTR:
            target_kind = self.kind_of(t.ref)
            star = f"*{inner}"
            if target_kind in (BtfKind.ARRAY, BtfKind.FUNC_PROTO):
                star = f"({star})"
            return self._decl(t.ref, star, depth + 1)
        if k in _QUALIFIER:
            word = _QUALIFIER[k]
            if self.kind_of(t.ref) is BtfKind.PTR:  # `char *const p`: the pointer is const
                return self._decl(t.ref, f"{word} {inner}".rstrip(), depth + 1)
            return f"{word} {self._decl(t.ref, inner, depth + 1)}"
        if k is BtfKind.TYPE_TAG:
            return self._decl(t.ref, inner, depth + 1)
        if k is BtfKind.ARRAY:
            assert t.array is not None
            return self._decl(t.array.element, f"{inner}[{t.array.nelems}]", depth + 1)
        if k is BtfKind.FUNC_PROTO:
            params = [
                "..." if i == len(t.params) - 1 and p.type_id == 0  # a trailing void: varargs
                else self.type_text(p.type_id, p.name)
                for i, p in enumerate(t.params)
            ]
            return self._decl(t.ref, f"{inner}({', '.join(params) or 'void'})", depth + 1)
        if k is BtfKind.FUNC:
            return self._decl(t.ref, inner or t.name, depth + 1)
        return spaced(t.name or k.name.lower())
