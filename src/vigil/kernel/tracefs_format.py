"""A tracepoint's ``format`` file from tracefs, parsed into typed fields.

The kernel describes each tracepoint's record in
``/sys/kernel/tracing/events/SYSTEM/EVENT/format``::

    name: sched_process_exec
    ID: 365
    format:
    <TAB>field:unsigned short common_type;<TAB>offset:0;<TAB>size:2;<TAB>signed:0;
    ...
    <TAB>field:__data_loc char[] filename;<TAB>offset:8;<TAB>size:4;<TAB>signed:0;
    <TAB>field:pid_t pid;<TAB>offset:12;<TAB>size:4;<TAB>signed:1;

    print fmt: "filename=%s pid=%d old_pid=%d", __get_str(filename), REC->pid, REC->old_pid

Every field line becomes a ``FormatField``, in file order and with the
``common_*`` header fields included (that order is what a policy's ``index``
counts: see vigil.kernel.tracepoint_args). The declaration's shapes:

- scalars and pointers: ``int sig``, ``const char * filename``, ``void __seg_gs * ptr``;
- fixed arrays in the record: ``char comm[16]``, ``unsigned long args[6]``;
- flexible arrays at the end: ``char buf[]`` (size 0);
- dynamic data: ``__data_loc char[] filename`` is a u32 whose low 16 bits are the
  payload's offset from the start of the record and whose high 16 bits are its
  length in bytes; ``__rel_loc`` is the same with the offset counted from the end
  of the u32 itself. ``__data_loc cpumask_t mask`` is dynamic without brackets.

``parse_format`` is a pure function over the text: it returns a
``TracepointFormat`` or raises ``ValueError`` naming the line, what it holds and
what was expected. ``read_format`` reads the live file (mounting tracefs when
absent) and raises ``UnknownTracepointError`` with the nearest names from
``available_events`` when the tracepoint does not exist.
"""

from __future__ import annotations

import difflib
import errno
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

__all__ = [
    "DataLoc",
    "FormatField",
    "TracepointFormat",
    "UnknownTracepointError",
    "available_tracepoints",
    "parse_field_line",
    "parse_format",
    "read_format",
    "tracepoint_dir",
]


class DataLoc(Enum):
    """How a dynamic field's u32 locates its payload."""

    DATA_LOC = "__data_loc"  # offset from the start of the record
    REL_LOC = "__rel_loc"  # offset from the end of this u32 field


# Element sizes of the C types whose size the text alone tells, for arrays whose
# length is a macro name the kernel left unexpanded (`char comm[TASK_COMM_LEN]`).
_KNOWN_SIZES = {
    "char": 1, "signed char": 1, "unsigned char": 1, "bool": 1, "_Bool": 1,
    "u8": 1, "s8": 1, "__u8": 1, "__s8": 1, "uint8_t": 1, "int8_t": 1,
    "short": 2, "unsigned short": 2, "u16": 2, "s16": 2, "__u16": 2, "__s16": 2,
    "uint16_t": 2, "int16_t": 2, "__be16": 2, "__le16": 2,
    "int": 4, "unsigned int": 4, "unsigned": 4, "u32": 4, "s32": 4, "__u32": 4,
    "__s32": 4, "uint32_t": 4, "int32_t": 4, "__be32": 4, "__le32": 4, "pid_t": 4,
    "long long": 8, "unsigned long long": 8, "u64": 8, "s64": 8, "__u64": 8,
    "__s64": 8, "uint64_t": 8, "int64_t": 8, "__be64": 8, "__le64": 8,
}

_IDENT = re.compile(r"[A-Za-z_]\w*\Z")
# "<type> <name><[len]...>": the name is the last identifier, arrays follow it.
_DECL = re.compile(
    r"(?P<type>.*?)\s*(?<![\w])(?P<name>[A-Za-z_]\w*)\s*(?P<dims>(?:\[[^\[\]]*\]\s*)*)\Z"
)
_FIELD = re.compile(
    r"\s*field:(?P<decl>[^;]*);\s*offset:(?P<offset>[0-9]{1,10});\s*size:(?P<size>[0-9]{1,10});"
    r"\s*signed:(?P<signed>[01]);\s*\Z"
)
_FIELD_EXPECTED = "field:<declaration>;<TAB>offset:<n>;<TAB>size:<n>;<TAB>signed:<0|1>;"
# Offsets and sizes are C ints in the kernel (struct ftrace_event_field); a
# number beyond 32 bits is not a format the kernel wrote.
_MAX_NUMBER = 1 << 32


@dataclass(frozen=True, slots=True)
class FormatField:
    """One ``field:`` line of a format file.

    ``type_text`` is the declaration without the name, whitespace collapsed:
    ``"char[16]"``, ``"__data_loc char[]"``, ``"const char *"``, ``"unsigned long[]"``.
    ``element_type`` is what an array or a dynamic field holds (``"char"``); for
    scalars and pointers it equals ``type_text``.
    """

    name: str
    type_text: str
    offset: int
    size: int
    signed: bool
    element_type: str
    is_array: bool = False
    # Elements of a fixed array; None for flexible (`[]`) and dynamic arrays, and
    # for a length written as a macro whose element size the text does not tell.
    array_len: int | None = None
    data_loc: DataLoc | None = None
    decl: str = ""  # the declaration exactly as the file has it
    line: int = 0  # 1-based line in the format file

    @property
    def is_common(self) -> bool:
        """One of the header fields every record starts with (``common_pid``, ...)."""
        return self.name.startswith("common_")

    @property
    def is_dynamic(self) -> bool:
        """A ``__data_loc``/``__rel_loc`` u32 pointing at a payload later in the record."""
        return self.data_loc is not None

    @property
    def is_flexible_array(self) -> bool:
        return self.is_array and self.data_loc is None and self.size == 0

    @property
    def is_pointer(self) -> bool:
        """The field itself holds an address (not an array of pointers)."""
        return not self.is_array and self.data_loc is None and "*" in self.type_text

    @property
    def element_size(self) -> int | None:
        """Bytes per element of a fixed array, when the format tells."""
        if self.is_array and self.data_loc is None and self.array_len:
            return self.size // self.array_len
        return None


@dataclass(frozen=True, slots=True)
class TracepointFormat:
    """A tracepoint's record layout, as its tracefs ``format`` file gives it."""

    system: str
    name: str
    id: int
    fields: tuple[FormatField, ...]
    print_fmt: str | None

    @property
    def full_name(self) -> str:
        return f"{self.system}/{self.name}" if self.system else self.name

    @property
    def common_fields(self) -> tuple[FormatField, ...]:
        return tuple(f for f in self.fields if f.is_common)

    @property
    def event_fields(self) -> tuple[FormatField, ...]:
        """The fields after the common header: what TP_STRUCT__entry declares."""
        return tuple(f for f in self.fields if not f.is_common)

    def field(self, name: str) -> FormatField:
        """The first field of that name (a few kernels repeat one)."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(
            f"tracepoint {self.full_name} has no field {name!r}; its fields are "
            + ", ".join(f.name for f in self.fields)
        )

    def index_of(self, name: str) -> int:
        """The field's position in ``fields``: the ``index`` a policy gives for it."""
        return self.fields.index(self.field(name))


def _split_decl(decl: str, where: str) -> tuple[str, str, list[str]]:
    """(type text, name, array dimensions) of a field declaration."""
    text = " ".join(decl.split())
    m = _DECL.match(text)
    if m is None or not m["type"]:
        raise ValueError(
            f"{where}: field declaration {decl.strip()!r} has no type and name; "
            "expected a C declaration such as 'int pid' or 'char comm[16]'"
        )
    dims = [d.strip()[1:-1].strip() for d in re.findall(r"\[[^\[\]]*\]", m["dims"])]
    return m["type"], m["name"], dims


def _array_len(dim: str, element: str, size: int, where: str) -> int | None:
    if dim == "":
        return None
    if re.fullmatch("[0-9]{1,10}", dim):
        return int(dim)
    # A sum of numbers: 5.10's smbus/smbus_reply has `u8 buf[32 + 2]`.
    if re.fullmatch(r"[0-9]{1,10}(\s*\+\s*[0-9]{1,10}){1,4}", dim):
        return sum(int(part) for part in dim.split("+"))
    # Anything else (a macro, `sizeof(struct sockaddr_in6)` on 5.10's
    # tcp/tcp_probe): the length follows from the field's size when the
    # element's size is known.
    each = _KNOWN_SIZES.get(element)
    return size // each if each and size % each == 0 else None


def parse_field_line(line: str, lineno: int = 0, source: str = "<format>") -> FormatField:
    """One ``field:...;offset:...;size:...;signed:...;`` line; ValueError naming the line."""
    where = f"{source}:{lineno}" if lineno else source
    m = _FIELD.match(line)
    if m is None:
        raise ValueError(
            f"{where}: {line.strip()!r} is not a field line; expected {_FIELD_EXPECTED}"
        )
    offset, size = int(m["offset"]), int(m["size"])
    if offset >= _MAX_NUMBER or size >= _MAX_NUMBER:
        raise ValueError(
            f"{where}: offset {offset} or size {size} is out of range: {line.strip()!r}"
        )
    type_text, name, dims = _split_decl(m["decl"], where)
    data_loc = None
    words = type_text.split(" ", 1)
    if words[0] in ("__data_loc", "__rel_loc"):
        data_loc = DataLoc(words[0])
        if len(words) == 1:
            raise ValueError(f"{where}: {words[0]} field {name!r} does not say what it holds")
        if dims:
            raise ValueError(
                f"{where}: {words[0]} field {name!r} has an array length after its name"
            )
        element = words[1]
        brackets = re.fullmatch(r"(?P<element>[^\[\]]*?)\s*\[\s*\]", element)
        is_array = brackets is not None
        if brackets is not None:
            element = brackets["element"]
            if not element:
                raise ValueError(f"{where}: {words[0]} field {name!r} has no element type")
        elif "[" in element or "]" in element:
            raise ValueError(
                f"{where}: {words[0]} field {name!r} has type {element!r}; "
                f"expected '{words[0]} TYPE[] NAME' or '{words[0]} TYPE NAME'"
            )
        return FormatField(
            name=name, type_text=type_text, offset=offset, size=size,
            signed=m["signed"] == "1", element_type=element, is_array=is_array,
            data_loc=data_loc, decl=m["decl"], line=lineno,
        )
    if "[" in type_text or "]" in type_text:
        raise ValueError(f"{where}: field {name!r} has brackets in its type {type_text!r}")
    if len(dims) > 1:
        raise ValueError(
            f"{where}: field {name!r} is a multi-dimensional array; expected one length"
        )
    array_len = _array_len(dims[0], type_text, size, where) if dims else None
    return FormatField(
        name=name,
        type_text=f"{type_text}[{dims[0]}]" if dims else type_text,
        offset=offset, size=size, signed=m["signed"] == "1", element_type=type_text,
        is_array=bool(dims), array_len=array_len, decl=m["decl"], line=lineno,
    )


def parse_format(text: str, system: str = "", *, source: str = "<format>") -> TracepointFormat:
    """Parse a format file's text; ``system`` is the directory it came from (``sched``).

    Raises ``ValueError`` saying which line is wrong and what it should look like.
    """
    lines = text.split("\n")
    if lines[-1] == "":  # the newline that ends the last line
        lines.pop()

    def header(i: int, key: str, pattern: str, expected: str) -> str:
        if i >= len(lines):
            raise ValueError(f"{source}: ends after {i} lines; line {i + 1} should be {expected}")
        m = re.fullmatch(rf"\s*{key}:\s*({pattern})\s*", lines[i])
        if m is None:
            raise ValueError(f"{source}:{i + 1}: {lines[i].strip()!r}; expected {expected}")
        return m[1]

    name = header(0, "name", r"\S+", "'name: <event>'")
    event_id = int(header(1, "ID", "[0-9]{1,10}", "'ID: <number>'"))
    header(2, "format", "", "'format:'")
    fields: list[FormatField] = []
    print_fmt = None
    for i in range(3, len(lines)):
        line, lineno = lines[i], i + 1
        if not line.strip():
            continue
        stripped = line.lstrip()
        if stripped.startswith("print fmt:"):
            # The last part: its C string may hold newlines (ext4_getfsmap_mapping's does).
            rest = [stripped[len("print fmt:") :], *lines[i + 1 :]]
            print_fmt = "\n".join(rest).strip()
            break
        # A name may come twice: 5.10's regmap/regcache_sync declares `type`
        # twice. Policies name fields by position, as Tetragon does, so both
        # are kept; field(name) gives the first.
        fields.append(parse_field_line(line, lineno, source))
    return TracepointFormat(system, name, event_id, tuple(fields), print_fmt)


# --- the live files --------------------------------------------------------------------


class UnknownTracepointError(LookupError):
    """No such tracepoint in tracefs; the message lists the nearest existing names."""


_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


def _check_name(kind: str, value: str) -> None:
    # The names come from a policy: never let one walk out of events/.
    if not _NAME.match(value):
        raise UnknownTracepointError(
            f"{kind} {value!r} is not a tracepoint {kind} name: expected letters, digits, '_', "
            "'-' or '.', as in `sched` or `sched_process_exec`"
        )


def _tracefs(tracefs: str | Path | None) -> Path:
    if tracefs is not None:
        return Path(tracefs)
    from vigil.kernel.mounts import ensure_tracefs

    return Path(ensure_tracefs())


def tracepoint_dir(system: str, event: str, *, tracefs: str | Path | None = None) -> Path:
    _check_name("subsystem", system)
    _check_name("event", event)
    return _tracefs(tracefs) / "events" / system / event


def available_tracepoints(*, tracefs: str | Path | None = None) -> list[tuple[str, str]]:
    """Every (system, event) the kernel lists in ``available_events``."""
    root = _tracefs(tracefs)
    try:
        text = (root / "available_events").read_text()
    except OSError:
        # Some kernels hide available_events from non-root; the directory tells too.
        events = root / "events"
        return sorted(
            (d.parent.name, d.name) for d in events.glob("*/*") if (d / "format").is_file()
        )
    found = []
    for line in text.splitlines():
        system, sep, event = line.strip().partition(":")
        if sep:
            found.append((system, event))
    return found


def _suggest(system: str, event: str, known: list[tuple[str, str]]) -> list[str]:
    names = [f"{s}/{e}" for s, e in known]
    same_event = [f"{s}/{e}" for s, e in known if e == event]
    close = difflib.get_close_matches(f"{system}/{event}", names, n=5, cutoff=0.6)
    in_system = [
        f"{system}/{e}"
        for e in difflib.get_close_matches(event, [e for s, e in known if s == system], 5, 0.5)
    ]
    ordered = dict.fromkeys(same_event + close + in_system)
    return list(ordered)[:5]


def read_format(
    system: str, event: str, *, tracefs: str | Path | None = None
) -> TracepointFormat:
    """The live format of tracepoint SYSTEM/EVENT (tracefs mounted when absent).

    Raises ``UnknownTracepointError`` when it does not exist (with the nearest
    names), ``PermissionError`` with what to do when it cannot be read,
    ``vigil.kernel.mounts.MountError`` when tracefs is absent and cannot be mounted,
    and ``ValueError`` naming the line if the kernel wrote something unexpected.
    """
    path = tracepoint_dir(system, event, tracefs=tracefs) / "format"
    try:
        text = path.read_text()
    except FileNotFoundError:
        root = path.parents[3]
        hints = _suggest(system, event, available_tracepoints(tracefs=root))
        guess = f"did you mean {', '.join(hints)}? " if hints else ""
        raise UnknownTracepointError(
            f"no tracepoint {system}/{event}: {path} does not exist; {guess}"
            f"every tracepoint is listed in {root / 'available_events'} as SYSTEM:EVENT "
            "(a module's tracepoints appear once the module is loaded)"
        ) from None
    except PermissionError as e:
        raise PermissionError(
            errno.EACCES,
            f"cannot read {path}: {e.strerror}; tracefs formats are readable by root only "
            "here: run vigil as root",
        ) from None
    return parse_format(text, system, source=str(path))
