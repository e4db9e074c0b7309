"""An argument's `resolve:` path (Tetragon's BTF field path, a.b[2].c) turned
into the steps the kernel walks, with the kernel's BTF giving every offset.

The kernel holds one 8-byte value per argument, first the register (a pointer
to the struct the path starts in). Each step adds an offset to it and then,
where the step loads, replaces it with the 8 bytes at that address (Tetragon's
config_btf_arg: offset, is_pointer). A field that is a pointer is followed
when the path goes on through it; at the path's end the value is what the
argument's type reads: the pointer a pointer field holds, the 8 bytes an
integer field starts with (the type takes its low bytes), or the address of an
array or struct field (a char array read as a string, a struct path as path).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vigil.libbpf.btf_types import BtfKind, BtfMember

if TYPE_CHECKING:
    from vigil.libbpf.btf_types import Btf

__all__ = ["RESOLVE_STEPS_MAX", "Resolved", "parse_resolve", "resolve_path"]

RESOLVE_STEPS_MAX = 10  # Tetragon's MAX_BTF_ARG_DEPTH; events.h VIGIL_RESOLVE_MAX

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INDEX = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where a path ends: the steps, the C type of what it reached, and what
    the value is at the end ("pointer", "integer" of `size` bytes, "array",
    "struct")."""

    steps: tuple[tuple[int, bool], ...]  # (offset added, then the 8 bytes there loaded)
    c_type: str
    ends: str
    size: int  # of the field reached (an integer's width)
    pointee: str = ""  # a pointer's target, an array's element ("char", "struct file")


def parse_resolve(text: str) -> list[str | int]:
    """"a.b[2].c" -> ["a", "b", 2, "c"]; ValueError says where the syntax breaks."""
    out: list[str | int] = []
    i, want_name = 0, True
    while i < len(text):
        if text[i] == "[":
            m = _INDEX.match(text, i)
            if not m:
                raise ValueError(f"resolve {text!r}: at {i}, an index is [N] with N a number")
            out.append(int(m.group(1)))
            i, want_name = m.end(), False
            continue
        if not want_name:
            if text[i] != ".":
                raise ValueError(f"resolve {text!r}: at {i}, expected '.' or '[' after "
                                 f"{text[:i]!r}")
            i += 1
        m = _NAME.match(text, i)
        if not m:
            raise ValueError(f"resolve {text!r}: at {i}, expected a field name")
        out.append(m.group(0))
        i, want_name = m.end(), False
    if not out:
        raise ValueError("resolve is empty; write a field path such as f_path.dentry")
    return out


def _member(btf: Btf, type_id: int, name: str) -> tuple[int, int] | None:
    """(byte offset, type id) of field `name`, looked for in anonymous
    structs and unions too (mm_struct's fields sit in one)."""
    t = btf.type(type_id)
    for m in t.members:
        if m.name == name:
            _no_bitfield(m, t.name)
            return m.bit_offset // 8, m.type_id
        if not m.name:
            inner = btf.strip(m.type_id)
            if btf.kind_of(inner) in (BtfKind.STRUCT, BtfKind.UNION):
                found = _member(btf, inner, name)
                if found is not None:
                    return m.bit_offset // 8 + found[0], found[1]
    return None


def _no_bitfield(m: BtfMember, owner: str) -> None:
    if m.bit_size or m.bit_offset % 8:
        raise ValueError(f"{owner}.{m.name} is a bit-field; resolve reads whole bytes")


def resolve_path(btf: Btf, root: int, path: list[str | int]) -> Resolved:
    """The steps from a pointer argument of BTF type `root` along `path`;
    ValueError names the step that does not exist and the type it is in."""
    t = btf.strip(root)
    if btf.kind_of(t) is not BtfKind.PTR:
        raise ValueError(f"resolve walks from a pointer; this argument is "
                         f"{btf.type_text(root)}")
    steps: list[tuple[int, bool]] = []
    acc = 0  # offset not added yet
    t = btf.type(t).ref  # the value is the pointer: the object it points at is here
    done: list[str | int] = []

    def where() -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in done).lstrip(".") \
            or "the argument"

    for i, part in enumerate(path):
        t = btf.strip(t)
        kind = btf.kind_of(t)
        if isinstance(part, int):
            if kind is BtfKind.ARRAY:
                arr = btf.type(t).array
                assert arr is not None
                if arr.nelems and part >= arr.nelems:
                    raise ValueError(f"{where()} has {arr.nelems} elements; [{part}] is past "
                                     "them")
                acc += part * btf.size_of(arr.element)
                t = arr.element
            elif kind is BtfKind.PTR and i > 0:
                steps.append((acc, True))
                target = btf.type(t).ref
                acc, t = part * btf.size_of(target), target
            elif i == 0:  # the argument is an array's address: its element N
                acc, t = part * btf.size_of(t), t
            else:
                raise ValueError(f"{where()} is {btf.type_text(t)}, not an array or a "
                                 f"pointer: [{part}] cannot index it")
        else:
            if kind is BtfKind.PTR:  # a pointer field followed
                steps.append((acc, True))
                acc, t = 0, btf.strip(btf.type(t).ref)
                kind = btf.kind_of(t)
            if kind not in (BtfKind.STRUCT, BtfKind.UNION):
                raise ValueError(f"{where()} is {btf.type_text(t)}: it has no field {part!r}")
            found = _member(btf, t, part)
            if found is None:
                raise ValueError(f"{btf.type_text(t)} ({where()}) has no field {part!r}")
            acc += found[0]
            t = found[1]
        done.append(part)
    end = btf.strip(t)
    kind = btf.kind_of(end)
    c_type = btf.type_text(t)
    if kind is BtfKind.PTR:
        steps.append((acc, True))
        resolved = Resolved(tuple(steps), c_type, "pointer", 8,
                            btf.type_text(btf.strip(btf.type(end).ref)))
    elif kind in (BtfKind.INT, BtfKind.ENUM, BtfKind.ENUM64):
        steps.append((acc, True))
        resolved = Resolved(tuple(steps), c_type, "integer", btf.size_of(end))
    elif kind is BtfKind.ARRAY:
        steps.append((acc, False))
        arr = btf.type(end).array
        assert arr is not None
        resolved = Resolved(tuple(steps), c_type, "array", btf.size_of(end),
                            btf.type_text(btf.strip(arr.element)))
    elif kind in (BtfKind.STRUCT, BtfKind.UNION):
        steps.append((acc, False))
        resolved = Resolved(tuple(steps), c_type, "struct", btf.size_of(end), c_type)
    else:
        raise ValueError(f"{where()} is {c_type}, which no argument type reads")
    if len(resolved.steps) > RESOLVE_STEPS_MAX:
        raise ValueError(f"the path takes {len(resolved.steps)} steps (one per pointer "
                         f"followed, and the last); the kernel walks at most "
                         f"{RESOLVE_STEPS_MAX}")
    return resolved
