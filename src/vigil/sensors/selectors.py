"""A hook's selectors, typed, and their compilation into the fixed layout the
kernel interprets (struct vigil_selectors, bpf/generic/selectors.h).

Tetragon's semantics (the kernel side is bpf/lib/selectors.bpf.h): the values
of a filter are ORed (for the Not operators ANDed: none may match), the
filters of a selector ANDed, the selectors of a hook ORed with the first that
matches winning and running its actions; no selectors means Post.

What cannot be compiled raises ValueError naming the limit or the field, at
plan time (TracepointHookPlan checks its selectors when it is made).
"""

from __future__ import annotations

import ctypes
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vigil.sensors.match_bits import PidFollow, Wanted, binary_match
from vigil.sensors.sel_task import (
    CapsFilter,
    NamespaceChangesFilter,
    NamespaceFilter,
    compile_task_filters,
)
from vigil.wire.records import (
    SEL_ACTIONS_MAX,
    SEL_ARGS_MAX,
    SEL_MAX,
    SEL_PIDS_MAX,
    SEL_POOL_WORDS,
    SEL_RET_ARGS_MAX,
    SEL_STR_MAX,
    SEL_TRIE_STR_MAX,
    SEL_VALUES_MAX,
    Action,
    ArgKind,
    SelAction,
    SelArg,
    Selector,
    Selectors,
    SelFlag,
    SelOp,
    SelPidFlag,
    SelPids,
    SelRateScope,
    SelStrKey,
    SelValueKey,
)
from vigil.wire.sock_arg import AF_INET, AF_INET6, FAMILIES, PROTOCOLS, TCP_STATES

if TYPE_CHECKING:
    from vigil.sensors.plan import ArgPlan

__all__ = [
    "SOCK_KINDS",
    "TETRAGON_ACTIONS",
    "ActionPlan",
    "ArgFilter",
    "BinaryFilter",
    "CapsFilter",
    "NamespaceChangesFilter",
    "NamespaceFilter",
    "PidFilter",
    "SelectorPlan",
    "compile_selectors",
    "match_wants",
    "parse_rate_limit",
    "selector_values",
]

# enum vigil_action -> Tetragon's KprobeAction name, as its events show it.
TETRAGON_ACTIONS = {
    Action.POST: "KPROBE_ACTION_POST",
    Action.NOPOST: "KPROBE_ACTION_NOPOST",
    Action.SIGKILL: "KPROBE_ACTION_SIGKILL",
    Action.SIGNAL: "KPROBE_ACTION_SIGNAL",
    Action.OVERRIDE: "KPROBE_ACTION_OVERRIDE",
    Action.NOTIFY_ENFORCER: "KPROBE_ACTION_NOTIFYENFORCER",
    Action.CLEANUP_ENFORCER: "KPROBE_ACTION_CLEANUPENFORCERNOTIFICATION",
    Action.TRACK_SOCK: "KPROBE_ACTION_TRACKSOCK",
    Action.UNTRACK_SOCK: "KPROBE_ACTION_UNTRACKSOCK",
}

# Tetragon's spellings of each operator (pkg/selectors/kernel.go, SelectorOp).
_INT_OPS = {
    "eq": SelOp.EQ, "Equal": SelOp.EQ,
    "neq": SelOp.NEQ, "NotEqual": SelOp.NEQ,
    "gt": SelOp.GT, "GT": SelOp.GT, "GreaterThan": SelOp.GT,
    "lt": SelOp.LT, "LT": SelOp.LT, "LessThan": SelOp.LT,
    "mask": SelOp.MASK, "Mask": SelOp.MASK,
    "InRange": SelOp.IN_RANGE,
    "NotInRange": SelOp.NOT_IN_RANGE,
}
_STR_OPS = {
    "eq": SelOp.STR_EQ, "Equal": SelOp.STR_EQ,
    "neq": SelOp.STR_NEQ, "NotEqual": SelOp.STR_NEQ,
    "prefix": SelOp.PREFIX, "Prefix": SelOp.PREFIX,
    "notprefix": SelOp.NOT_PREFIX, "NotPrefix": SelOp.NOT_PREFIX,
    "postfix": SelOp.POSTFIX, "Postfix": SelOp.POSTFIX,
    "notpostfix": SelOp.NOT_POSTFIX, "NotPostfix": SelOp.NOT_POSTFIX,
}
_MAP_OPS = {"InMap": SelOp.IN_MAP, "NotInMap": SelOp.NOT_IN_MAP}
# Operators on a sock argument (bpf/lib/arg_sock.bpf.h), by Tetragon's names.
_SOCK_OPS = {
    "SPort": SelOp.SPORT, "NotSPort": SelOp.NOT_SPORT, "DPort": SelOp.DPORT,
    "NotDPort": SelOp.NOT_DPORT, "SPortPriv": SelOp.SPORT_PRIV,
    "NotSportPriv": SelOp.NOT_SPORT_PRIV, "DPortPriv": SelOp.DPORT_PRIV,
    "NotDPortPriv": SelOp.NOT_DPORT_PRIV, "Family": SelOp.FAMILY, "Protocol": SelOp.PROTOCOL,
    "State": SelOp.STATE, "SAddr": SelOp.SADDR, "NotSAddr": SelOp.NOT_SADDR,
    "DAddr": SelOp.DADDR, "NotDAddr": SelOp.NOT_DADDR,
}
_ADDR_OPS = frozenset({SelOp.SADDR, SelOp.NOT_SADDR, SelOp.DADDR, SelOp.NOT_DADDR})
_PRIV_OPS = frozenset({SelOp.SPORT_PRIV, SelOp.NOT_SPORT_PRIV, SelOp.DPORT_PRIV,
                       SelOp.NOT_DPORT_PRIV})
_PORT_OPS = frozenset({SelOp.SPORT, SelOp.NOT_SPORT, SelOp.DPORT, SelOp.NOT_DPORT})
# InMap/NotInMap values of one hook, all filters together (ranges expanded):
# each is an entry of the hook's vigil_sel_values map. Its memlock on 6.18:
# 1.1 KB with one entry, 34 KB with a generated_syscalls list (351 entries),
# 1.4 MB at this limit (about 88 bytes an entry).
SEL_MAP_VALUES_MAX = 16384
_DECIMAL = re.compile(r"[+-]?[0-9]+")
# Tetragon operators this sensor does not evaluate yet.
_LATER_OPS = frozenset({
    "In", "NotIn", "SubString", "SubStringIgnCase", "CelExpr", "CapabilitiesGained",
})
# FileType's values (Tetragon's fileTypeTable) -> S_IF* of the inode's mode.
FILE_TYPE_MODES = {"sock": 0o140000, "socket": 0o140000, "lnk": 0o120000, "link": 0o120000,
                   "reg": 0o100000, "regular": 0o100000, "blk": 0o060000, "block": 0o060000,
                   "dir": 0o040000, "chr": 0o020000, "char": 0o020000, "fifo": 0o010000,
                   "pipe": 0o010000}
_FILE_TYPE_OPS = {"FileType": SelOp.FILE_TYPE, "NotFileType": SelOp.NOT_FILE_TYPE}
_PID_OPS = {"In": SelOp.PID_IN, "NotIn": SelOp.PID_NOT_IN}
_ACTIONS = {"post": Action.POST, "nopost": Action.NOPOST, "sigkill": Action.SIGKILL,
            "signal": Action.SIGNAL, "override": Action.OVERRIDE,
            "notifyenforcer": Action.NOTIFY_ENFORCER,
            "cleanupenforcernotification": Action.CLEANUP_ENFORCER,
            "tracksock": Action.TRACK_SOCK, "untracksock": Action.UNTRACK_SOCK}
# Tetragon's other actions (kernel.go actionTypeTable): known, not done here yet.
_LATER_ACTIONS = frozenset({
    "followfd", "unfollowfd", "copyfd", "geturl", "dnslookup", "set",
})
# The argument kinds whose sock TrackSock and UntrackSock name (argSock).
SOCK_OWNER_KINDS = frozenset({ArgKind.SOCK, ArgKind.SOCKET})
_INT_KINDS = frozenset({ArgKind.INT, ArgKind.SYSCALL64, ArgKind.KERNEL_CAP})
# Arguments in a sock's layout (struct vigil_sock_arg first), which the
# socket operators read.
SOCK_KINDS = frozenset({ArgKind.SOCK, ArgKind.SOCKET, ArgKind.SKB, ArgKind.SOCKADDR})
# Arguments no filter reads (a struct with no string or number to compare).
_BUF_KINDS = frozenset({ArgKind.CONST_BUF, ArgKind.CHAR_BUF, ArgKind.NONE, ArgKind.CRED,
                        ArgKind.CHAR_IOVEC, ArgKind.IOV_ITER,
                        ArgKind.USER_NS, ArgKind.BPF_ATTR, ArgKind.BPF_PROG, ArgKind.BPF_MAP,
                        ArgKind.PERF_EVENT, ArgKind.MODULE, ArgKind.LOAD_INFO})
_FILE_KINDS = frozenset({ArgKind.FILE, ArgKind.PATH, ArgKind.DENTRY, ArgKind.FD,
                         ArgKind.BINPRM, ArgKind.KIOCB, ArgKind.SOCKADDR_UN})
SIGNAL_MAX = 64  # SIGRTMAX: bpf_send_signal refuses what valid_signal() refuses
_GO_OCTAL = re.compile(r"[+-]?0[0-7_]+")


@dataclass(frozen=True, slots=True)
class PidFilter:
    """matchPIDs: the process's thread-group id, as the host sees it (with
    is_namespace_pid: as its own pid namespace sees it)."""

    operator: str  # "In" or "NotIn"
    values: tuple[int, ...]
    follow_forks: bool = False
    is_namespace_pid: bool = False


@dataclass(frozen=True, slots=True)
class ArgFilter:
    """matchArgs: `index` is the policy's (the tracepoint field's) index."""

    index: int
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BinaryFilter:
    """matchBinaries: the file the process executes (not the path it was
    asked to run: a symlink or a script's interpreter is matched as the
    kernel resolved it)."""

    operator: str
    values: tuple[str, ...]
    follow_children: bool = False


@dataclass(frozen=True, slots=True)
class ActionPlan:
    action: str  # "Post", "NoPost", "Sigkill", "Signal" (any case, as Tetragon)
    arg_sig: int = 0
    rate_limit: str = ""  # Post: "10", "10s", "5m", "1h"
    rate_limit_scope: str = ""  # "thread" (default), "process", "global"
    arg_error: int = 0  # Override, NotifyEnforcer: what the call returns instead (-1 is -EPERM)
    arg_sock: int = 0  # TrackSock, UntrackSock: the position of the sock argument

    @property
    def tracks_socks(self) -> bool:
        return self.action.lower() in ("tracksock", "untracksock")


@dataclass(frozen=True, slots=True)
class SelectorPlan:
    pids: tuple[PidFilter, ...] = ()
    args: tuple[ArgFilter, ...] = ()
    actions: tuple[ActionPlan, ...] = ()
    binaries: tuple[BinaryFilter, ...] = ()

    @property
    def rate_limited(self) -> bool:
        return any(a.rate_limit for a in self.actions)

    @property
    def overrides(self) -> bool:
        return any(a.action.lower() == "override" for a in self.actions)
    namespaces: tuple[NamespaceFilter, ...] = ()
    capabilities: tuple[CapsFilter, ...] = ()
    namespace_changes: tuple[NamespaceChangesFilter, ...] = ()
    capability_changes: tuple[CapsFilter, ...] = ()
    # matchReturnArgs (index 0: the return value) and matchReturnActions
    ret_args: tuple[ArgFilter, ...] = ()
    ret_actions: tuple[ActionPlan, ...] = ()


def parse_int(text: str) -> int:
    """An integer as Go's strconv.ParseInt(text, 0, 64) reads it: 0x, 0o, 0b
    and a leading 0 for octal, underscores between digits."""
    t = text.strip()
    if _GO_OCTAL.fullmatch(t) and t.lstrip("+-") != "0":
        return int(t.replace("0", "0o", 1), 0)
    return int(t, 0)


def _int_range(arg: ArgPlan) -> tuple[int, int]:
    bits = 8 * arg.size
    if arg.signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def _int_value(where: str, text: str, arg: ArgPlan) -> int:
    try:
        value = parse_int(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not an integer") from None
    lo, hi = _int_range(arg)
    if not lo <= value <= hi:
        raise ValueError(f"{where}: {value} is out of range for the {arg.tetragon_type} "
                         f"argument at index {arg.index} ({lo}..{hi})")
    return value & ((1 << 64) - 1)  # two's complement, as the kernel widens it


class _Pool:
    """String values, each zero-padded to 8 bytes, identical ones shared."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.at: dict[bytes, int] = {}

    def add(self, where: str, value: bytes) -> int:
        if value in self.at:
            return self.at[value]
        padded = value + bytes(-len(value) % 8)
        if len(self.data) + len(padded) > SEL_POOL_WORDS * 8:
            raise ValueError(f"{where}: the hook's string values take more than "
                             f"{SEL_POOL_WORDS * 8} bytes")
        word = len(self.data) // 8
        self.data += padded
        self.at[value] = word
        return word


def _compile_pids(where: str, f: PidFilter, out: SelPids, bit: int | None) -> None:
    if f.operator not in _PID_OPS:
        raise ValueError(f"{where}.operator: {f.operator!r}; matchPIDs takes In or NotIn")
    if bit is not None:
        if f.is_namespace_pid:
            raise ValueError(f"{where}.followForks: not supported yet together with "
                             "isNamespacePID")
        out.flags = SelPidFlag.FOLLOW
        out.bit = bit
    if not 1 <= len(f.values) <= SEL_VALUES_MAX:
        raise ValueError(f"{where}.values: {len(f.values)} values; a matchPIDs filter "
                         f"takes 1 to {SEL_VALUES_MAX}")
    out.op = _PID_OPS[f.operator]
    out.nvalues = len(f.values)
    for i, pid in enumerate(f.values):
        if not 0 <= pid < 1 << 32:
            raise ValueError(f"{where}.values[{i}]: {pid} is not a pid (0..{(1 << 32) - 1})")
        out.values[i] = pid


def _filtered(where: str, f: ArgFilter, args: Sequence[ArgPlan]) -> tuple[int, ArgPlan]:
    pos = next((i for i, a in enumerate(args) if a.index == f.index), None)
    if pos is None:
        have = ", ".join(str(a.index) for a in args) or "none"
        raise ValueError(f"{where}.index: {f.index} names no argument of this hook "
                         f"(its arguments' indexes: {have})")
    return pos, args[pos]


def _compile_in_map(where: str, f: ArgFilter, args: Sequence[ArgPlan], set_id: int,
                    out: SelArg) -> None:
    pos, arg = _filtered(where, f, args)
    _in_map_values(where, f, arg)
    out.index, out.op, out.nvalues, out.size = pos, _MAP_OPS[f.operator], 0, arg.size
    out.flags = SelFlag.SIGNED if arg.signed else 0
    out.lo[0] = set_id


def _sock_number(where: str, text: str, names: Mapping[int, str]) -> int:
    """A Family, Protocol or State value: its name (AF_INET, IPPROTO_TCP,
    TCP_SYN_SENT) or a number."""
    by_name = {v: k for k, v in names.items() if v}
    if text in by_name:
        return by_name[text]
    if _DECIMAL.fullmatch(text) and 0 <= int(text) < 1 << 16:
        return int(text)
    raise ValueError(f"{where}: {text!r} is not a name ({', '.join(list(by_name)[:4])}, ...) "
                     "or a number")


def _compile_sock(where: str, pos: int, f: ArgFilter, out: SelArg, set_id: int) -> None:
    op = _SOCK_OPS[f.operator]
    out.index, out.op, out.size, out.flags = pos, op, 0, 0
    if op in _PRIV_OPS:
        out.nvalues = 0
        return
    if op in _ADDR_OPS:
        addr_keys(where, f.values, set_id)  # checked here, written by selector_strings
        out.nvalues, out.lo[0] = 0, set_id
        return
    if not 1 <= len(f.values) <= SEL_VALUES_MAX:
        raise ValueError(f"{where}.values: {len(f.values)} values; a filter takes 1 to "
                         f"{SEL_VALUES_MAX}")
    out.nvalues = len(f.values)
    names = {SelOp.FAMILY: FAMILIES, SelOp.PROTOCOL: PROTOCOLS, SelOp.STATE: TCP_STATES}
    for i, text in enumerate(f.values):
        vwhere = f"{where}.values[{i}]"
        if op in _PORT_OPS:
            parts = text.split(":")
            if len(parts) > 2 or not all(p.isdigit() and int(p) < 1 << 16 for p in parts):
                raise ValueError(f"{vwhere}: {text!r} is not a port or a range 'min:max' "
                                 "of ports (0 to 65535)")
            lo, hi = int(parts[0]), int(parts[-1])
            if lo > hi:
                raise ValueError(f"{vwhere}: {text!r} is empty: min is above max")
        else:
            lo = hi = _sock_number(vwhere, text, names[op])
        out.lo[i], out.hi[i] = lo, hi


def addr_keys(where: str, values: Sequence[str], set_id: int) -> list[bytes]:
    """The keys of SAddr/DAddr values (addresses and CIDRs) in the hook's
    trie: the family's byte, then the network's bytes, its prefix long."""
    if not values:
        raise ValueError(f"{where}.values: an address filter takes 1 or more addresses")
    keys = []
    for i, text in enumerate(values):
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"{where}.values[{i}]: {text!r} is not an IP address or CIDR "
                             "(e.g. 10.0.0.0/8, ::1)") from None
        family = AF_INET if net.version == 4 else AF_INET6
        data = bytes([family]) + net.network_address.packed
        key = SelStrKey(32 + 8 + net.prefixlen, set_id)
        ctypes.memmove(key.data, data, len(data))
        keys.append(bytes(key))
    return keys


def _compile_arg(where: str, f: ArgFilter, args: Sequence[ArgPlan], pool: _Pool,
                 out: SelArg, set_id: int) -> None:
    pos, arg = _filtered(where, f, args)
    is_sock = arg.kind in SOCK_KINDS
    if is_sock != (f.operator in _SOCK_OPS):
        if is_sock:
            raise ValueError(f"{where}.operator: {f.operator} does not apply to a "
                             f"{arg.tetragon_type}; use the socket operators (SAddr, DAddr, "
                             "SPort, DPort, Protocol, Family, State, ...)")
        raise ValueError(f"{where}.operator: {f.operator} filters sock, socket, skb and "
                         f"sockaddr arguments; the argument at index {arg.index} is "
                         f"{arg.tetragon_type}")
    if is_sock:
        if f.operator == "State" and arg.kind not in (ArgKind.SOCK, ArgKind.SOCKET):
            # Tetragon accepts it and never matches: a packet or an address
            # has no TCP state.
            raise ValueError(f"{where}.operator: State filters sock and socket arguments; "
                             f"a {arg.tetragon_type} has no TCP state")
        if (f.operator in ("DAddr", "NotDAddr", "DPort", "NotDPort", "DPortPriv",
                           "NotDPortPriv") and arg.kind is ArgKind.SOCKADDR):
            # A sockaddr holds one address: Tetragon filters it as the source.
            raise ValueError(f"{where}.operator: a sockaddr holds one address and port, "
                             f"which {f.operator.replace('D', 'S', 1)} filters")
        _compile_sock(where, pos, f, out, set_id)
        return
    if f.operator in _FILE_TYPE_OPS:
        if arg.kind not in (ArgKind.FILE, ArgKind.PATH):
            raise ValueError(f"{where}.operator: {f.operator} filters file and path "
                             f"arguments; the argument at index {arg.index} is "
                             f"{arg.tetragon_type}")
        if not 1 <= len(f.values) <= SEL_VALUES_MAX:
            raise ValueError(f"{where}.values: {len(f.values)} values; a filter takes 1 to "
                             f"{SEL_VALUES_MAX}")
        out.index, out.op, out.nvalues, out.size, out.flags = (
            pos, _FILE_TYPE_OPS[f.operator], len(f.values), 0, SelFlag.PATH)
        for i, text in enumerate(f.values):
            if text not in FILE_TYPE_MODES:
                raise ValueError(f"{where}.values[{i}]: {text!r} is not a file type; one of "
                                 f"{', '.join(FILE_TYPE_MODES)}")
            out.lo[i] = FILE_TYPE_MODES[text]
        return
    if arg.kind in _BUF_KINDS:
        raise ValueError(f"{where}.index: filters on {arg.tetragon_type} arguments are not "
                         "supported yet")
    is_str = arg.kind not in _INT_KINDS
    ops = _STR_OPS if is_str else _INT_OPS
    if f.operator not in ops:
        if f.operator in _LATER_OPS:
            raise ValueError(f"{where}.operator: {f.operator} is not supported yet")
        other = _INT_OPS if is_str else _STR_OPS
        if f.operator in other:
            raise ValueError(f"{where}.operator: {f.operator} does not apply to the "
                             f"{arg.tetragon_type} argument at index {arg.index}")
        raise ValueError(f"{where}.operator: unknown operator {f.operator!r}")
    op = ops[f.operator]
    out.index, out.op, out.nvalues, out.size = pos, op, len(f.values), arg.size
    out.flags = SelFlag.SIGNED if (not is_str and arg.signed) else 0
    if arg.kind in _FILE_KINDS:  # the string is the path after the flags and mode
        out.flags = SelFlag.PATH
    if is_str and len(f.values) > SEL_VALUES_MAX:
        # More than the filter holds: the values go to the hook's trie.
        trie_keys(where, f.operator, f.values, set_id)
        out.flags |= SelFlag.TRIE
        out.nvalues, out.lo[0] = 0, set_id
        return
    if not 1 <= len(f.values) <= SEL_VALUES_MAX:
        what = "1 or more" if is_str else f"1 to {SEL_VALUES_MAX}"
        raise ValueError(f"{where}.values: {len(f.values)} values; a filter takes {what}")
    for i, text in enumerate(f.values):
        vwhere = f"{where}.values[{i}]"
        if is_str:
            raw = text.encode()
            if len(raw) > SEL_STR_MAX:
                raise ValueError(f"{vwhere}: {len(raw)} bytes; a string value is at most "
                                 f"{SEL_STR_MAX}")
            out.lo[i], out.hi[i] = pool.add(vwhere, raw), len(raw)
        elif op in (SelOp.IN_RANGE, SelOp.NOT_IN_RANGE):
            parts = text.split(":")
            if len(parts) != 2:
                raise ValueError(f"{vwhere}: {text!r}; a range is 'min:max'")
            lo = _int_value(vwhere, parts[0], arg)
            hi = _int_value(vwhere, parts[1], arg)
            if _signed(lo, arg) > _signed(hi, arg):
                raise ValueError(f"{vwhere}: {text!r} is empty: min is above max")
            out.lo[i], out.hi[i] = lo, hi
        else:
            out.lo[i] = _int_value(vwhere, text, arg)


def _decimal(where: str, text: str, arg: ArgPlan) -> int:
    """An InMap value: decimal only, as Tetragon's strconv.ParseInt(v, 10, 64)."""
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"{where}: {text!r} is not a decimal integer (InMap values are "
                         "written in decimal)")
    return _int_value(where, text, arg)


def _in_map_values(where: str, f: ArgFilter, arg: ArgPlan) -> set[int]:
    """The values an InMap/NotInMap filter's set holds, widened as the kernel
    widens the argument: each value, each range "a:b" expanded (its ends in
    either order, as Tetragon's writeRangeInMap swaps them)."""
    if arg.kind not in _INT_KINDS:
        raise ValueError(f"{where}.operator: {f.operator} filters integer arguments; the "
                         f"argument at index {arg.index} is {arg.tetragon_type}")
    if not f.values:
        raise ValueError(f"{where}.values: {f.operator} needs at least one value")
    out: set[int] = set()
    for i, text in enumerate(f.values):
        vwhere = f"{where}.values[{i}]"
        parts = text.split(":")
        if len(parts) > 2:
            raise ValueError(f"{vwhere}: {text!r} is not a value or a range 'min:max'")
        ends = sorted((_decimal(vwhere, p, arg) for p in parts),
                      key=lambda v: _signed(v, arg))
        lo, hi = _signed(ends[0], arg), _signed(ends[-1], arg)
        if len(out) + hi - lo + 1 > SEL_MAP_VALUES_MAX:
            raise ValueError(f"{vwhere}: {text!r} takes the hook's InMap values past "
                             f"{SEL_MAP_VALUES_MAX}; use InRange for a wide range")
        out.update(v & ((1 << 64) - 1) for v in range(lo, hi + 1))
    return out


def _signed(value: int, arg: ArgPlan) -> int:
    return value - (1 << 64) if arg.signed and value >= 1 << 63 else value


_RATE_UNITS = {"s": 1, "m": 60, "h": 3600}
_RATE_SCOPES = {"thread": SelRateScope.THREAD, "process": SelRateScope.PROCESS,
                "global": SelRateScope.GLOBAL}


def parse_rate_limit(where: str, text: str, scope: str) -> tuple[int, SelRateScope]:
    """rateLimit and rateLimitScope as Tetragon reads them
    (pkg/selectors/kernel.go parseRateLimit): a count of seconds, or of
    minutes or hours with an m or h suffix (s for seconds; any case), kept
    in milliseconds and capped at 2^32-1; the scope thread by default."""
    t = text.strip()
    unit = _RATE_UNITS.get(t[-1:].lower(), 0)
    digits = t[:-1] if unit else t
    if not digits.isascii() or not digits.isdigit() or int(digits) >= 1 << 32:
        raise ValueError(f"{where}.rateLimit: {text!r}; give seconds (10), or minutes or "
                         "hours (5m, 1h)")
    if scope and scope not in _RATE_SCOPES:
        raise ValueError(f"{where}.rateLimitScope: {scope!r}; one of "
                         f"{', '.join(_RATE_SCOPES)}")
    ms = min(int(digits) * (unit or 1) * 1000, (1 << 32) - 1)
    return ms, _RATE_SCOPES[scope or "thread"]


def _compile_action(where: str, a: ActionPlan, out: SelAction,
                    args: Sequence[ArgPlan] = ()) -> None:
    name = a.action.lower()
    if name not in _ACTIONS:
        if name in _LATER_ACTIONS:
            raise ValueError(f"{where}.action: {a.action} is not supported yet")
        raise ValueError(f"{where}.action: unknown action {a.action!r}")
    out.action = _ACTIONS[name]
    if a.rate_limit:
        if out.action != Action.POST:
            raise ValueError(f"{where}.rateLimit: only a Post action takes a rate limit "
                             f"(this is {a.action}), as in Tetragon")
        out.rate_ms, out.rate_scope = parse_rate_limit(where, a.rate_limit, a.rate_limit_scope)
    elif a.rate_limit_scope:
        raise ValueError(f"{where}.rateLimitScope: given without a rateLimit")
    if out.action == Action.SIGNAL:
        if not 1 <= a.arg_sig <= SIGNAL_MAX:
            raise ValueError(f"{where}.argSig: {a.arg_sig}; Signal needs a signal number "
                             f"1..{SIGNAL_MAX}")
        out.arg = a.arg_sig
    if out.action == Action.OVERRIDE:
        # What the function returns instead: usually a negative errno (-1 is
        # -EPERM), any int32 as Tetragon takes it (its CVE example returns 1).
        if not -(1 << 31) <= a.arg_error < 1 << 31:
            raise ValueError(f"{where}.argError: {a.arg_error} is not an int32")
        out.arg = a.arg_error & 0xFFFF_FFFF
    if out.action == Action.NOTIFY_ENFORCER:
        # The enforcer returns argError (an int32; 0 lets the call run) and
        # sends argSig (0: none), as Tetragon's.
        if not -(1 << 31) <= a.arg_error < 1 << 31:
            raise ValueError(f"{where}.argError: {a.arg_error} is not an int32")
        if not 0 <= a.arg_sig <= SIGNAL_MAX:
            raise ValueError(f"{where}.argSig: {a.arg_sig}; a signal number 1..{SIGNAL_MAX}, "
                             "or 0 for none")
        if not a.arg_error and not a.arg_sig:
            raise ValueError(f"{where}: a NotifyEnforcer with neither argError nor argSig "
                             "has the enforcer do nothing; give argError (e.g. -1, EPERM) "
                             "or argSig (e.g. 9)")
        out.arg = a.arg_error & 0xFFFF_FFFF
        out.sig = a.arg_sig
    if out.action in (Action.TRACK_SOCK, Action.UNTRACK_SOCK):
        socks = [i for i, p in enumerate(args) if p.kind in SOCK_OWNER_KINDS]
        if a.arg_sock not in socks:
            have = (f"this hook's sock arguments are at {socks}" if socks else
                    "this hook reads no sock or socket argument")
            raise ValueError(f"{where}.argSock: {a.arg_sock} is not a sock argument's position "
                             f"in args ({have}); {a.action} tracks the sock it names")
        out.arg = a.arg_sock


def match_wants(selectors: Sequence[SelectorPlan]) -> list[tuple[tuple[int, ...], Wanted, bool]]:
    """The match bits a hook's selectors need, in order: (where: (selector,)
    for matchBinaries, (selector, filter) for a followForks matchPIDs
    filter; what the bit means; whether the selector wants it clear).
    Raises ValueError for a filter that cannot be kept as a bit."""
    out: list[tuple[tuple[int, ...], Wanted, bool]] = []
    for s, sel in enumerate(selectors):
        for f, p in enumerate(sel.pids):
            if p.follow_forks:
                out.append(((s, f), PidFollow(tuple(p.values)), False))
        if len(sel.binaries) > 1:
            raise ValueError(f"selectors[{s}].matchBinaries: {len(sel.binaries)} filters; a "
                             "selector takes one (as Tetragon)")
        for b in sel.binaries:
            m, negated = binary_match(f"selectors[{s}].matchBinaries[0]", b.operator, b.values,
                                      b.follow_children)
            out.append(((s,), m, negated))
    return out


def _compile_returns(where: str, sel: SelectorPlan, ret: ArgPlan | None,
                     out: Selector, s: int) -> None:
    """matchReturnArgs on the return value `ret` (None: the hook reports no
    return) and matchReturnActions."""
    if (sel.ret_args or sel.ret_actions) and ret is None:
        name = "matchReturnArgs" if sel.ret_args else "matchReturnActions"
        raise ValueError(f"{where}.{name}: the hook reports no return; give it return: true "
                         "and a returnArg")
    for name, items in (("matchReturnArgs", sel.ret_args),
                        ("matchReturnActions", sel.ret_actions)):
        most = SEL_RET_ARGS_MAX if items is sel.ret_args else SEL_ACTIONS_MAX
        if len(items) > most:
            raise ValueError(f"{where}.{name}: {len(items)} entries; a selector takes at most "
                             f"{most}")
    assert ret is not None or not sel.ret_args
    if sel.ret_args and ret is not None and ret.kind not in _INT_KINDS:
        raise ValueError(f"{where}.matchReturnArgs: filters an integer return value; this "
                         f"hook's returnArg is {ret.tetragon_type}")
    out.nret_args, out.nret_actions = len(sel.ret_args), len(sel.ret_actions)
    for i, af in enumerate(sel.ret_args):
        fwhere = f"{where}.matchReturnArgs[{i}]"
        if af.index != 0:
            raise ValueError(f"{fwhere}.index: {af.index}; the return value is index 0")
        assert ret is not None
        plan = replace(ret, index=0)
        if af.operator in _MAP_OPS:
            _compile_in_map(fwhere, replace(af, index=0), (plan,), _RET_SETS + _set_id(s, i),
                            out.ret_args[i])
        else:
            _compile_arg(fwhere, af, (plan,), _Pool(), out.ret_args[i], _RET_SETS + _set_id(s, i))
    for i, act in enumerate(sel.ret_actions):
        awhere = f"{where}.matchReturnActions[{i}]"
        name = act.action.lower()
        if name == "override":
            raise ValueError(f"{awhere}.action: Override acts before the call runs; at its "
                             "return it has nothing to stop")
        if name in ("tracksock", "untracksock"):
            raise ValueError(f"{awhere}.action: {act.action} at return tracks the sock "
                             "returned: use the kprobe's returnArgAction")
        if act.rate_limit:
            raise ValueError(f"{awhere}.rateLimit: vigil limits the rate of entries only "
                             "(matchActions)")
        _compile_action(awhere, act, out.ret_actions[i])


def compile_selectors(selectors: Sequence[SelectorPlan], args: Sequence[ArgPlan],
                      bits: Sequence[int] | None = None, *,
                      host: Mapping[str, int] | None = None,
                      ret: ArgPlan | None = None) -> bytes:
    """The value of the hook's vigil_selectors map. `bits`: the match bit
    of each of match_wants(selectors), from the runtime's MatchBits; None
    to check that the selectors compile (the bits are then placeholders).
    `host`: the host's namespaces for host_ns and isNamespaceCapability
    (default: pid 1's)."""
    if len(selectors) > SEL_MAX:
        raise ValueError(f"{len(selectors)} selectors; a hook takes at most {SEL_MAX}")
    wants = match_wants(selectors)  # at most 5 * (4 + 1): the 64 bits are the runtime's
    if bits is None:
        bits = range(len(wants))
    if len(bits) != len(wants):
        raise ValueError(f"{len(bits)} match bits for {len(wants)} filters")
    bit_at = {where: (bit, negated) for (where, _, negated), bit in zip(wants, bits, strict=True)}
    rec = Selectors()
    rec.nsel = len(selectors)
    pool = _Pool()
    for s, sel in enumerate(selectors):
        where = f"selectors[{s}]"
        out = rec.sel[s]
        if (s,) in bit_at:
            bit, negated = bit_at[(s,)]
            if negated:
                out.bin_clear = 1 << bit
            else:
                out.bin_set = 1 << bit
        for name, items, limit in (("matchPIDs", sel.pids, SEL_PIDS_MAX),
                                   ("matchArgs", sel.args, SEL_ARGS_MAX),
                                   ("matchActions", sel.actions, SEL_ACTIONS_MAX)):
            if len(items) > limit:
                raise ValueError(f"{where}.{name}: {len(items)} entries; a selector "
                                 f"takes at most {limit}")
        out.npids, out.nargs, out.nactions = len(sel.pids), len(sel.args), len(sel.actions)
        for i, pf in enumerate(sel.pids):
            follow = bit_at.get((s, i))
            _compile_pids(f"{where}.matchPIDs[{i}]", pf, out.pids[i],
                          None if follow is None else follow[0])
        for i, af in enumerate(sel.args):
            if af.operator in _MAP_OPS:
                _compile_in_map(f"{where}.matchArgs[{i}]", af, args, _set_id(s, i),
                                out.args[i])
            else:
                _compile_arg(f"{where}.matchArgs[{i}]", af, args, pool, out.args[i],
                             _set_id(s, i))
        for i, act in enumerate(sel.actions):
            _compile_action(f"{where}.matchActions[{i}]", act, out.actions[i], args)
        compile_task_filters(where, sel.pids, sel.namespaces, sel.capabilities,
                             sel.namespace_changes, sel.capability_changes, out, host)
        _compile_returns(where, sel, ret, out, s)
    ctypes.memmove(ctypes.addressof(rec.pool), bytes(pool.data), len(pool.data))
    return bytes(rec)


def trie_keys(where: str, operator: str, values: Sequence[str], set_id: int) -> list[bytes]:
    """The keys of a string filter's values in the hook's vigil_sel_strs trie
    (struct vigil_sel_str_key): Prefix values as they are, Postfix values
    reversed, Equal values with a NUL after them."""
    op = _STR_OPS[operator]
    exact = op in (SelOp.STR_EQ, SelOp.STR_NEQ)
    most = SEL_TRIE_STR_MAX - 1 if exact else SEL_TRIE_STR_MAX
    keys = []
    for i, text in enumerate(values):
        raw = text.encode()
        if len(raw) > most:
            raise ValueError(f"{where}.values[{i}]: {len(raw)} bytes; a filter with more "
                             f"than {SEL_VALUES_MAX} values takes values of at most {most} "
                             f"bytes (split it into filters of {SEL_VALUES_MAX} values, which "
                             f"take {SEL_STR_MAX})")
        postfix = op in (SelOp.POSTFIX, SelOp.NOT_POSTFIX)
        data = raw + b"\0" if exact else raw[::-1] if postfix else raw
        key = SelStrKey(32 + 8 * len(data), set_id)
        ctypes.memmove(key.data, data, len(data))
        keys.append(bytes(key))
    return keys


def selector_strings(selectors: Sequence[SelectorPlan], args: Sequence[ArgPlan]) -> list[bytes]:
    """The keys of the hook's vigil_sel_strs trie: the values of every string
    filter with more than SEL_VALUES_MAX of them; ValueError past
    SEL_MAP_VALUES_MAX."""
    keys: set[bytes] = set()
    for s, sel in enumerate(selectors):
        for i, af in enumerate(sel.args):
            if af.operator in _SOCK_OPS and _SOCK_OPS[af.operator] in _ADDR_OPS:
                keys.update(addr_keys(f"selectors[{s}].matchArgs[{i}]", af.values,
                                      _set_id(s, i)))
                continue
            if af.operator not in _STR_OPS or len(af.values) <= SEL_VALUES_MAX:
                continue
            where = f"selectors[{s}].matchArgs[{i}]"
            _, arg = _filtered(where, af, args)
            if arg.kind in _INT_KINDS or arg.kind in _BUF_KINDS or arg.kind in SOCK_KINDS:
                continue  # not a string filter: compile_selectors says why
            keys.update(trie_keys(where, af.operator, af.values, _set_id(s, i)))
            if len(keys) > SEL_MAP_VALUES_MAX:
                raise ValueError(f"{where}.values: the hook's string filters hold more than "
                                 f"{SEL_MAP_VALUES_MAX} values")
    return sorted(keys)


# Return filters' sets follow the entry filters' in the same maps.
_RET_SETS = SEL_MAX * SEL_ARGS_MAX


def _set_id(sel: int, flt: int) -> int:
    """The set of filter `flt` of selector `sel` in the hook's vigil_sel_values
    map (InMap) or vigil_sel_strs trie (strings)."""
    return sel * SEL_ARGS_MAX + flt


def selector_values(selectors: Sequence[SelectorPlan], args: Sequence[ArgPlan],
                    ret: ArgPlan | None = None) -> list[bytes]:
    """The keys of the hook's vigil_sel_values map (struct vigil_sel_value_key):
    every InMap/NotInMap value of every filter (matchReturnArgs' on `ret`,
    the return value); ValueError past SEL_MAP_VALUES_MAX."""
    keys: list[bytes] = []
    for s, sel in enumerate(selectors):
        filters = [(f"selectors[{s}].matchArgs[{i}]", af, args, _set_id(s, i))
                   for i, af in enumerate(sel.args)]
        if ret is not None:
            filters += [(f"selectors[{s}].matchReturnArgs[{i}]", replace(af, index=0),
                         (replace(ret, index=0),), _RET_SETS + _set_id(s, i))
                        for i, af in enumerate(sel.ret_args)]
        for where, af, fargs, set_id in filters:
            if af.operator not in _MAP_OPS:
                continue
            _, arg = _filtered(where, af, fargs)
            values = _in_map_values(where, af, arg)
            if len(keys) + len(values) > SEL_MAP_VALUES_MAX:
                raise ValueError(f"{where}.values: the hook's InMap/NotInMap filters hold "
                                 f"more than {SEL_MAP_VALUES_MAX} values")
            keys.extend(bytes(SelValueKey(set_id, 0, v)) for v in sorted(values))
    return keys
