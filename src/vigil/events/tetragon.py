"""Events -> Tetragon's JSON export shape (field names as `tetra getevents -o json`).

Like Tetragon's protobuf JSON, empty optional fields are left out (a
process_exit with status 0 has no "status"), while pid, uid and auid, which
Tetragon wraps, always appear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from vigil.events.model import PROCESS_EXIT, Event
from vigil.process.caps import cap_names
from vigil.process.clock import rfc3339
from vigil.process.model import Process, flag_string

__all__ = ["JsonEncoder", "RenderOptions", "process_json"]


@dataclass(frozen=True, slots=True)
class RenderOptions:
    node_name: str
    with_ns: bool = False
    with_cred: bool = False
    # Namespace inodes of pid 1: a process sharing one is "is_host".
    host_ns: dict[str, int] | None = None


def process_json(p: Process, opts: RenderOptions) -> dict[str, Any]:
    if p.rendered is not None:
        return p.rendered
    out: dict[str, Any] = {
        "exec_id": p.exec_id,
        "pid": p.pid,
        "uid": p.uid,
        "cwd": p.cwd,
        "binary": p.binary,
    }
    if p.arguments:
        out["arguments"] = p.arguments
    out["flags"] = flag_string(p.flags)
    out["start_time"] = p.start_time
    out["auid"] = p.auid
    if p.parent_exec_id:
        out["parent_exec_id"] = p.parent_exec_id
    out["tid"] = p.tid
    cap: dict[str, list[str]] = {}
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
        out["ns"] = {
            name: {"inum": inum, "is_host": host.get(name) == inum} if name in host else
            {"inum": inum}
            for name, inum in p.ns.items()
            if inum
        }
    if opts.with_cred:
        out["process_credentials"] = {"uid": p.uid, "gid": p.gid, "euid": p.euid, "egid": p.egid}
    p.rendered = out
    return out


def event_json(ev: Event, opts: RenderOptions) -> dict[str, Any]:
    body: dict[str, Any] = {"process": process_json(ev.process, opts)}
    if ev.parent is not None:
        body["parent"] = process_json(ev.parent, opts)
    if ev.ancestors:
        body["ancestors"] = [process_json(a, opts) for a in ev.ancestors]
    time = rfc3339(ev.time_ns)
    if ev.kind == PROCESS_EXIT:
        if ev.signal:
            body["signal"] = ev.signal
        if ev.status:
            body["status"] = ev.status
        body["time"] = time
    return {ev.kind: body, "node_name": opts.node_name, "time": time}


class JsonEncoder:
    """One JSON object per line."""

    def __init__(self, opts: RenderOptions) -> None:
        self.opts = opts

    def encode(self, ev: Event) -> bytes:
        return orjson.dumps(event_json(ev, self.opts), option=orjson.OPT_APPEND_NEWLINE)
