"""One matchArgs / matchData / matchReturnArgs filter: its operator against the argument's
type, and its values as Tetragon's parser reads them (pkg/selectors/kernel.go
parseMatchArg and the write* functions it calls).

``arg_type`` is the declared type of the filtered argument, or None where it is
only known at load time (``auto`` on a tracepoint, a ``resolve`` path): then only
the checks that do not depend on the type run, and the planner checks the rest
against the tracepoint format or BTF.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from vigil.policy import limits
from vigil.policy.checks.goparse import parse_int
from vigil.policy.errors import PathPart
from vigil.policy.findings import Findings
from vigil.policy.model import ArgSelector, ListSpec
from vigil.policy.suggest import closest, one_of
from vigil.process.caps import CAP_NAMES

__all__ = ["CAP_TYPES", "check_capability_names", "check_filter"]

Path = tuple[PathPart, ...]

# Go type widths of Tetragon's generic types, as writeMatchValues parses them
_S32 = {"int", "sint32", "int32", "size_t", "sint16", "int16", "sint8", "int8"}
_U32 = {"uint32", "uint16", "uint8"}
_S64 = {"sint64", "int64", "long", "syscall64"}
_U64 = {"uint64", "ulong"}
INT_TYPES = _S32 | _U32 | _S64 | _U64
CAP_TYPES = {"kernel_cap_t", "cap_inheritable", "cap_permitted", "cap_effective"}
_SOCK = {"sock", "skb", "sockaddr", "socket"}
# Equal/NotEqual compare these as strings (through the string hash maps)
_STRINGY = {"fd", "file", "path", "string", "char_buf", "linux_binprm", "data_loc",
            "net_device", "sockaddr_un"}
_NUMERIC_OPS = {"Equal", "NotEqual", "GT", "LT", "GreaterThan", "LessThan", "Mask"}
_PORT_OPS = {"SPort", "NotSPort", "DPort", "NotDPort", "Protocol", "Family", "State"}
_ADDR_OPS = {"SAddr", "NotSAddr", "DAddr", "NotDAddr"}
_PRIV_OPS = {"SPortPriv", "NotSportPriv", "DPortPriv", "NotDPortPriv"}
# kernel.go fileTypeTable
FILE_TYPES = ("sock", "socket", "lnk", "link", "reg", "regular", "blk", "block", "dir", "chr",
              "char", "fifo", "pipe")


def _bits(ty: str) -> tuple[int, bool]:
    if ty in _S32:
        return 32, True
    if ty in _U32:
        return 32, False
    if ty in _S64:
        return 64, True
    return 64, False


def check_capability_names(f: Findings, path: Path, values: Sequence[str]) -> None:
    """CAP_* names as Tetragon's capsStrToUint64 takes them (trimmed, upper-cased)."""
    for i, v in enumerate(values):
        name = v.strip().upper()
        if name in CAP_NAMES:
            continue
        if name == "CAP_DAC_OVERRIDE":
            hint = "Tetragon spells this one 'DAC_OVERRIDE', without CAP_"
        else:
            best = closest(name, CAP_NAMES)
            hint = f"did you mean '{best}'?" if best else "a capability is named like CAP_SYS_ADMIN"
        f.error((*path, i), f"'{v}' is not a capability Tetragon knows; {hint}", value=True)


def _check_cap_mask(f: Findings, path: Path, value: str) -> None:
    if parse_int(value, bits=64, signed=False) is not None:
        return
    if any(n.strip().upper() not in CAP_NAMES for n in value.split(",")):
        f.error(path, f"'{value}' is not a capability mask: write a number or CAP_* names "
                "separated by commas (e.g. CAP_SYS_ADMIN,CAP_NET_RAW)", value=True)


def _check_count(f: Findings, path: Path, flt: ArgSelector, why: str) -> None:
    if len(flt.values) > limits.MAX_MATCH_VALUES:
        f.error(path, f"{len(flt.values)} values; Tetragon compares at most "
                f"{limits.MAX_MATCH_VALUES} values in one {flt.operator} filter "
                f"(MAX_MATCH_VALUES){why}")


def _check_list_ref(f: Findings, path: Path, value: str, ty: str | None,
                    lists: Sequence[ListSpec]) -> None:
    name = value[len("list:"):]
    found = next((lst for lst in lists if lst.name == name), None)
    if found is None:
        names = [lst.name for lst in lists]
        best = closest(name, names) if names else None
        hint = f"did you mean 'list:{best}'?" if best else "add it to spec.lists"
        f.error(path, f"list '{name}' is not defined; {hint}", value=True)
        return
    if found.type not in ("syscalls", "generated_syscalls"):
        f.error(path, f"list '{name}' is not a syscall list; InMap takes lists of type "
                "syscalls or generated_syscalls", value=True)
    elif ty is not None and ty != "syscall64":
        f.error(path, f"list '{name}' holds syscalls, but the argument is {ty}; a syscall "
                "list filters a syscall64 argument", value=True)


def _decimal_ok(text: str, signed: bool | None) -> bool:
    """ParseInt(text, 10, 64) for signed types, ParseUint for unsigned, either if unknown."""
    as_signed = parse_int(text, bits=64, signed=True, base=10) is not None
    as_unsigned = parse_int(text, bits=64, signed=False, base=10) is not None
    if signed is None:
        return as_signed or as_unsigned
    return as_signed if signed else as_unsigned


def _check_in_map(f: Findings, path: Path, flt: ArgSelector, ty: str | None,
                  lists: Sequence[ListSpec]) -> None:
    if ty is not None and ty not in INT_TYPES:
        f.error((*path, "operator"), f"{flt.operator} filters integer arguments; this "
                f"argument is {ty}", value=True)
        for i, v in enumerate(flt.values):
            if v.startswith("list:"):
                _check_list_ref(f, (*path, "values", i), v, None, lists)
        return
    signed = _bits(ty)[1] if ty is not None else None
    for i, v in enumerate(flt.values):
        where = (*path, "values", i)
        if v.startswith("list:"):
            _check_list_ref(f, where, v, ty, lists)
            continue
        parts = v.split(":") if ":" in v else [v]
        if len(parts) > 2:
            f.error(where, f"'{v}' is not a value or a range; write N or MIN:MAX", value=True)
            continue
        if not all(_decimal_ok(p, signed) for p in parts):
            what = "a decimal integer range" if len(parts) > 1 else "a decimal integer"
            f.error(where, f"'{v}' is not {what} for a {ty or 'integer'} argument",
                    value=True)


def _check_range(f: Findings, path: Path, flt: ArgSelector, ty: str | None) -> None:
    _check_count(f, (*path, "values"), flt, "")
    if ty is not None and ty not in INT_TYPES:
        f.error((*path, "operator"), f"{flt.operator} takes integer arguments; this "
                f"argument is {ty}", value=True)
        return
    for i, v in enumerate(flt.values):
        where = (*path, "values", i)
        parts = v.split(":")
        bounds = [parse_int(p, bits=64, signed=True) for p in parts]
        if len(parts) != 2 or None in bounds:
            f.error(where, f"'{v}' is not a range; write MIN:MAX with two integers, "
                    "e.g. 100:200", value=True)
        elif ty is not None and _bits(ty)[0] == 32 and max(b for b in bounds if b is not None) \
                > 0xFFFF_FFFF:
            f.error(where, f"'{v}' does not fit a {ty} argument (at most 4294967295)",
                    value=True)


def _check_numeric(f: Findings, path: Path, flt: ArgSelector, ty: str) -> None:
    _check_count(f, (*path, "values"), flt,
                 "; use InMap for more" if flt.operator in ("Equal", "NotEqual") else "")
    if ty in CAP_TYPES:
        for i, v in enumerate(flt.values):
            _check_cap_mask(f, (*path, "values", i), v)
        return
    bits, signed = _bits(ty)
    for i, v in enumerate(flt.values):
        if parse_int(v, bits=bits, signed=signed) is None:
            kind = f"{'a signed' if signed else 'an unsigned'} {bits}-bit integer"
            examples = "42, -1 or 0x1f" if signed else "42 or 0x1f"
            f.error((*path, "values", i), f"'{v}' is not {kind} (the argument is {ty}); write "
                    f"a number such as {examples}", value=True)


def _check_strings(f: Findings, path: Path, flt: ArgSelector, ty: str | None) -> None:
    op = flt.operator
    for i, v in enumerate(flt.values):
        where = (*path, "values", i)
        n = len(v.encode())
        if op in ("Prefix", "NotPrefix") and n > limits.STRING_PREFIX_MAX:
            f.error(where, f"{n} bytes; Tetragon matches a prefix of at most "
                    f"{limits.STRING_PREFIX_MAX} bytes (StringPrefixMaxLength)", value=True)
        elif op in ("Postfix", "NotPostfix") and \
                len((v if ty == "char_buf" else v.rstrip("\0")).encode()) > \
                limits.STRING_POSTFIX_MAX:
            f.error(where, f"{n} bytes; Tetragon matches a postfix of at most "
                    f"{limits.STRING_POSTFIX_MAX} bytes (StringPostfixMaxLength - 1)",
                    value=True)
        elif op in ("Equal", "NotEqual") and n > limits.STRING_EQUAL_MAX:
            f.error(where, f"{n} bytes; Tetragon compares strings of at most "
                    f"{limits.STRING_EQUAL_MAX} bytes", value=True)


def _check_socket(f: Findings, path: Path, flt: ArgSelector, ty: str | None) -> None:
    op = flt.operator
    if ty is not None:
        allowed = _SOCK | {"sockaddr_un"} if op in _PORT_OPS else _SOCK
        if ty not in allowed:
            f.error((*path, "operator"), f"{op} filters sock, skb, sockaddr or socket "
                    f"arguments; this argument is {ty}", value=True)
            return
        if ty == "sockaddr_un" and op != "Family":
            f.error((*path, "operator"), "a sockaddr_un argument takes Family and the "
                    "string operators (Equal, NotEqual, Prefix, NotPrefix) only", value=True)
            return
        if ty == "sockaddr" and op in ("DPort", "NotDPort", "Protocol", "State", "DAddr",
                                       "NotDAddr", "DPortPriv", "NotDPortPriv"):
            f.error((*path, "operator"), "a sockaddr argument has a source only: use SAddr, "
                    "NotSAddr, SPort, NotSPort, SPortPriv, NotSportPriv or Family", value=True)
            return
    if op in _PRIV_OPS:
        if flt.values:
            f.warn((*path, "values"), f"{op} takes no values; they are ignored")
        return
    for i, v in enumerate(flt.values):
        where = (*path, "values", i)
        if op in _ADDR_OPS:
            try:
                if "/" in v:
                    ipaddress.ip_network(v, strict=False)
                else:
                    ipaddress.ip_address(v)
            except ValueError:
                f.error(where, f"'{v}' is not an IP address or CIDR (e.g. 10.0.0.0/8, "
                        "::1)", value=True)
        elif op in ("SPort", "NotSPort", "DPort", "NotDPort"):
            parts = v.split(":")
            if len(parts) > 2 or any(parse_int(p, bits=64, signed=False, base=10) is None
                                     for p in parts):
                f.error(where, f"'{v}' is not a port or a port range (e.g. 443, "
                        "1024:65535)", value=True)


def check_filter(f: Findings, path: Path, flt: ArgSelector, ty: str | None,
                 lists: Sequence[ListSpec], substrings: list[int]) -> None:
    """Check one filter at ``path``; ``substrings`` counts SubString values per hook."""
    op = flt.operator
    if op == "CelExpr":
        return  # compiled by Tetragon's CEL-to-BPF translator; nothing to check here
    if op in ("InMap", "NotInMap"):
        _check_in_map(f, path, flt, ty, lists)
    elif op in ("InRange", "NotInRange"):
        _check_range(f, path, flt, ty)
    elif op in ("Prefix", "NotPrefix", "Postfix", "NotPostfix"):
        _check_strings(f, path, flt, ty)
    elif op in ("SubString", "SubStringIgnCase"):
        if ty is not None and ty not in ("string", "char_buf"):
            f.warn((*path, "operator"), f"{op} matches string and char_buf arguments; on "
                   f"{ty} Tetragon writes no value, so the filter never matches", value=True)
        for i, v in enumerate(flt.values):
            if len(v.encode()) > limits.SUBSTRING_MAX:
                f.error((*path, "values", i), f"{len(v.encode())} bytes; a SubString value "
                        f"is at most {limits.SUBSTRING_MAX} bytes", value=True)
        substrings[0] += len(flt.values)
        if substrings[0] > limits.SUBSTRING_MAX_ENTRIES:
            f.error((*path, "values"), f"more than {limits.SUBSTRING_MAX_ENTRIES} SubString "
                    "values in this hook; Tetragon keeps at most that many "
                    "(SubstringMapEntries)")
    elif op in _PORT_OPS | _ADDR_OPS | _PRIV_OPS:
        _check_socket(f, path, flt, ty)
    elif op in ("FileType", "NotFileType"):
        if ty is not None and ty not in ("file", "path"):
            f.error((*path, "operator"), f"{op} filters file and path arguments; this "
                    f"argument is {ty}", value=True)
        _check_count(f, (*path, "values"), flt, "")
        for i, v in enumerate(flt.values):
            if v not in FILE_TYPES:
                best = closest(v, FILE_TYPES)
                hint = f"did you mean '{best}'?" if best else f"one of {one_of(FILE_TYPES)}"
                f.error((*path, "values", i), f"'{v}' is not a file type; {hint}", value=True)
    elif op == "CapabilitiesGained":
        if len(flt.args) != 2:
            f.error((*path, "args"), "CapabilitiesGained compares two arguments: give their "
                    "positions in args, the new capabilities then the old, e.g. args: [0, 1]")
    elif op in _NUMERIC_OPS:
        if ty is None:
            return
        if op in ("Equal", "NotEqual") and ty in _STRINGY:
            _check_strings(f, path, flt, ty)
        elif ty in INT_TYPES or ty in CAP_TYPES or ty == "bpf_cmd":
            _check_numeric(f, path, flt, "int" if ty == "bpf_cmd" else ty)
        elif ty in _SOCK:
            f.error((*path, "operator"), f"{ty} arguments do not take {op}; use the socket "
                    "operators (SAddr, DAddr, SPort, DPort, Protocol, Family, State)",
                    value=True)
        else:
            f.error((*path, "operator"), f"Tetragon cannot compare a {ty} argument with {op}",
                    value=True)
