"""The agent's main loop: ring-buffer batches -> decode -> process cache ->
events -> filters -> encoder -> writer.

Nothing here makes a syscall per event: records arrive in batches, output is
flushed once per batch.
"""

from __future__ import annotations

import re
import signal as signal_module
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from vigil.events.model import (
    PROCESS_EXEC,
    PROCESS_EXIT,
    PROCESS_KPROBE,
    PROCESS_TRACEPOINT,
    PROCESS_UPROBE,
    Arg,
    ArgValue,
    Event,
    FilePath,
    KprobeEvent,
    TracepointEvent,
    TruncatedBytes,
    UprobeEvent,
)
from vigil.export.writers import Writer
from vigil.kernel.syscalls import syscall_name
from vigil.process.cache import ProcessCache
from vigil.process.cgroups import under
from vigil.process.model import Process
from vigil.sensors.plan import BUFFER_KINDS, FILE_ARG_KEYS, ArgPlan, TracepointHookPlan
from vigil.sensors.selectors import TETRAGON_ACTIONS
from vigil.wire.cred_arg import decode_cred_arg
from vigil.wire.decode import (
    PROCESS_DECODERS,
    CgroupMsg,
    CloneMsg,
    DecodeError,
    ExecMsg,
    ExitMsg,
    record_op,
)
from vigil.wire.generic import (
    ArgError,
    DataMsg,
    GenericMsg,
    ReturnMsg,
    decode_data,
    decode_generic,
    decode_return,
)
from vigil.wire.kernel_arg import (
    decode_bpf_map_arg,
    decode_bpf_prog_arg,
    decode_module_arg,
    decode_perf_event_arg,
    decode_user_ns_arg,
)
from vigil.wire.net_arg import decode_skb_arg, decode_sockaddr_arg, decode_sockaddr_un_arg
from vigil.wire.path_arg import decode_path_arg
from vigil.wire.records import Action, ArgKind, Op
from vigil.wire.sock_arg import decode_sock_arg

__all__ = ["Agent", "EventFilter", "exit_status"]

EVENT_TYPES = (PROCESS_EXEC, PROCESS_EXIT, PROCESS_KPROBE, PROCESS_TRACEPOINT, PROCESS_UPROBE)

# Calls whose entry was seen and whose return is awaited, across all hooks;
# the oldest is dropped (and counted) past this. Each hook's kernel table
# holds at most RET_PENDING_ENTRIES calls in flight.
PENDING_RETURNS_MAX = 65536
# Records whose maxData chunks came and that are awaited (their records follow
# their chunks in the ring buffer, so only one whose record was lost waits).
DATA_RECORDS_MAX = 64


def exit_status(code: int) -> tuple[int, str]:
    """task->exit_code -> (exit status, terminating signal's name or "")."""
    signo = code & 0x7F
    if signo:
        try:
            return 0, signal_module.Signals(signo).name
        except ValueError:
            return 0, f"SIG{signo}"
    return (code >> 8) & 0xFF, ""


# Plain ints: no Action() call (and no ValueError for an unknown one) per event.
_ACTION_NAMES: dict[int, str] = {int(a): name for a, name in TETRAGON_ACTIONS.items()}


def _action_name(action: int) -> str:
    return _ACTION_NAMES.get(action, "KPROBE_ACTION_UNKNOWN")


# Struct arguments decoded by their own module, each to its Tetragon message.
_STRUCT_DECODERS: dict[ArgKind, Callable[[bytes], ArgValue]] = {
    ArgKind.SKB: decode_skb_arg,
    ArgKind.SOCKADDR: decode_sockaddr_arg,
    ArgKind.SOCKADDR_UN: decode_sockaddr_un_arg,
    ArgKind.USER_NS: decode_user_ns_arg,
    ArgKind.BPF_ATTR: decode_bpf_prog_arg,
    ArgKind.BPF_PROG: decode_bpf_prog_arg,
    ArgKind.BPF_MAP: decode_bpf_map_arg,
    ArgKind.PERF_EVENT: decode_perf_event_arg,
    ArgKind.MODULE: partial(decode_module_arg, signature=False),
    ArgKind.LOAD_INFO: partial(decode_module_arg, signature=True),
}


def arg_values(plan: ArgPlan, raw: bytes | ArgError) -> list[Arg]:
    """A raw argument as Tetragon shows it: one argument, or none (nop, an
    array Tetragon drops), or one uint64 per element of an array of longs."""
    if isinstance(raw, ArgError) or plan.kind not in (ArgKind.NONE, ArgKind.CONST_BUF):
        return [arg_value(plan, raw)]
    if plan.kind is ArgKind.NONE:
        return []
    return [Arg("size_arg", int.from_bytes(raw[i * 8:i * 8 + 8], "little"), plan.label)
            for i in range(min(plan.elements, len(raw) // 8))]


def arg_value(plan: ArgPlan, raw: bytes | ArgError) -> Arg:
    """A raw argument as Tetragon shows its type."""
    if isinstance(raw, ArgError):
        return Arg("error_arg", f"could not read argument: errno {raw.errno}", plan.label)
    if plan.kind is ArgKind.SYSCALL64:
        return Arg("syscall_id", syscall_name(int.from_bytes(raw[:8], "little")), plan.label)
    if plan.kind in BUFFER_KINDS:
        orig, data = int.from_bytes(raw[:4], "little"), raw[4:]
        if orig > len(data):
            return Arg("truncated_bytes_arg", TruncatedBytes(data, orig), plan.label)
        return Arg("bytes_arg", data, plan.label)
    if plan.kind is ArgKind.INT:
        value = int.from_bytes(raw[: plan.size], "little", signed=plan.signed)
        return Arg(plan.json_key, value, plan.label)
    if plan.kind in FILE_ARG_KEYS:
        return Arg(plan.json_key, FilePath(*decode_path_arg(raw)), plan.label)
    if plan.kind in (ArgKind.SOCK, ArgKind.SOCKET):
        return Arg("sock_arg", decode_sock_arg(raw), plan.label)
    if plan.kind in _STRUCT_DECODERS:
        return Arg(plan.json_key, _STRUCT_DECODERS[plan.kind](raw), plan.label)
    if plan.kind is ArgKind.NET_DEV:
        return Arg("net_dev_arg", raw.decode("utf-8", "backslashreplace"), plan.label)
    if plan.kind is ArgKind.CRED:
        return Arg(plan.json_key, decode_cred_arg(raw), plan.label)
    if plan.kind is ArgKind.KERNEL_CAP:  # Tetragon's caps.GetCapabilitiesHex
        return Arg(plan.json_key, f"{int.from_bytes(raw[:8], 'little'):016x}", plan.label)
    return Arg("string_arg", raw.decode("utf-8", "backslashreplace"), plan.label)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Export filters: an event passes when it matches every one given.

    `container_ids`: regular expressions searched in the process's `docker`
    field (any may match), as Tetragon's container_id filter; a process in
    no container matches none. `cgroups`: cgroup paths ("/a/b"); the
    process's cgroup must be one of them or below one."""

    event_types: frozenset[str] = frozenset(EVENT_TYPES)
    binary_regex: tuple[re.Pattern[str], ...] = ()
    pids: frozenset[int] = frozenset()
    container_ids: tuple[re.Pattern[str], ...] = ()
    cgroups: tuple[str, ...] = ()

    def __call__(self, ev: Event) -> bool:
        if ev.kind not in self.event_types:
            return False
        if self.pids and ev.process.pid not in self.pids:
            return False
        if self.container_ids and not any(r.search(ev.process.docker)
                                          for r in self.container_ids):
            return False
        if self.cgroups and not (ev.process.cgroup_path and any(
                under(ev.process.cgroup_path, c) for c in self.cgroups)):
            return False
        if not self.binary_regex:
            return True
        # The file actually executed, as Tetragon's matchBinaries sees it:
        # no spelling of the path (symlink, "..", /proc/self/fd/N) gets past.
        target = ev.process.exe or ev.process.binary
        return any(r.search(target) for r in self.binary_regex)


@dataclass
class Agent:
    cache: ProcessCache
    writer: Writer
    encode: Callable[[Event], bytes]
    accept: Callable[[Event], bool] = field(default_factory=EventFilter)
    with_ancestors: bool = False
    seen: Counter[str] = field(default_factory=Counter)
    exported: int = 0
    decode_errors: Counter[str] = field(default_factory=Counter)
    first_event_hook: Callable[[], None] | None = None
    # Generic hook id -> its plan (the generic ops' records name their hook).
    hooks: dict[int, TracepointHookPlan] = field(default_factory=dict)
    # Record op -> (decoder, handler): the sensors' record kinds.
    dispatch: dict[int, tuple[Callable[[bytes], Any], Callable[[Any], None]]] = field(
        default_factory=dict)
    # (hook id, tid, entry ktime) -> the event of a call awaiting its return
    pending: dict[tuple[int, int, int], KprobeEvent | UprobeEvent] = field(
        default_factory=dict)
    # (hook id, tid, record ktime) -> argument position -> maxData chunks
    # (offset, bytes) that came before their record
    data_chunks: dict[tuple[int, int, int], dict[int, list[tuple[int, bytes]]]] = field(
        default_factory=dict)

    def __post_init__(self) -> None:
        self.register(Op.EXEC, PROCESS_DECODERS[Op.EXEC], self._on_exec)
        self.register(Op.EXIT, PROCESS_DECODERS[Op.EXIT], self._on_exit)
        self.register(Op.CLONE, PROCESS_DECODERS[Op.CLONE], self._on_clone)
        self.register(Op.CGROUP_MKDIR, PROCESS_DECODERS[Op.CGROUP_MKDIR], self._on_cgroup)
        self.register(Op.CGROUP_RMDIR, PROCESS_DECODERS[Op.CGROUP_RMDIR], self._on_cgroup)
        self.register(Op.GENERIC_TRACEPOINT, decode_generic, self._on_generic_tracepoint)
        self.register(Op.GENERIC_RETURN, decode_return, self._on_generic_return)
        self.register(Op.GENERIC_DATA, decode_data, self._on_generic_data)

    def register(self, op: int, decode: Callable[[bytes], Any],
                 handle: Callable[[Any], None]) -> None:
        """Records of `op` are decoded by `decode` and handed to `handle`."""
        if op in self.dispatch:
            raise ValueError(f"record op {op} is registered already")
        self.dispatch[op] = (decode, handle)

    def unregister(self, op: int) -> None:
        self.dispatch.pop(op, None)

    def handle_batch(self, records: Iterable[bytes]) -> None:
        dispatch = self.dispatch
        for rec in records:
            try:
                op = record_op(rec)
                entry = dispatch.get(op)
                if entry is None:
                    raise DecodeError("unknown_op", f"op {op}")
                # The handler too: it decodes a hook's arguments with its plan.
                entry[1](entry[0](rec))
            except DecodeError as err:
                self.decode_errors[err.cause] += 1
        self.writer.flush()

    def _on_exec(self, msg: ExecMsg) -> None:
        proc = self.cache.add_exec(msg)
        self._emit(PROCESS_EXEC, proc, msg.ktime)

    def _on_exit(self, msg: ExitMsg) -> None:
        ended = self.cache.exit(msg)
        if ended is not None:
            status, sig = exit_status(msg.exit_code)
            self._emit(PROCESS_EXIT, ended, msg.ktime, status, sig)
            self.cache.release(ended)

    # --- generic (policy) hooks ----------------------------------------------

    def add_hook(self, hook_id: int, plan: TracepointHookPlan) -> None:
        """Records of generic hook `hook_id` are decoded with `plan`."""
        if hook_id in self.hooks:
            raise ValueError(f"hook id {hook_id} is in use")
        self.hooks[hook_id] = plan

    def remove_hook(self, hook_id: int) -> None:
        self.hooks.pop(hook_id, None)
        for key in [k for k in self.pending if k[0] == hook_id]:
            del self.pending[key]

    def _on_generic_data(self, msg: DataMsg) -> None:
        key = (msg.hook_id, msg.tid, msg.enter_ktime)
        chunks = self.data_chunks.get(key)
        if chunks is None:
            if len(self.data_chunks) >= DATA_RECORDS_MAX:
                # Chunks whose record never came (the ring buffer had no room
                # for it): the oldest go.
                self.data_chunks.pop(next(iter(self.data_chunks)))
                self.decode_errors["data_without_record"] += 1
            chunks = self.data_chunks[key] = {}
        chunks.setdefault(msg.arg, []).append((msg.offset, msg.data))

    def _join_data(self, msg: GenericMsg, positions: tuple[int, ...]) -> None:
        """The maxData arguments' chunks appended to their slots' bytes, as far
        as they follow each other (a chunk lost ends the buffer there)."""
        chunks = self.data_chunks.pop((msg.hook_id, msg.tid, msg.ktime), {})
        for i in positions:
            raw = msg.args[i]
            if isinstance(raw, ArgError):
                continue
            body = bytearray(raw)
            for offset, data in sorted(chunks.get(i, ())):
                if offset != len(body) - 4:  # the slot's 4-byte length first
                    break
                body += data
            msg.args[i] = bytes(body)

    def _on_generic_tracepoint(self, msg: GenericMsg) -> None:
        plan = self.hooks.get(msg.hook_id)
        if plan is None:  # its sensor is gone: a record still in flight
            self.decode_errors["unknown_hook"] += 1
            return
        if len(msg.args) != len(plan.args):
            self.decode_errors["generic_args_mismatch"] += 1
            return
        if plan.max_data_positions:
            self._join_data(msg, plan.max_data_positions)
        if plan.call is not None:
            self._on_call(msg, plan)
            return
        self.seen[PROCESS_TRACEPOINT] += 1
        cache = self.cache
        proc = cache.for_event(msg.pid, msg.proc_ktime, msg.tid)
        # Positional: a third of the cost of keywords on the hottest path.
        # tests/unit/test_agent_generic.py checks the order against the
        # field names.
        self._deliver(TracepointEvent(
            PROCESS_TRACEPOINT,
            cache.clock.from_ktime(msg.ktime),
            proc,
            cache.parent(proc),
            [],  # ancestors
            0,  # status
            "",  # signal
            plan.subsys,
            plan.event,
            [out for a, raw in zip(plan.args, msg.args, strict=True)
             for out in arg_values(a, raw)] if msg.args else [],
            plan.policy_name,
            _action_name(msg.action),
            plan.message,
            plan.tags,
        ))

    def _on_call(self, msg: GenericMsg, plan: TracepointHookPlan) -> None:
        """A kprobe's entry (on whichever rung): its event now, or once its
        return has come."""
        assert plan.call is not None
        cache = self.cache
        proc = cache.for_event(msg.pid, msg.proc_ktime, msg.tid)
        if proc.tid != msg.tid:
            # The thread that made the call, as Tetragon's kprobe events
            # name it (UpdateEventProcessTid): a copy, the cache keeps the leader.
            proc = replace(proc, tid=msg.tid)
        args = [out for a, raw in zip(plan.args, msg.args, strict=True)
                for out in arg_values(a, raw)]
        user = plan.call.user
        ev: KprobeEvent | UprobeEvent
        if user is None:
            ev = KprobeEvent(
                PROCESS_KPROBE, cache.clock.from_ktime(msg.ktime), proc, cache.parent(proc),
                function_name=plan.call.function_name, args=args,
                policy_name=plan.policy_name, action=_action_name(msg.action),
                message=plan.message, tags=plan.tags)
        else:
            ev = UprobeEvent(
                PROCESS_UPROBE, cache.clock.from_ktime(msg.ktime), proc, cache.parent(proc),
                path=user.path, symbol=user.symbol,
                # Tetragon's offset: a symbol's is 0, whatever its +offset
                offset=0 if user.func_name else user.offset,
                ref_ctr_offset=user.ref_ctr_offset, args=args,
                policy_name=plan.policy_name, action=_action_name(msg.action),
                message=plan.message, tags=plan.tags)
        if plan.call.returns is None:
            self.seen[ev.kind] += 1
            self._deliver(ev)
            return
        pending = self.pending
        key = (msg.hook_id, msg.tid, msg.ktime)
        if key in pending or len(pending) >= PENDING_RETURNS_MAX:
            # A repeated key, or too many calls in flight: the oldest goes.
            pending.pop(key if key in pending else next(iter(pending)))
            self.decode_errors["return_never_came"] += 1
        pending[key] = ev

    def _on_generic_return(self, msg: ReturnMsg) -> None:
        ev = self.pending.pop((msg.hook_id, msg.tid, msg.enter_ktime), None)
        plan = self.hooks.get(msg.hook_id)
        if ev is None or plan is None or plan.call is None or plan.call.returns is None:
            self.decode_errors["return_without_entry"] += 1
            return
        if msg.action == Action.NOPOST:
            return  # matchReturnArgs or matchReturnActions refused the call
        returns = plan.call.returns
        if isinstance(ev, UprobeEvent):
            # Tetragon's ProcessUprobe has no return field: its retprobeMerge
            # appends the return value to the arguments.
            ev.args.append(arg_value(returns.value, msg.args[0]))
        else:
            ev.ret = arg_value(returns.value, msg.args[0])
            ev.return_action = _action_name(msg.action)
        if returns.copy is not None and len(msg.args) > 1:
            # The buffer as the call left it, in the entry's argument's place
            # (as Tetragon's retprobeMerge replaces it); nop arguments before
            # it are not in the event.
            at = sum(1 for a in plan.args[:returns.copy] if a.kind is not ArgKind.NONE)
            if at < len(ev.args):
                ev.args[at] = arg_value(plan.args[returns.copy], msg.args[1])
        self.seen[ev.kind] += 1
        self._deliver(ev)

    def _on_cgroup(self, msg: CgroupMsg) -> None:
        cgroups = self.cache.cgroups
        if msg.op == Op.CGROUP_RMDIR:
            cgroups.gone(msg.cgroup_id)
        elif msg.flags:
            # A path cut or unread is no path: its processes are named by
            # their cgroup's name, as if the record were lost.
            cgroups.bad_paths += 1
        else:
            cgroups.made(msg.cgroup_id, msg.path)

    def _on_clone(self, msg: CloneMsg) -> None:
        self.cache.add_clone(msg)
        self.seen["process_clone"] += 1

    def _emit(self, kind: str, proc: Process, ktime: int, status: int = 0, sig: str = "") -> None:
        self.seen[kind] += 1
        ev = Event(
            kind=kind,
            time_ns=self.cache.clock.from_ktime(ktime),
            process=proc,
            parent=self.cache.parent(proc),
            status=status,
            signal=sig,
        )
        self._deliver(ev)

    def _deliver(self, ev: Event) -> None:
        if not self.accept(ev):
            return
        if self.with_ancestors:
            ev.ancestors = list(self.cache.ancestors(ev.process))
        self.writer.write(self.encode(ev))
        self.exported += 1
        if self.first_event_hook is not None:
            self.first_event_hook()
            self.first_event_hook = None
