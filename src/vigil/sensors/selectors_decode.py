"""Compiled selectors (the value of a hook's vigil_selectors map) decoded back
into what the kernel will evaluate: the inverse of compile_selectors.

`vigil policy explain` shows this rather than the YAML, so what it prints is
what bpf/lib/selectors.bpf.h really reads: operators as compiled, integers as
the widened 64-bit values, strings as the pool holds them. Decoding goes
through the ctypes mirror (wire/records.py Selectors) one field at a time, so
a field added to struct vigil_selector is one more line here.

Bytes that compile_selectors could not have written (a count past its limit,
an unknown operator, an argument the hook does not have) raise ValueError
naming the field.
"""

from __future__ import annotations

import ctypes
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vigil.process.caps import cap_names
from vigil.sensors.selectors import (
    SOCK_KINDS,
    ActionPlan,
    ArgFilter,
    PidFilter,
    SelectorPlan,
)
from vigil.wire.records import (
    NAMESPACE_NAMES,
    SEL_ACTIONS_MAX,
    SEL_ARGS_MAX,
    SEL_CAPS_MAX,
    SEL_MAX,
    SEL_NS_MAX,
    SEL_PIDS_MAX,
    SEL_POOL_WORDS,
    SEL_RET_ARGS_MAX,
    SEL_STR_MAX,
    SEL_VALUES_MAX,
    Action,
    ArgKind,
    SelAction,
    SelArg,
    SelCaps,
    SelCapSet,
    Selector,
    Selectors,
    SelFlag,
    SelOp,
    SelPids,
    SelStrKey,
    SelTask,
    SelValueKey,
)
from vigil.wire.sock_arg import AF_INET

if TYPE_CHECKING:
    from vigil.sensors.plan import ArgPlan

__all__ = [
    "ACTION_NAMES",
    "OP_NAMES",
    "DecodedAction",
    "DecodedArg",
    "DecodedPids",
    "DecodedSelector",
    "DecodedSelectors",
    "decode_selectors",
]

# Each compiled operator under Tetragon's canonical name for it.
OP_NAMES: dict[SelOp, str] = {
    SelOp.PID_IN: "In", SelOp.PID_NOT_IN: "NotIn",
    SelOp.EQ: "Equal", SelOp.NEQ: "NotEqual", SelOp.GT: "GT", SelOp.LT: "LT",
    SelOp.MASK: "Mask", SelOp.IN_RANGE: "InRange", SelOp.NOT_IN_RANGE: "NotInRange",
    SelOp.STR_EQ: "Equal", SelOp.STR_NEQ: "NotEqual", SelOp.PREFIX: "Prefix",
    SelOp.NOT_PREFIX: "NotPrefix", SelOp.POSTFIX: "Postfix", SelOp.NOT_POSTFIX: "NotPostfix",
    SelOp.IN_MAP: "InMap", SelOp.NOT_IN_MAP: "NotInMap",
    SelOp.SPORT: "SPort", SelOp.NOT_SPORT: "NotSPort", SelOp.DPORT: "DPort",
    SelOp.NOT_DPORT: "NotDPort", SelOp.SPORT_PRIV: "SPortPriv",
    SelOp.NOT_SPORT_PRIV: "NotSportPriv", SelOp.DPORT_PRIV: "DPortPriv",
    SelOp.NOT_DPORT_PRIV: "NotDPortPriv", SelOp.FAMILY: "Family", SelOp.PROTOCOL: "Protocol",
    SelOp.STATE: "State", SelOp.SADDR: "SAddr", SelOp.NOT_SADDR: "NotSAddr",
    SelOp.DADDR: "DAddr", SelOp.NOT_DADDR: "NotDAddr",
    SelOp.FILE_TYPE: "FileType", SelOp.NOT_FILE_TYPE: "NotFileType",
}
# A FileType value's mode bits -> its canonical name.
_FILE_TYPE_NAMES = {0o140000: b"sock", 0o120000: b"lnk", 0o100000: b"reg", 0o060000: b"blk",
                    0o040000: b"dir", 0o020000: b"chr", 0o010000: b"fifo"}
_PID_OPS = frozenset({SelOp.PID_IN, SelOp.PID_NOT_IN})
_MAP_OPS = frozenset({SelOp.IN_MAP, SelOp.NOT_IN_MAP})
_INT_OPS = frozenset({SelOp.EQ, SelOp.NEQ, SelOp.GT, SelOp.LT, SelOp.MASK,
                      SelOp.IN_RANGE, SelOp.NOT_IN_RANGE}) | _MAP_OPS
_RANGE_OPS = frozenset({SelOp.IN_RANGE, SelOp.NOT_IN_RANGE})
_SOCK_OPS = frozenset(op for op in SelOp if SelOp.SPORT <= op <= SelOp.NOT_DADDR)
_PORT_OPS = frozenset({SelOp.SPORT, SelOp.NOT_SPORT, SelOp.DPORT, SelOp.NOT_DPORT})
_ADDR_OPS = frozenset({SelOp.SADDR, SelOp.NOT_SADDR, SelOp.DADDR, SelOp.NOT_DADDR})
_PRIV_OPS = frozenset({SelOp.SPORT_PRIV, SelOp.NOT_SPORT_PRIV, SelOp.DPORT_PRIV,
                       SelOp.NOT_DPORT_PRIV})
_FILE_TYPE_OPS = frozenset({SelOp.FILE_TYPE, SelOp.NOT_FILE_TYPE})
_STR_OPS = frozenset(op for op in SelOp if SelOp.STR_EQ <= op <= SelOp.NOT_POSTFIX) | (
    _FILE_TYPE_OPS)
# Argument kinds compared as integers.
_INT_KINDS = frozenset({ArgKind.INT, ArgKind.SYSCALL64, ArgKind.KERNEL_CAP})
ACTION_NAMES: dict[Action, str] = {
    Action.POST: "Post", Action.NOPOST: "NoPost", Action.SIGKILL: "Sigkill",
    Action.SIGNAL: "Signal", Action.OVERRIDE: "Override",
    Action.NOTIFY_ENFORCER: "NotifyEnforcer",
    Action.CLEANUP_ENFORCER: "CleanupEnforcerNotification",
    Action.TRACK_SOCK: "TrackSock", Action.UNTRACK_SOCK: "UntrackSock",
}


@dataclass(frozen=True, slots=True)
class DecodedPids:
    op: SelOp
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DecodedArg:
    """One matchArgs filter as the kernel holds it.

    `position` is the compiled index (into the hook's arguments), `index` the
    policy's; `values` are ints (signed when the filter compares signed),
    (min, max) pairs for the range operators, and bytes for strings.
    """

    position: int
    index: int
    op: SelOp
    size: int
    signed: bool
    values: tuple[int | tuple[int, int] | bytes, ...]


@dataclass(frozen=True, slots=True)
class DecodedAction:
    action: Action
    arg: int  # Signal: the signal number; Override, NotifyEnforcer: argError; TrackSock: argSock
    sig: int = 0  # NotifyEnforcer: argSig


@dataclass(frozen=True, slots=True)
class DecodedSelector:
    pids: tuple[DecodedPids, ...]
    args: tuple[DecodedArg, ...]
    actions: tuple[DecodedAction, ...]  # none: Post
    # The filters on the process and the task, one line each as the kernel
    # evaluates them (match bits, namespaces, capabilities, their changes).
    process: tuple[str, ...] = ()
    # matchReturnArgs (on the return value) and matchReturnActions
    ret_args: tuple[DecodedArg, ...] = ()
    ret_actions: tuple[DecodedAction, ...] = ()


@dataclass(frozen=True, slots=True)
class DecodedSelectors:
    selectors: tuple[DecodedSelector, ...]  # none: every hit is posted
    pool_bytes: int  # bytes of the string pool the values use
    pool_capacity: int = SEL_POOL_WORDS * 8

    def to_plans(self, args: Sequence[ArgPlan]) -> tuple[SelectorPlan, ...]:
        """The selectors as a plan with Tetragon's canonical spellings (decimal
        integers, "min:max" ranges, CamelCase operators): compiling it gives
        the same bytes back."""
        return tuple(
            SelectorPlan(
                pids=tuple(PidFilter(OP_NAMES[p.op], p.values) for p in s.pids),
                args=tuple(ArgFilter(a.index, OP_NAMES[a.op], tuple(_text(v) for v in a.values))
                           for a in s.args),
                actions=tuple(_action_plan(x) for x in s.actions),
                ret_args=tuple(ArgFilter(0, OP_NAMES[a.op], tuple(_text(v) for v in a.values))
                               for a in s.ret_args),
                ret_actions=tuple(_action_plan(x) for x in s.ret_actions),
            )
            for s in self.selectors
        )


def _action_plan(x: DecodedAction) -> ActionPlan:
    error = x.arg - (1 << 32) if x.arg >= 1 << 31 else x.arg
    if x.action is Action.OVERRIDE:
        return ActionPlan("Override", arg_error=error)
    if x.action is Action.NOTIFY_ENFORCER:
        return ActionPlan("NotifyEnforcer", arg_sig=x.sig, arg_error=error)
    if x.action in (Action.TRACK_SOCK, Action.UNTRACK_SOCK):
        return ActionPlan(ACTION_NAMES[x.action], arg_sock=x.arg)
    return ActionPlan(ACTION_NAMES[x.action], x.arg)


def _text(value: int | tuple[int, int] | bytes) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, tuple):
        return f"{value[0]}:{value[1]}"
    return str(value)


def _count(where: str, n: int, limit: int, least: int = 0) -> int:
    if not least <= n <= limit:
        raise ValueError(f"{where}: {n}, expected {least}..{limit}")
    return n


def _op(where: str, raw: int, allowed: frozenset[SelOp]) -> SelOp:
    try:
        op = SelOp(raw)
    except ValueError:
        raise ValueError(f"{where}: unknown operator {raw}") from None
    if op not in allowed:
        raise ValueError(f"{where}: operator {op.name} does not belong here")
    return op


def _pids(where: str, p: SelPids) -> DecodedPids:
    op = _op(f"{where}.op", p.op, _PID_OPS)
    n = _count(f"{where}.nvalues", p.nvalues, SEL_VALUES_MAX, 1)
    return DecodedPids(op, tuple(int(p.values[i]) for i in range(n)))


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _string(where: str, pool: bytes, word: int, length: int) -> bytes:
    if length > SEL_STR_MAX:
        raise ValueError(f"{where}: a string of {length} bytes, at most {SEL_STR_MAX}")
    start = word * 8
    if start + length > len(pool):
        raise ValueError(f"{where}: pool word {word} + {length} bytes is past the pool")
    return pool[start : start + length]


def _addr(key: SelStrKey) -> bytes:
    """An address filter's trie key as the CIDR it stands for."""
    family, bits = key.data[0], key.prefixlen - 40
    raw = bytes(key.data[1:5] if family == AF_INET else key.data[1:17])
    addr = ipaddress.ip_address(raw)
    return f"{addr}/{bits}".encode()


def _trie_value(key: SelStrKey, op: SelOp) -> bytes:
    raw = bytes(key.data[: (key.prefixlen - 32) // 8])
    if op in (SelOp.STR_EQ, SelOp.STR_NEQ):
        return raw[:-1]  # its NUL
    if op in (SelOp.POSTFIX, SelOp.NOT_POSTFIX):
        return raw[::-1]
    return raw


def _arg(where: str, a: SelArg, args: Sequence[ArgPlan], pool: bytes,
         sets: Mapping[int, Sequence[int | SelStrKey]] | None = None) -> DecodedArg:
    if a.index >= len(args):
        raise ValueError(f"{where}.index: {a.index}, but the hook has {len(args)} arguments")
    plan = args[a.index]
    sets = sets or {}
    is_sock = plan.kind in SOCK_KINDS
    is_str = plan.kind not in _INT_KINDS and not is_sock
    op = _op(f"{where}.op", a.op, _SOCK_OPS if is_sock else _STR_OPS if is_str else _INT_OPS)
    signed = bool(a.flags & SelFlag.SIGNED)
    values: list[int | tuple[int, int] | bytes] = []
    # Values the hook keeps in a map (InMap's hash, the string and address
    # trie), by the filter's set.
    if op in _MAP_OPS or op in _ADDR_OPS or a.flags & SelFlag.TRIE:
        held = sets.get(int(a.lo[0]), ())
        for v in held:
            if isinstance(v, int):
                values.append(_signed(v) if signed else v)
            elif op in _ADDR_OPS:
                values.append(_addr(v))
            else:
                values.append(_trie_value(v, op))
        return DecodedArg(a.index, plan.index, op, int(a.size), signed, tuple(sorted(
            values, key=repr)))
    if op in _PRIV_OPS:
        return DecodedArg(a.index, plan.index, op, 0, False, ())
    n = _count(f"{where}.nvalues", a.nvalues, SEL_VALUES_MAX, 1)
    for i in range(n):
        lo, hi = int(a.lo[i]), int(a.hi[i])
        if op in _FILE_TYPE_OPS:
            if lo not in _FILE_TYPE_NAMES:
                raise ValueError(f"{where}.values[{i}]: mode bits {lo:#o} are no file type")
            values.append(_FILE_TYPE_NAMES[lo])
        elif is_str:
            values.append(_string(f"{where}.values[{i}]", pool, lo, hi))
        elif op in _PORT_OPS:
            values.append((lo, hi))
        elif op in _RANGE_OPS:
            values.append((_signed(lo), _signed(hi)) if signed else (lo, hi))
        else:
            values.append(_signed(lo) if signed else lo)
    return DecodedArg(a.index, plan.index, op, int(a.size), signed, tuple(values))


def _action(where: str, x: SelAction) -> DecodedAction:
    try:
        action = Action(x.action)
    except ValueError:
        raise ValueError(f"{where}.action: unknown action {x.action}") from None
    return DecodedAction(action, int(x.arg), int(x.sig))


def _bits(mask: int) -> str:
    return "{" + ", ".join(str(b) for b in range(64) if mask >> b & 1) + "}"


def _caps_line(where: str, c: SelCaps) -> str:
    try:
        cap_set = SelCapSet(c.set).name.lower()
    except ValueError:
        raise ValueError(f"{where}.set: unknown capability set {c.set}") from None
    names = ", ".join(str(n) for n in cap_names(int(c.mask)))
    line = f"{cap_set} {'NotIn' if c.not_in else 'In'} {{{names}}}"
    if c.host_user_ns:
        line += f", never in the host's user namespace ({c.host_user_ns})"
    return line


def _process_lines(where: str, sel: Selector) -> tuple[str, ...]:
    out = []
    if sel.bin_set or sel.bin_clear:
        out.append(f"matchBinaries: match bits {_bits(sel.bin_set)} set, "
                   f"{_bits(sel.bin_clear)} clear (kept per process at exec)")
    for f in range(_count(f"{where}.npids", sel.npids, SEL_PIDS_MAX)):
        if sel.nspid >> f & 1:
            out.append(f"matchPIDs[{f}]: in the process's own pid namespace")
    for i in range(_count(f"{where}.nns", sel.nns, SEL_NS_MAX)):
        n = sel.ns[i]
        if n.kind >= len(NAMESPACE_NAMES):
            raise ValueError(f"{where}.ns[{i}].kind: {n.kind}, not a namespace kind")
        values = ", ".join(str(n.values[v]) for v in range(
            _count(f"{where}.ns[{i}].nvalues", n.nvalues, SEL_VALUES_MAX, 1)))
        out.append(f"matchNamespaces[{i}]: {NAMESPACE_NAMES[n.kind]} "
                   f"{'NotIn' if n.not_in else 'In'} {{{values}}}")
    for i in range(_count(f"{where}.ncaps", sel.ncaps, SEL_CAPS_MAX)):
        out.append(f"matchCapabilities[{i}]: {_caps_line(f'{where}.caps[{i}]', sel.caps[i])}")
    if sel.task & SelTask.NS_CHANGE:
        kinds = [NAMESPACE_NAMES[k] for k in range(len(NAMESPACE_NAMES)) if sel.ns_change >> k & 1]
        out.append(f"matchNamespaceChanges: a change since exec of {{{', '.join(kinds)}}}")
    for i in range(_count(f"{where}.ncap_changes", sel.ncap_changes, SEL_CAPS_MAX)):
        line = _caps_line(f"{where}.cap_changes[{i}]", sel.cap_changes[i])
        out.append(f"matchCapabilityChanges[{i}]: since exec, {line}")
    return tuple(out)


def _sets(values: Sequence[bytes], strings: Sequence[bytes]) -> dict[int, list[int | SelStrKey]]:
    """The hook's map-held values (its vigil_sel_values and vigil_sel_strs
    keys) by the set of the filter they belong to."""
    out: dict[int, list[int | SelStrKey]] = {}
    for raw in values:
        k = SelValueKey.from_buffer_copy(raw)
        out.setdefault(int(k.set), []).append(int(k.value))
    for raw in strings:
        t = SelStrKey.from_buffer_copy(raw)
        out.setdefault(int(t.set), []).append(t)
    return out


def decode_selectors(data: bytes, args: Sequence[ArgPlan], *, values: Sequence[bytes] = (),
                     strings: Sequence[bytes] = (), ret: ArgPlan | None = None
                     ) -> DecodedSelectors:
    """The selectors a vigil_selectors value holds, for a hook with `args`;
    `values` and `strings`: the keys of its InMap map and its trie; `ret`:
    its return value's plan (matchReturnArgs)."""
    if len(data) != ctypes.sizeof(Selectors):
        raise ValueError(f"{len(data)} bytes; struct vigil_selectors is "
                         f"{ctypes.sizeof(Selectors)}")
    rec = Selectors.from_buffer_copy(data)
    pool = bytes(rec.pool)
    sets = _sets(values, strings)
    used = 0
    out: list[DecodedSelector] = []
    for s in range(_count("nsel", rec.nsel, SEL_MAX)):
        where, sel = f"selectors[{s}]", rec.sel[s]
        pids = tuple(_pids(f"{where}.matchPIDs[{i}]", sel.pids[i])
                     for i in range(_count(f"{where}.npids", sel.npids, SEL_PIDS_MAX)))
        matched = tuple(_arg(f"{where}.matchArgs[{i}]", sel.args[i], args, pool, sets)
                        for i in range(_count(f"{where}.nargs", sel.nargs, SEL_ARGS_MAX)))
        nret = _count(f"{where}.nret_args", sel.nret_args, SEL_RET_ARGS_MAX)
        if nret and ret is None:
            raise ValueError(f"{where}.nret_args: {nret}, but the hook reports no return")
        ret_args = tuple(_arg(f"{where}.matchReturnArgs[{i}]", sel.ret_args[i],
                              (replace(ret, index=0),) if ret is not None else (), pool,
                              sets) for i in range(nret))
        ret_actions = tuple(_action(f"{where}.matchReturnActions[{i}]", sel.ret_actions[i])
                            for i in range(_count(f"{where}.nret_actions", sel.nret_actions,
                                                  SEL_ACTIONS_MAX)))
        actions = tuple(_action(f"{where}.matchActions[{i}]", sel.actions[i])
                        for i in range(_count(f"{where}.nactions", sel.nactions,
                                              SEL_ACTIONS_MAX)))
        for a, raw in zip(matched, sel.args, strict=False):
            if a.values and isinstance(a.values[0], bytes) and not (
                    raw.flags & SelFlag.TRIE or a.op in _ADDR_OPS or a.op in _FILE_TYPE_OPS):
                used = max(used, *(int(raw.lo[i]) * 8 + (int(raw.hi[i]) + 7) // 8 * 8
                                   for i in range(len(a.values))))
        out.append(DecodedSelector(pids, matched, actions, _process_lines(where, sel),
                                   ret_args, ret_actions))
    return DecodedSelectors(tuple(out), used)
