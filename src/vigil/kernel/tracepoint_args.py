"""Tetragon's argument model for tracepoints: which field an ``index`` names,
what type Tetragon infers for it when the policy omits ``type``, and how the
BPF side reads it.

All of it is taken from Tetragon v1.7.0 and cited by file and line:

Index. ``spec.tracepoints[].args[].index`` is the 0-based position of the field
in the format file, **the common_* fields included**: pkg/tracepoint/tracepoint.go
170-209 appends every ``field:`` line in order (blank lines skipped, 179-180), and
pkg/sensors/tracing/generictracepoint.go 274 takes ``Format.Fields[index]``;
243-253 rejects ``index >= len(fields)``. So on raw_syscalls/sys_enter index 4 is
``id`` and 5 is ``args`` (tracepoint_test.go 361-371). ``sizeArgIndex`` of a
``char_buf`` is 1-based in the same numbering: field ``sizeArgIndex - 1``
(generictracepoint.go 298-309).

Type when omitted (generictracepoint.go 159-227, over the field parser of
pkg/tracepoint/fieldtype.go 69-206):

- an integer type the parser knows (``char``, ``short``, ``int``, ``long``,
  ``long long``, each optionally ``unsigned``; ``unsigned`` alone; ``u8`` ...
  ``u64``), typed by the format's size and signedness, not by its C name
  (182-191): 4 bytes signed -> ``int32``, unsigned -> ``uint32``; 8 bytes
  signed -> ``int64``, unsigned -> ``uint64``. Any other size (1 or 2 bytes,
  ``unsigned short common_type``) is refused;
- ``size_t`` -> ``size_t`` (222-223);
- a pointer to a char type (``const char *``) -> ``char_buf`` only with a
  ``sizeArgIndex``, refused without one (192-207); pointers to anything else
  are refused;
- a fixed array of a known integer type -> ``const_buf`` of all its bytes
  (211-220). User space emits one ``uint64`` (a ``size_arg``) per element when
  the element is ``long``/``unsigned long`` (1017-1034: raw_syscalls/sys_enter's
  ``args[6]`` becomes six arguments), and **nothing** for other element types
  (1035-1036: ``char comm[16]`` is read and dropped);
- everything else is refused: ``pid_t``, ``bool``, ``void``, ``dma_addr_t``
  parse (fieldtype.go 132-141) but get no type (generictracepoint.go 226); any
  other name is an unknown type to the parser (fieldtype.go 142-143): ``__u8``,
  ``__u16``, typedefs such as ``umode_t``, ``enum``, ``struct``, and
  ``__data_loc char[]``, whose first word ``__data_loc`` is taken for its type;
  flexible arrays (``[]`` has no length, fieldtype.go 189-194); pointers to
  pointers (fieldtype.go 163-164).

Tetragon never infers ``string``, ``data_loc`` or ``syscall64``: a policy must
write them. ``type: const_buf`` cannot be written (161-166).

Reading (bpf/process/bpf_generic_tracepoint.c 59-176): the value at
``ctx + offset`` is read with the width of the *type* (4 bytes for int32/uint32,
8 for int64/uint64/size_t/syscall64, a pointer for string and char_buf);
``data_loc`` reads a u32 whose low 16 bits are the payload's offset from the
record's start and high 16 bits its length (bpf/process/generic_calls.h 302-308,
the length masked with 0xfff); ``const_buf`` copies its bytes in place, the
count masked with 0x3ff, so an array of 1024 bytes copies none (generic_calls.h
384-388). At most five arguments per hook
(pkg/api/tracingapi/client_kprobe.go 684, bpf_generic_tracepoint.c 203-241).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from vigil.kernel.tracefs_format import DataLoc, FormatField, TracepointFormat

__all__ = [
    "CONST_BUF_MASK",
    "DATA_LOC_MASK",
    "MAX_TRACEPOINT_ARGS",
    "FieldRead",
    "ReadKind",
    "ResolvedArg",
    "TracepointArg",
    "TypeInference",
    "field_read",
    "infer_type",
    "resolve_arg",
    "tracepoint_args",
]

# pkg/api/tracingapi/client_kprobe.go:684 EventConfigMaxArgs.
MAX_TRACEPOINT_ARGS = 5
# generic_calls.h:386 `size = argm & 0x03ff` (const_buf) and 304
# `dl_len = (arg >> 16) & 0xfff` (data_loc): masks, not limits.
CONST_BUF_MASK = 0x3FF
DATA_LOC_MASK = 0xFFF


class ReadKind(Enum):
    """How the BPF side gets a field's value out of the tracepoint record."""

    SCALAR = "scalar"  # `size` bytes at `offset`, sign-extended when `signed`
    POINTER = "pointer"  # an address (`size` bytes) at `offset`; what it points to is elsewhere
    INLINE = "inline"  # `size` bytes of a fixed array in the record at `offset`
    FLEXIBLE = "flexible"  # a flexible array from `offset` to the end of the record
    # A u32 at `offset`: low 16 bits the payload's offset, high 16 its length; the
    # offset counts from the record's start (data_loc) or from `offset + 4` (rel_loc).
    DATA_LOC = "data_loc"
    REL_LOC = "rel_loc"


@dataclass(frozen=True, slots=True)
class FieldRead:
    """Where a field's bytes are and how to take them (from the format alone)."""

    kind: ReadKind
    offset: int
    size: int  # bytes at `offset` (4 for a __data_loc/__rel_loc word)
    signed: bool
    element_size: int | None = None  # fixed arrays: bytes per element, when known
    array_len: int | None = None  # fixed arrays: element count


@dataclass(frozen=True, slots=True)
class TypeInference:
    """What Tetragon makes of a field whose ``type`` the policy leaves out.

    ``type`` is None when Tetragon refuses; ``refusal`` then says why in words, and
    ``suggested`` names a type the policy could write that fits the field (None
    when none does). ``emitted`` is the number of event arguments Tetragon's user
    space outputs for it: 1; one per element for an array of longs; 0 for other
    arrays (read, then dropped) and when refused.
    """

    type: str | None
    refusal: str | None = None
    suggested: str | None = None
    emitted: int = 1


@dataclass(frozen=True, slots=True)
class TracepointArg:
    """One field of a tracepoint as Tetragon's policy sees it."""

    index: int  # the policy's `index`: position among all fields, common_* included
    field: FormatField
    inference: TypeInference  # without sizeArgIndex
    read: FieldRead

    @property
    def type(self) -> str | None:
        return self.inference.type


@dataclass(frozen=True, slots=True)
class ResolvedArg:
    """A policy argument resolved against a format: the field, its type and its read."""

    index: int
    field: FormatField
    type: str
    read: FieldRead
    inferred: bool  # the type came from the format, not the policy
    size_field: int | None = None  # char_buf: the index of the field holding the length
    emitted: int = 1


# --- Tetragon's field parser (pkg/tracepoint/fieldtype.go), reproduced to know
# exactly which declarations it accepts ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _Int:
    base: str  # "char", "short", "int", "long", "long long", "u8", "u16", "u32", "u64"
    unsigned: bool


@dataclass(frozen=True, slots=True)
class _Other:
    name: str  # "bool", "pid_t", "size_t", "void", "dma_addr_t"


@dataclass(frozen=True, slots=True)
class _Pointer:
    target: _Int | _Other


@dataclass(frozen=True, slots=True)
class _Array:
    element: _Int | _Other | _Pointer
    length: int


_TetragonType = _Int | _Other | _Pointer | _Array
# fieldtype.go 124-141.
_FIXED: dict[str, _Int | _Other] = {
    "u8": _Int("u8", True), "u16": _Int("u16", True), "u32": _Int("u32", True),
    "u64": _Int("u64", True), "bool": _Other("bool"), "pid_t": _Other("pid_t"),
    "size_t": _Other("size_t"), "void": _Other("void"), "dma_addr_t": _Other("dma_addr_t"),
}


class _Refused(Exception):
    """Tetragon's field parser rejects the declaration (the ParseError text)."""


def _parse_ty(words: list[str]) -> _Int | _Other | _Pointer:
    """fieldtype.go parseTy, lines 69-167."""
    i = 0
    if words[i] == "const":
        i += 1
        if i == len(words):  # Go would index out of range here (a panic)
            raise _Refused("nothing after const")
    ty = words[i]
    i += 1
    unsigned = False
    if ty == "unsigned":
        if i == len(words):
            return _Int("int", True)
        unsigned = True
        ty = words[i]
        i += 1
    base: _Int | _Other
    if ty in ("char", "short", "int"):
        base = _Int(ty, unsigned)
    elif ty == "long":
        if i < len(words) and words[i] == "long":
            base = _Int("long long", unsigned)
            i += 1
        else:
            base = _Int("long", unsigned)
    elif unsigned:
        raise _Refused("unexpected unsigned")
    elif ty in _FIXED:
        base = _FIXED[ty]
    else:
        raise _Refused(f"unknown type:{ty}")
    if i == len(words):
        return base
    if words[i].startswith("__attribute__"):
        i += 1
    if i == len(words) or words[i] != "*":
        raise _Refused("parsing failed")
    i += 1
    if i != len(words):
        raise _Refused("did not process all fields")
    return _Pointer(base)


def _parse_field(decl: str) -> _TetragonType:
    """fieldtype.go parseField, lines 169-206: the type of `decl`, or _Refused."""
    words = decl.split()
    if len(words) < 2:
        raise _Refused("expecting at least two fields")
    ty = _parse_ty(words[:-1])
    name = words[-1]
    if "[" in name:
        if not name.endswith("]"):
            raise _Refused("could not parse array structure")
        size = name.split("[")[1].removesuffix("]")
        if not (size.isascii() and size.isdigit()) or int(size) >= 1 << 32:
            raise _Refused(f"failed to parse size: {size!r}")
        return _Array(ty, int(size))
    return ty


def _suggest(field: FormatField) -> str | None:
    """A type a policy could write for a field Tetragon will not type by itself."""
    if field.data_loc is DataLoc.DATA_LOC and field.element_type == "char" and field.is_array:
        return "data_loc"
    if field.is_array or field.data_loc is not None:
        return None
    if field.is_pointer:
        pointee = field.type_text.removeprefix("const ").rstrip("* ").strip()
        if field.type_text.count("*") == 1 and pointee in ("char", "unsigned char"):
            return "string"
        return "uint64"  # the address itself
    ints = {(1, True): "int8", (1, False): "uint8", (2, True): "int16", (2, False): "uint16",
            (4, True): "int32", (4, False): "uint32", (8, True): "int64", (8, False): "uint64"}
    return ints.get((field.size, field.signed))


def _refuse(field: FormatField, why: str) -> TypeInference:
    suggested = _suggest(field)
    hint = f"; write `type: {suggested}`" if suggested else ""
    return TypeInference(None, f"{why}{hint}", suggested, 0)


def infer_type(field: FormatField, *, size_arg_index: int = 0) -> TypeInference:
    """The type Tetragon v1.7.0 gives ``field`` when the policy omits ``type``.

    ``size_arg_index`` is the policy's 1-based ``sizeArgIndex`` (0: none); it only
    matters for char pointers, which become ``char_buf`` with it.
    """
    what = f"field {field.name} ({field.type_text})"
    try:
        ty = _parse_field(field.decl or f"{field.type_text} {field.name}")
    except _Refused as e:
        return _refuse(field, f"Tetragon cannot parse the type of {what}: {e}")
    if isinstance(ty, _Int):
        by_size = {(4, True): "int32", (4, False): "uint32", (8, True): "int64",
                   (8, False): "uint64"}
        inferred = by_size.get((field.size, field.signed))
        if inferred is None:
            return _refuse(
                field, f"Tetragon infers integers of 4 or 8 bytes only; {what} has {field.size}"
            )
        return TypeInference(inferred)
    if isinstance(ty, _Pointer):
        if not isinstance(ty.target, _Int):
            return _refuse(field, f"Tetragon cannot handle a pointer to {ty.target.name} ({what})")
        if ty.target.base != "char":
            return _refuse(field, f"Tetragon infers pointers to char only; {what} is not one")
        if size_arg_index == 0:
            return _refuse(
                field,
                f"Tetragon reads {what} as char_buf only with a sizeArgIndex naming the field "
                "that holds its length (1-based, common_* fields counted)",
            )
        return TypeInference("char_buf")
    if isinstance(ty, _Array):
        if not isinstance(ty.element, _Int):
            return _refuse(field, f"Tetragon reads arrays of integers only; {what} is not one")
        # generictracepoint.go 1024-1036: only arrays of (unsigned) long are emitted.
        emitted = ty.length if ty.element.base == "long" else 0
        return TypeInference("const_buf", emitted=emitted)
    if ty.name == "size_t":
        return TypeInference("size_t")
    return _refuse(field, f"Tetragon parses {what} as {ty.name} but infers no argument type for it")


def field_read(field: FormatField) -> FieldRead:
    """Where the BPF side finds the field's bytes, from the format alone."""
    if field.data_loc is DataLoc.DATA_LOC:
        return FieldRead(ReadKind.DATA_LOC, field.offset, field.size, False)
    if field.data_loc is DataLoc.REL_LOC:
        return FieldRead(ReadKind.REL_LOC, field.offset, field.size, False)
    if field.is_array:
        if field.size == 0 or field.array_len is None:
            return FieldRead(ReadKind.FLEXIBLE, field.offset, field.size, field.signed)
        return FieldRead(
            ReadKind.INLINE, field.offset, field.size, field.signed,
            field.element_size, field.array_len,
        )
    if field.is_pointer:
        return FieldRead(ReadKind.POINTER, field.offset, field.size, False)
    return FieldRead(ReadKind.SCALAR, field.offset, field.size, field.signed)


def tracepoint_args(fmt: TracepointFormat) -> list[TracepointArg]:
    """Every field of ``fmt`` with its Tetragon index, inferred type and read."""
    return [
        TracepointArg(i, f, infer_type(f), field_read(f)) for i, f in enumerate(fmt.fields)
    ]


def _check_index(fmt: TracepointFormat, index: int, what: str) -> FormatField:
    """generictracepoint.go 243-253, with the fields listed."""
    if not 0 <= index < len(fmt.fields):
        listing = ", ".join(f"{i}={f.name}" for i, f in enumerate(fmt.fields))
        raise ValueError(
            f"tracepoint {fmt.full_name} has {len(fmt.fields)} fields but field {index} "
            f"was requested{what}; its fields, common_* included: {listing}"
        )
    return fmt.fields[index]


def resolve_arg(
    fmt: TracepointFormat, index: int, type: str | None = None, *, size_arg_index: int = 0
) -> ResolvedArg:
    """One policy argument (``index``, optional ``type``, ``sizeArgIndex``) against ``fmt``.

    ``type`` None, ``""`` or ``"auto"`` means inferred as Tetragon does; any other
    name is taken as given (checking names is the policy validator's job), except
    ``const_buf``, which Tetragon does not let a policy write. Raises ValueError
    saying what is wrong and what would be right.
    """
    field = _check_index(fmt, index, "")
    size_field = None
    if size_arg_index:
        size_field = size_arg_index - 1
        _check_index(fmt, size_field, f" by sizeArgIndex {size_arg_index} of field {index}")
    if type == "const_buf":
        raise ValueError(
            f"field {index} ({field.name}) of {fmt.full_name}: type const_buf cannot be written "
            "in a policy (Tetragon infers it for fixed arrays); omit the type"
        )
    if type not in (None, "", "auto"):
        return ResolvedArg(index, field, type, field_read(field), False, size_field)
    got = infer_type(field, size_arg_index=size_arg_index)
    if got.type is None:
        raise ValueError(f"field {index} of {fmt.full_name}: {got.refusal}")
    return ResolvedArg(index, field, got.type, field_read(field), True, size_field, got.emitted)
