"""BTF type records (struct btf_type and its kind-specific tail) parsed from bytes."""

from __future__ import annotations

import struct

import pytest

from vigil.libbpf.btf_types import (
    BtfArray,
    BtfKind,
    BtfMember,
    BtfParam,
    BtfTypeInfo,
    parse_type,
    record_size,
)

NAMES = {0: "", 1: "task_struct", 5: "pid", 9: "flags", 15: "x", 17: "A", 19: "B"}


def header(name_off: int, kind: BtfKind, vlen: int, third: int, kind_flag: bool = False) -> bytes:
    info = (int(kind_flag) << 31) | (int(kind) << 24) | vlen
    return struct.pack("<III", name_off, info, third)


def parse(raw: bytes, type_id: int = 3) -> BtfTypeInfo:
    return parse_type(type_id, raw, NAMES.__getitem__)


def test_int_signed_and_width() -> None:
    t = parse(header(15, BtfKind.INT, 0, 4) + struct.pack("<I", (1 << 24) | 32))
    assert (t.kind, t.name, t.size, t.int_signed, t.int_bits) == (BtfKind.INT, "x", 4, True, 32)


def test_struct_with_a_bitfield_member() -> None:
    members = struct.pack("<III", 5, 2, 64) + struct.pack("<III", 9, 2, (3 << 24) | 96)
    t = parse(header(1, BtfKind.STRUCT, 2, 16, kind_flag=True) + members)
    assert (t.name, t.size) == ("task_struct", 16)
    assert t.members == (BtfMember("pid", 2, 64, 0), BtfMember("flags", 2, 96, 3))
    plain = parse(header(1, BtfKind.STRUCT, 1, 8) + struct.pack("<III", 5, 2, 32))
    assert plain.members == (BtfMember("pid", 2, 32, 0),)


def test_pointer_array_func_proto_and_enums() -> None:
    assert parse(header(0, BtfKind.PTR, 0, 7)).ref == 7
    arr = parse(header(0, BtfKind.ARRAY, 0, 0) + struct.pack("<III", 2, 4, 16))
    assert arr.array == BtfArray(2, 4, 16)
    proto = parse(header(0, BtfKind.FUNC_PROTO, 2, 0) + struct.pack("<IIII", 0, 8, 5, 9))
    assert (proto.ref, proto.params) == (0, (BtfParam("", 8), BtfParam("pid", 9)))
    enum = parse(header(15, BtfKind.ENUM, 2, 4, kind_flag=True)
                 + struct.pack("<Ii", 17, -1) + struct.pack("<Ii", 19, 2))
    assert enum.enum_values == (("A", -1), ("B", 2))
    e64 = parse(header(15, BtfKind.ENUM64, 1, 8, kind_flag=True)
                + struct.pack("<III", 17, 0xFFFFFFFE, 0xFFFFFFFF))
    assert e64.enum_values == (("A", -2),)


def test_record_sizes_and_truncation() -> None:
    assert record_size(header(0, BtfKind.STRUCT, 3, 8)) == 12 + 36
    assert record_size(header(0, BtfKind.TYPEDEF, 0, 1)) == 12
    with pytest.raises(ValueError, match="BTF type 3 truncated: 12 bytes, its record has 16"):
        parse(header(15, BtfKind.INT, 0, 4))
    with pytest.raises(ValueError, match="unknown BTF kind 31"):
        record_size(struct.pack("<III", 0, 31 << 24, 0))
    with pytest.raises(ValueError, match="header truncated"):
        record_size(b"\0" * 4)
