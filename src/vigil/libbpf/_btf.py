"""Where a global variable lives in its data section, read from the object's BTF.

clang records every global of a section (``const volatile`` knobs live in
``.rodata``) in a BTF_KIND_DATASEC type: a ``struct btf_type`` header followed
by one ``struct btf_var_secinfo`` per variable, each naming a BTF_KIND_VAR and
giving its offset and size in the section. That is all ``set_rodata`` needs.

The parsing is pure functions over bytes (unit-tested without a kernel); only
``datasec_variables`` asks libbpf for the bytes and names.
"""

from __future__ import annotations

import ctypes
import sys
from ctypes import c_uint32
from dataclasses import dataclass

from ._lib import cstr, lib

__all__ = [
    "BTF_KIND_DATASEC",
    "BTF_KIND_VAR",
    "BtfType",
    "BtfVarSecinfo",
    "DatasecVar",
    "datasec_variables",
    "encode_value",
    "parse_datasec",
]

BTF_KIND_VAR = 14
BTF_KIND_DATASEC = 15


class BtfType(ctypes.Structure):
    """struct btf_type { __u32 name_off; __u32 info; union { __u32 size; __u32 type; }; };

    info: bits 0-15 vlen, bits 24-28 kind, bit 31 kind_flag.
    """

    _fields_ = (("name_off", c_uint32), ("info", c_uint32), ("size_or_type", c_uint32))

    @property
    def kind(self) -> int:
        return int(self.info >> 24) & 0x1F

    @property
    def vlen(self) -> int:
        return int(self.info) & 0xFFFF


class BtfVarSecinfo(ctypes.Structure):
    """struct btf_var_secinfo { __u32 type; __u32 offset; __u32 size; };"""

    _fields_ = (("type", c_uint32), ("offset", c_uint32), ("size", c_uint32))


_HEADER = ctypes.sizeof(BtfType)
_SECINFO = ctypes.sizeof(BtfVarSecinfo)


@dataclass(frozen=True, slots=True)
class DatasecVar:
    name: str
    offset: int
    size: int


def datasec_header(raw: bytes) -> BtfType:
    """The btf_type header of a DATASEC; ValueError if raw is not one."""
    if len(raw) < _HEADER:
        raise ValueError(f"BTF type truncated: {len(raw)} bytes, header needs {_HEADER}")
    header = BtfType.from_buffer_copy(raw)
    if header.kind != BTF_KIND_DATASEC:
        raise ValueError(f"BTF type has kind {header.kind}, expected DATASEC ({BTF_KIND_DATASEC})")
    return header


def parse_datasec(raw: bytes) -> list[BtfVarSecinfo]:
    """The var_secinfo entries of a DATASEC given its header and the entries after it."""
    header = datasec_header(raw)
    need = _HEADER + header.vlen * _SECINFO
    if len(raw) < need:
        raise ValueError(
            f"DATASEC truncated: {len(raw)} bytes, its {header.vlen} entries need {need}"
        )
    return [BtfVarSecinfo.from_buffer_copy(raw, _HEADER + i * _SECINFO) for i in range(header.vlen)]


def encode_value(name: str, value: int | bytes, size: int) -> bytes:
    """The bytes to store for a global of `size` bytes.

    ints use the host's byte order (which is BPF's) and may be negative;
    bytes shorter than the variable are zero-padded (C strings, char arrays).
    """
    if isinstance(value, bool) or not isinstance(value, (int, bytes)):
        raise TypeError(f"{name}: value must be int or bytes, not {type(value).__name__}")
    if isinstance(value, bytes):
        if len(value) > size:
            raise ValueError(f"{name} is {size} bytes; the value given has {len(value)}")
        return value.ljust(size, b"\0")
    try:
        return value.to_bytes(size, sys.byteorder, signed=value < 0)
    except OverflowError:
        raise ValueError(f"{name} is {size} bytes; {value} does not fit") from None


def datasec_variables(btf: int, section: str) -> dict[str, DatasecVar]:
    """Every variable of `section` in the object BTF at `btf` (a struct btf *)."""
    libbpf = lib()
    type_id = int(libbpf.btf__find_by_name_kind(btf, section.encode(), BTF_KIND_DATASEC))
    if type_id <= 0:
        return {}
    ptr = libbpf.btf__type_by_id(btf, type_id)
    vlen = datasec_header(ctypes.string_at(ptr, _HEADER)).vlen
    entries = parse_datasec(ctypes.string_at(ptr, _HEADER + vlen * _SECINFO))
    found: dict[str, DatasecVar] = {}
    for entry in entries:
        var = BtfType.from_buffer_copy(
            ctypes.string_at(libbpf.btf__type_by_id(btf, entry.type), _HEADER)
        )
        if var.kind != BTF_KIND_VAR:
            continue
        name = cstr(libbpf.btf__name_by_offset(btf, var.name_off))
        found[name] = DatasecVar(name, entry.offset, entry.size)
    return found
