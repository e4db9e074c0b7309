"""Events -> Tetragon's JSON export shape (field names as `tetra getevents -o json`).

Like Tetragon's protobuf JSON, empty optional fields are left out (a
process_exit with status 0 has no "status"), while pid, uid and auid, which
Tetragon wraps, always appear.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from vigil.events.model import (
    PROCESS_EXIT,
    Arg,
    Event,
    FilePath,
    KprobeEvent,
    SyscallId,
    TracepointEvent,
    TruncatedBytes,
    UprobeEvent,
)
from vigil.process.caps import CAP_NAMES, cap_names
from vigil.process.clock import rfc3339
from vigil.process.model import Process, flag_string
from vigil.wire.cred_arg import CredFields
from vigil.wire.kernel_arg import (
    BPF_CMDS,
    BpfMapFields,
    BpfProgFields,
    ModuleFields,
    PerfEventFields,
    UserNsFields,
)
from vigil.wire.net_arg import SkbFields, SockaddrFields, SockaddrUnFields
from vigil.wire.sock_arg import SockFields

__all__ = ["JsonEncoder", "RenderOptions", "process_json"]


@dataclass(frozen=True, slots=True)
class RenderOptions:
    node_name: str
    with_ns: bool = False
    with_cred: bool = False
    # Namespace inodes of pid 1: a process sharing one is "is_host".
    host_ns: dict[str, int] | None = None


def process_json(p: Process, opts: RenderOptions) -> dict[str, Any]:
    out: dict[str, Any] = {
        "exec_id": p.exec_id,
        "pid": p.pid,
        "uid": p.uid,
    }
    # Strings are left out when empty, as protobuf's JSON leaves them out.
    if p.cwd:
        out["cwd"] = p.cwd
    if p.binary:
        out["binary"] = p.binary
    if p.arguments:
        out["arguments"] = p.arguments
    flags = flag_string(p.flags)
    if flags:
        out["flags"] = flags
    if p.start_time:  # a process known only by its pid has none
        out["start_time"] = p.start_time
    out["auid"] = p.auid
    if p.docker:  # Process.docker (11) sits between pod (10) and parent_exec_id (12)
        out["docker"] = p.docker
    if p.parent_exec_id:
        out["parent_exec_id"] = p.parent_exec_id
    out["tid"] = p.tid
    cap: dict[str, list[str | int]] = {}
    for name, mask in (
        ("permitted", p.cap_permitted),
        ("effective", p.cap_effective),
        ("inheritable", p.cap_inheritable),
    ):
        if mask:
            cap[name] = list(cap_names(mask))
    if cap:
        out["cap"] = cap
    if opts.with_ns and p.ns:
        host = opts.host_ns or {}
        # is_host is a bool: written only when true, as protobuf's JSON does.
        out["ns"] = {
            name: {"inum": inum, "is_host": True} if host.get(name) == inum else {"inum": inum}
            for name, inum in p.ns.items()
            if inum
        }
    if opts.with_cred:
        out["process_credentials"] = {"uid": p.uid, "gid": p.gid, "euid": p.euid, "egid": p.egid}
    if p.exe_ino and p.exe_nlink == 0:
        # A memfd, shm or deleted binary, as Tetragon reports it; uint64 is a
        # string in protobuf's JSON.
        file: dict[str, Any] = {"inode": {"number": str(p.exe_ino), "links": 0}}
        if p.exe:
            file["path"] = p.exe
        out["binary_properties"] = {"file": file}
    return out


def event_json(ev: Event, opts: RenderOptions,
               render: Callable[[Process], Any] | None = None) -> dict[str, Any]:
    """The event as Tetragon's JSON; `render` turns a process into its part
    (process_json by default; the encoder passes its cached version)."""
    if render is None:
        def render(p: Process) -> dict[str, Any]:
            return process_json(p, opts)
    body: dict[str, Any] = {"process": render(ev.process)}
    if ev.parent is not None:
        body["parent"] = render(ev.parent)
    if ev.ancestors:
        body["ancestors"] = [render(a) for a in ev.ancestors]
    time = rfc3339(ev.time_ns)
    if ev.kind == PROCESS_EXIT:
        if ev.signal:
            body["signal"] = ev.signal
        if ev.status:
            body["status"] = ev.status
        body["time"] = time
    elif isinstance(ev, TracepointEvent):
        _policy_fields(body, ev)
    elif isinstance(ev, KprobeEvent):
        _kprobe_fields(body, ev)
    elif isinstance(ev, UprobeEvent):
        _uprobe_fields(body, ev)
    return {ev.kind: body, "node_name": opts.node_name, "time": time}


# protobuf's JSON writes 64-bit integers as strings.
_STRING_INTS = frozenset({"size_arg", "long_arg"})


def _b64(data: bytes) -> str:
    """protobuf's JSON for bytes: standard base64, padded."""
    return base64.b64encode(data).decode("ascii")


def _cred_json(c: CredFields) -> dict[str, Any]:
    """ProcessCredentials as Tetragon fills it for a cred argument: every id
    (wrapped: always written), the securebits set, the capability sets (the
    message always, its empty lists left out), the user namespace."""
    out: dict[str, Any] = {"uid": c.uid, "gid": c.gid, "euid": c.euid, "egid": c.egid,
                           "suid": c.suid, "sgid": c.sgid, "fsuid": c.fsuid, "fsgid": c.fsgid}
    if c.securebits:
        out["securebits"] = list(c.securebits)
    out["caps"] = {name: list(cap_names(mask)) for name, mask in (
        ("permitted", c.cap_permitted), ("effective", c.cap_effective),
        ("inheritable", c.cap_inheritable)) if mask}
    out["user_ns"] = _user_ns_json(UserNsFields(c.ns_level, c.ns_uid, c.ns_gid, c.ns_inum))
    return out


def _user_ns_json(u: UserNsFields) -> dict[str, Any]:
    """UserNamespace: level, uid and gid wrapped (always written), the
    namespace's inode and is_host (level 0) where set."""
    ns: dict[str, Any] = {"inum": u.inum} if u.inum else {}
    if u.level == 0:
        ns["is_host"] = True
    return {"level": u.level, "uid": u.uid, "gid": u.gid, "ns": ns}


def _set(*pairs: tuple[str, Any]) -> dict[str, Any]:
    """A message's fields in its proto's order, those at their default (0,
    "") left out as protobuf's JSON leaves them."""
    return {k: v for k, v in pairs if v}


def _u64(n: int) -> str:
    return str(n) if n else ""


# Tetragon's messages for struct arguments, by the decoded value's type.
_MESSAGES: dict[type, Callable[[Any], dict[str, Any]]] = {
    SkbFields: lambda s: _set(
        ("hash", s.hash), ("len", s.len), ("priority", s.priority), ("mark", s.mark),
        ("saddr", s.saddr), ("daddr", s.daddr), ("sport", s.sport), ("dport", s.dport),
        ("proto", s.proto), ("sec_path_len", s.sec_path_len),
        ("sec_path_olen", s.sec_path_olen), ("protocol", s.protocol), ("family", s.family)),
    SockaddrFields: lambda s: _set(("family", s.family), ("addr", s.addr), ("port", s.port)),
    SockaddrUnFields: lambda s: _set(("family", s.family), ("path", s.path)),
    UserNsFields: _user_ns_json,
    # KprobeBpfAttr and KprobeBpfProg name their fields in CamelCase
    BpfProgFields: lambda p: _set(("ProgType", p.prog_type), ("InsnCnt", p.insn_cnt),
                                  ("ProgName", p.prog_name)),
    BpfMapFields: lambda m: _set(
        ("MapType", m.map_type), ("KeySize", m.key_size), ("ValueSize", m.value_size),
        ("MaxEntries", m.max_entries), ("MapName", m.map_name)),
    PerfEventFields: lambda p: _set(
        ("KprobeFunc", p.kprobe_func), ("Type", p.type), ("Config", _u64(p.config)),
        ("ProbeOffset", _u64(p.probe_offset))),
    # KernelModule: signature_ok wrapped (written, false too, where checked)
    ModuleFields: lambda m: {**_set(("name", m.name)), **(
        {} if m.signature_ok is None else {"signature_ok": m.signature_ok}),
        **_set(("tainted", list(m.tainted)))},
}


def arg_json(arg: Arg) -> dict[str, Any]:
    value: Any = arg.value
    if arg.key in _STRING_INTS:
        value = str(value)
    elif arg.key == "bpf_cmd_arg" and isinstance(value, int):
        # a BpfCmd enum: its name, or (as protobuf's JSON) its number
        value = BPF_CMDS.get(value, value)
    elif arg.key == "net_dev_arg":  # KprobeNetDev
        value = {"name": value} if value else {}
    elif arg.key == "capability_arg" and isinstance(value, int):
        # KprobeCapability: the number (wrapped: always written), its name
        # where it has one
        name = CAP_NAMES[value] if 0 <= value < len(CAP_NAMES) else ""
        value = {"value": value, "name": name} if name else {"value": value}
    elif arg.key == "error_arg":
        value = {"Message": value}
    elif isinstance(value, bytes):
        value = _b64(value)
    elif isinstance(value, TruncatedBytes):
        # orig_size is a uint64: a string in protobuf's JSON; fields at their
        # default (no bytes, id 0: read on x64) are left out, as protobuf does
        cut = {"bytes_arg": _b64(value.data)} if value.data else {}
        value = {**cut, "orig_size": str(value.orig_size)}
    elif isinstance(value, SyscallId):
        value = {"id": value.id, "abi": value.abi} if value.id else {"abi": value.abi}
    elif isinstance(value, FilePath):
        # KprobeFile/KprobePath: mount is never filled (as Tetragon's), and
        # empty strings are left out
        value = {k: v for k, v in (("path", value.path), ("flags", value.flags),
                                   ("permission", value.permission)) if v}
    elif isinstance(value, SockFields):
        # KprobeSock in its proto's order; zeros and empty strings left out,
        # the cookie (a uint64) as a string
        value = {k: v for k, v in (
            ("family", value.family), ("type", value.type), ("protocol", value.protocol),
            ("mark", value.mark), ("priority", value.priority), ("saddr", value.saddr),
            ("daddr", value.daddr), ("sport", value.sport), ("dport", value.dport),
            ("cookie", str(value.cookie) if value.cookie else ""), ("state", value.state))
            if v}
    elif isinstance(value, CredFields):
        value = _cred_json(value)
    elif type(value) in _MESSAGES:
        value = _MESSAGES[type(value)](value)
    out = {arg.key: value}
    if arg.label:
        out["label"] = arg.label
    return out


def _policy_fields(body: dict[str, Any], ev: TracepointEvent) -> None:
    body["subsys"] = ev.subsys
    body["event"] = ev.event
    if ev.args:
        body["args"] = [arg_json(a) for a in ev.args]
    body["policy_name"] = ev.policy_name
    body["action"] = ev.action
    if ev.message:
        body["message"] = ev.message
    if ev.tags:
        body["tags"] = list(ev.tags)


def _kprobe_fields(body: dict[str, Any], ev: KprobeEvent) -> None:
    """ProcessKprobe's fields in its proto's order; return_action only for
    a call whose return was reported (protobuf leaves out the zero value)."""
    body["function_name"] = ev.function_name
    if ev.args:
        body["args"] = [arg_json(a) for a in ev.args]
    if ev.ret is not None:
        body["return"] = arg_json(ev.ret)
    body["action"] = ev.action
    body["policy_name"] = ev.policy_name
    if ev.return_action:
        body["return_action"] = ev.return_action
    if ev.message:
        body["message"] = ev.message
    if ev.tags:
        body["tags"] = list(ev.tags)


def _uprobe_fields(body: dict[str, Any], ev: UprobeEvent) -> None:
    """ProcessUprobe's fields in its proto's order (the uint64 offsets as
    protobuf's JSON writes them: strings; zero ones left out)."""
    body["path"] = ev.path
    if ev.symbol:
        body["symbol"] = ev.symbol
    body["policy_name"] = ev.policy_name
    if ev.message:
        body["message"] = ev.message
    if ev.args:
        body["args"] = [arg_json(a) for a in ev.args]
    if ev.tags:
        body["tags"] = list(ev.tags)
    if ev.offset:
        body["offset"] = str(ev.offset)
    if ev.ref_ctr_offset:
        body["ref_ctr_offset"] = str(ev.ref_ctr_offset)
    body["action"] = ev.action


class JsonEncoder:
    """One JSON object per line.

    A process is named by many events (as itself, parent, ancestor) and its
    JSON never changes, so the encoder keeps it serialised, for the last
    RENDER_CACHE processes by key (oldest out first), and later events embed
    those bytes without serialising the process again (as an orjson Fragment,
    or spliced in directly). The cache is the encoder's own: the process
    cache holds no output.

    Policy events are the hot path (a hook on a busy syscall makes hundreds
    of thousands a second), so they skip the dict of event_json(): what a
    hook's events share (subsys, event, policy name, action, message, tags)
    is serialised once, and each line is joined from that, the cached
    processes, the arguments and the time. The bytes are the ones
    event_json() and orjson would give (tests/unit/test_tracepoint_json.py
    compares the two on generated events)."""

    RENDER_CACHE = 256
    STATIC_CACHE = 256

    def __init__(self, opts: RenderOptions) -> None:
        self.opts = opts
        self._rendered: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        # (kind, policy, subsys, event, action, message, tags) -> the JSON
        # before the process, between the process parts and the arguments,
        # and from there to the time.
        self._static: dict[tuple[str, str, str, str, str, str, tuple[str, ...]],
                           tuple[bytes, bytes, bytes]] = {}
        self._node_tail = b'},"node_name":' + orjson.dumps(opts.node_name) + b',"time":"'

    def _process_bytes(self, p: Process) -> bytes:
        if p.tid != p.pid:
            # A thread's view of its process (a policy event names the thread
            # that hit the hook): it differs from the cached leader's in tid.
            return orjson.dumps(process_json(p, self.opts))
        out = self._rendered.get(p.key)
        if out is None:
            out = self._rendered[p.key] = orjson.dumps(process_json(p, self.opts))
            if len(self._rendered) > self.RENDER_CACHE:
                self._rendered.popitem(last=False)
        return out

    def _render(self, p: Process) -> orjson.Fragment:
        return orjson.Fragment(self._process_bytes(p))

    def _policy_static(self, ev: TracepointEvent) -> tuple[bytes, bytes, bytes]:
        dumps = orjson.dumps
        start = b"{" + dumps(ev.kind) + b':{"process":'
        head = b',"subsys":' + dumps(ev.subsys) + b',"event":' + dumps(ev.event)
        tail = b',"policy_name":' + dumps(ev.policy_name) + b',"action":' + dumps(ev.action)
        if ev.message:
            tail += b',"message":' + dumps(ev.message)
        if ev.tags:
            tail += b',"tags":' + dumps(list(ev.tags))
        if len(self._static) >= self.STATIC_CACHE:
            self._static.clear()  # hooks are few; this only bounds a pathological mix
        out = self._static[(ev.kind, ev.policy_name, ev.subsys, ev.event, ev.action,
                            ev.message, ev.tags)] = (start, head, tail + self._node_tail)
        return out

    def _encode_tracepoint(self, ev: TracepointEvent) -> bytes:
        # The lookups are inline: this runs for every event of a busy hook.
        static = self._static.get(
            (ev.kind, ev.policy_name, ev.subsys, ev.event, ev.action, ev.message, ev.tags))
        if static is None:
            static = self._policy_static(ev)
        rendered = self._rendered
        p = ev.process
        proc = (rendered.get(p.key) if p.tid == p.pid else None) or self._process_bytes(p)
        parent = ev.parent
        if parent is None:
            parts = [static[0], proc]
        else:
            parts = [static[0], proc, b',"parent":',
                     rendered.get(parent.key) or self._process_bytes(parent)]
        if ev.ancestors:
            parts += (b',"ancestors":[',
                      b",".join([self._process_bytes(a) for a in ev.ancestors]), b"]")
        parts.append(static[1])
        if ev.args:
            parts += (b',"args":', orjson.dumps([arg_json(a) for a in ev.args]))
        # An RFC 3339 time is ASCII digits and punctuation: nothing to escape.
        parts += (static[2], rfc3339(ev.time_ns).encode(), b'"}\n')
        return b"".join(parts)

    def encode(self, ev: Event) -> bytes:
        if type(ev) is TracepointEvent:
            return self._encode_tracepoint(ev)
        return orjson.dumps(event_json(ev, self.opts, self._render),
                            option=orjson.OPT_APPEND_NEWLINE)
