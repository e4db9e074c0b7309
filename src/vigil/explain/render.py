"""An Explanation as people and programs read it: rich on a terminal, plain
aligned text when piped, JSON for machines. One set of rows and lines feeds
all three, so they never disagree."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from vigil.sensors.enforcer import EnforcerPlan
from vigil.sensors.plan import ArgPlan
from vigil.sensors.selectors_decode import (
    ACTION_NAMES,
    OP_NAMES,
    DecodedAction,
    DecodedArg,
    DecodedSelectors,
)
from vigil.wire.records import (
    ARG_STR_MAX,
    CHAR_BUF_MAX,
    IOVEC_MAX,
    MAX_DATA,
    Action,
    ArgKind,
    SelOp,
)

from .memory import MapCost
from .model import BUDGET, Explanation, HookExplanation, PolicyExplanation

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["render_plain", "render_rich", "to_json"]

ARG_HEADERS = ("index", "field", "C type", "offset", "size", "read", "type", "JSON key", "label")
MAP_HEADERS = ("map", "type", "key", "value", "entries", "per-CPU", "memlock", "role")


def size_text(n: int) -> str:
    """Bytes, with KiB or MiB once it is that large."""
    if n >= 1 << 20:
        return f"{n} B ({n / (1 << 20):.1f} MiB)"
    if n >= 1 << 10:
        return f"{n} B ({n / (1 << 10):.1f} KiB)"
    return f"{n} B"


def read_text(a: ArgPlan) -> str:
    """How the hook's program gets the argument out of the record (short: a
    table cell)."""
    how = _read_text(a)
    if a.resolve:
        how = f"resolve: {len(a.resolve)} steps, then {how}"
    if a.max_data:
        how += f"; maxData: all of it, <={MAX_DATA} B"
    return how


def _read_text(a: ArgPlan) -> str:
    if a.kind is ArgKind.INT:
        sign = "signed" if a.signed else "unsigned"
        of = f" of {a.field_size}" if a.field_size not in (0, a.size) else ""
        return f"{a.size}{of} B, {sign}"
    limit = ARG_STR_MAX - 1  # the string helpers keep one byte for the NUL
    if a.kind is ArgKind.STR_ARRAY:
        return f"char array in the record, <={min(a.size, limit)} B"
    if a.kind is ArgKind.STR_DATALOC:
        return f"__data_loc string in the record, <={limit} B"
    if a.kind is ArgKind.STR_PTR:
        return f"pointer to a string (user, else kernel), <={limit} B"
    if a.kind in (ArgKind.CHAR_BUF, ArgKind.CHAR_IOVEC):
        what = "buffer" if a.kind is ArgKind.CHAR_BUF else f"first {IOVEC_MAX} iovecs"
        return f"{what}, length at offset {a.meta_offset}, <={CHAR_BUF_MAX} B"
    return _READS.get(a.kind, a.kind.name.lower())


# How the struct and other argument kinds are read (a table cell each).
_READS = {
    ArgKind.NONE: "nothing (a placeholder)",
    ArgKind.SYSCALL64: "syscall number, 8 B, 32-bit bit",
    ArgKind.CONST_BUF: "bytes in the record",
    ArgKind.FD: "descriptor -> its file's path",
    ArgKind.FILE: "struct file * -> path and mode",
    ArgKind.PATH: "struct path * -> path and mode",
    ArgKind.DENTRY: "struct dentry * -> path to its fs root",
    ArgKind.BINPRM: "struct linux_binprm * -> its file",
    ArgKind.KIOCB: "struct kiocb * -> its file",
    ArgKind.SOCK: "struct sock * -> addresses, ports, state",
    ArgKind.SOCKET: "struct socket * -> its sock",
    ArgKind.SKB: "struct sk_buff * -> IP and TCP/UDP headers",
    ArgKind.SOCKADDR: "struct sockaddr * -> family, address, port",
    ArgKind.SOCKADDR_UN: "struct sockaddr * (AF_UNIX) -> family, path",
    ArgKind.FILENAME: f"struct filename * -> its name, <={ARG_STR_MAX - 1} B",
    ArgKind.KERNEL_CAP: "kernel_cap_t *, 8 B",
    ArgKind.CRED: "struct cred * -> ids, caps, user ns",
    ArgKind.NET_DEV: "struct net_device * -> its name",
    ArgKind.USER_NS: "struct user_namespace * -> level, owner, inode",
    ArgKind.BPF_ATTR: "union bpf_attr * -> program type, size, name",
    ArgKind.BPF_PROG: "struct bpf_prog * -> type, size, name",
    ArgKind.BPF_MAP: "struct bpf_map * -> type, sizes, name",
    ArgKind.PERF_EVENT: "struct perf_event * -> type, config, kprobe",
    ArgKind.MODULE: "struct module * -> name, taints",
    ArgKind.LOAD_INFO: "struct load_info * -> name, taints, signature",
    ArgKind.IOV_ITER: f"struct iov_iter * -> first buffer, <={CHAR_BUF_MAX} B",
}


def arg_rows(h: HookExplanation) -> list[list[str]]:
    return [[str(a.index), a.field, a.c_type, str(a.offset), str(a.size), read_text(a),
             a.tetragon_type, a.json_key, a.label] for a in h.plan.args]


def _value(op: SelOp, v: int | tuple[int, int] | bytes) -> str:
    if isinstance(v, bytes):
        return json.dumps(v.decode("utf-8", "backslashreplace"))
    if isinstance(v, tuple):
        return f"{v[0]}:{v[1]}"
    return f"{v:#x}" if op is SelOp.MASK else str(v)


def filter_text(a: DecodedArg, args: Sequence[ArgPlan]) -> str:
    arg = args[a.position]
    what = f"arg {a.index} ({arg.field or 'position ' + str(a.position)}) {arg.tetragon_type}"
    if arg.kind is ArgKind.INT:
        what += f" {'signed' if a.signed else 'unsigned'} {a.size}-byte"
    values = ", ".join(_value(a.op, v) for v in a.values)
    return f"{what} {a.op.name} {{{values}}}"


def _action_text(x: DecodedAction) -> str:
    """An action and what it takes, in the policy's words."""
    name = ACTION_NAMES[x.action]
    error = x.arg - (1 << 32) if x.arg >= 1 << 31 else x.arg
    if x.action is Action.NOTIFY_ENFORCER:
        return f"{name} argError {error} argSig {x.sig}"
    if x.action is Action.OVERRIDE:
        return f"{name} argError {error}"
    if x.action in (Action.TRACK_SOCK, Action.UNTRACK_SOCK):
        return f"{name} argSock {x.arg}"
    return f"{name} {x.arg}" if x.arg else name


def selector_lines(sel: DecodedSelectors, args: Sequence[ArgPlan]) -> list[str]:
    if not sel.selectors:
        return ["no selectors: every hit is posted"]
    lines = []
    for s, d in enumerate(sel.selectors):
        lines.append(f"selectors[{s}]:")
        for i, p in enumerate(d.pids):
            lines.append(f"  matchPIDs[{i}]: pid {p.op.name} {{{', '.join(map(str, p.values))}}}")
        lines += [f"  {line}" for line in d.process]
        for i, a in enumerate(d.args):
            lines.append(f"  matchArgs[{i}]: {filter_text(a, args)}")
        for i, x in enumerate(d.actions):
            lines.append(f"  matchActions[{i}]: {_action_text(x)}")
        if not d.actions:
            lines.append("  no matchActions: Post")
        for i, a in enumerate(d.ret_args):
            values = ", ".join(_value(a.op, v) for v in a.values)
            lines.append(f"  matchReturnArgs[{i}]: return value {a.op.name} {{{values}}}")
        for i, x in enumerate(d.ret_actions):
            lines.append(f"  matchReturnActions[{i}]: {_action_text(x)}")
    lines.append(f"string pool: {sel.pool_bytes} of {sel.pool_capacity} bytes used")
    return lines


def map_rows(maps: Sequence[MapCost], cpus: int) -> list[list[str]]:
    return [[m.name, m.type, str(m.key_size), str(m.value_size), str(m.max_entries),
             f"x{cpus}" if m.percpu else "", str(m.memlock), m.role] for m in maps]


def _budget(p: PolicyExplanation) -> str:
    verdict = "under" if p.memlock < BUDGET else "OVER"
    return f"{verdict} the {BUDGET >> 10} KiB aim"


def _policy_total(p: PolicyExplanation) -> str:
    n, hot = len(p.hooks), len(p.hot_paths)
    hot_text = f"; {hot} of them on a hot path (every syscall pays)" if hot else ""
    return (f"policy {p.name}: {size_text(p.memlock)} of kernel memory for "
            f"{n} hook{'s' * (n != 1)} ({_budget(p)}), besides the shared maps{hot_text}")


# --- plain text ---------------------------------------------------------------------


def _table(headers: Sequence[str], rows: list[list[str]], indent: str) -> list[str]:
    widths = [max(len(r[i]) for r in [list(headers), *rows]) for i in range(len(headers))]
    return [(indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))).rstrip()
            for r in [list(headers), *rows]]


def _plain_hook(h: HookExplanation, cpus: int) -> list[str]:
    plan = h.plan
    lines = [f"  hook {h.hook_id}: {h.kind} {h.target}",
             f"    program: {plan.program.kind} ({plan.program.reason})"]
    if h.hot_path:
        lines.append(f"    HOT PATH: {h.hot_path}")
    lines.append(f"    arguments (layout from {plan.layout_source or 'the plan'}):")
    lines += (_table(ARG_HEADERS, arg_rows(h), "      ") if plan.args else ["      none"])
    lines.append("    selectors (read back from the loaded hook):")
    lines += ["      " + s for s in selector_lines(h.selectors, plan.args)]
    lines.append("    maps (memlock from /proc/self/fdinfo):")
    lines += _table(MAP_HEADERS, map_rows(h.maps, cpus), "      ")
    lines.append("    programs: " + ", ".join(f"{p.name} ({p.section}) {p.memlock} B"
                                              for p in h.programs))
    lines.append(f"    hook total: {size_text(h.memlock)}")
    return lines


def enforcer_text(plan: EnforcerPlan) -> str:
    return (f"enforcer: {plan.method} on {', '.join(plan.functions)} ({plan.why}); not "
            "loaded here: `vigil run` loads it")


def scope_text(paths: Sequence[str]) -> str:
    return (f"scoped to cgroup{'s' if len(paths) > 1 else ''} {', '.join(paths)} and below "
            "(in the kernel: bpf_current_task_under_cgroup, the first test of every hit)")


def render_plain(e: Explanation, out: TextIO) -> None:
    for issue in e.issues:
        print(issue, file=out)
    for p in e.policies:
        print(f"policy {p.name} ({p.file})", file=out)
        if p.cgroup_paths:
            print(f"  {scope_text(p.cgroup_paths)}", file=out)
        for h in p.hooks:
            print("\n".join(_plain_hook(h, e.cpus)), file=out)
        if not p.hooks:
            print("  no hooks vigil loads", file=out)
        if p.enforcer is not None:
            print(f"  {enforcer_text(p.enforcer)}", file=out)
        print(f"  {_policy_total(p)}", file=out)
    if e.shared is not None:
        print("shared with the base sensor (created once, whatever the policies):", file=out)
        print("\n".join(_table(MAP_HEADERS, map_rows(e.shared.maps, e.cpus), "  ")), file=out)
        print(f"  shared total: {size_text(e.shared.memlock)}", file=out)
        print(f"total: {size_text(e.memlock)} ({e.cpus} possible CPUs)", file=out)


# --- rich ---------------------------------------------------------------------------


def _rich_table(headers: Sequence[str], rows: list[list[str]], numeric: set[str]) -> Any:
    from rich.table import Table

    t = Table(box=None, padding=(0, 1), header_style="bold")
    for h in headers:  # the prose columns wrap, the figures and names never do
        t.add_column(h, justify="right" if h in numeric else "left",
                     no_wrap=h not in ("read", "role", "label"))
    for r in rows:
        t.add_row(*r)
    return t


def render_rich(e: Explanation, console: Console) -> None:
    from rich.padding import Padding
    from rich.text import Text

    for issue in e.issues:
        console.print(Text(issue, style="red"))
    nums_a = {"index", "offset", "size"}
    nums_m = {"key", "value", "entries", "memlock"}
    for p in e.policies:
        console.rule(Text(f"policy {p.name}", style="bold") + Text(f"  {p.file}", style="dim"))
        if p.cgroup_paths:
            console.print(Text(scope_text(p.cgroup_paths), style="bold"))
        for h in p.hooks:
            plan = h.plan
            console.print(Text(f"hook {h.hook_id}: ", style="bold") + Text(
                f"{h.kind} {h.target}", style="bold cyan"))
            console.print(Padding(Text("program: ", style="bold") + Text(
                plan.program.kind, style="green") + Text(f"  {plan.program.reason}",
                                                         style="dim"), (0, 2)))
            if h.hot_path:
                console.print(Padding(Text("hot path: ", style="bold yellow")
                                      + Text(h.hot_path, style="yellow"), (0, 2)))
            console.print(Padding(Text("arguments", style="bold") + Text(
                f"  from {plan.layout_source or 'the plan'}", style="dim"), (0, 2)))
            if plan.args:
                console.print(Padding(_rich_table(ARG_HEADERS, arg_rows(h), nums_a), (0, 4)))
            console.print(Padding(Text("selectors", style="bold")
                                  + Text("  read back from the loaded hook", style="dim"), (0, 2)))
            for s in selector_lines(h.selectors, plan.args):
                console.print(Padding(Text(s), (0, 4)))
            console.print(Padding(Text("maps", style="bold")
                                  + Text("  memlock from /proc/self/fdinfo", style="dim"), (0, 2)))
            console.print(Padding(_rich_table(MAP_HEADERS, map_rows(h.maps, e.cpus), nums_m),
                                  (0, 4)))
            progs = ", ".join(f"{x.name} ({x.section}) {x.memlock} B" for x in h.programs)
            console.print(Padding(Text("programs: ", style="bold") + Text(progs), (0, 2)))
            console.print(Padding(Text(f"hook total: {size_text(h.memlock)}", style="bold"),
                                  (0, 2)))
        if p.enforcer is not None:
            console.print(Text(enforcer_text(p.enforcer), style="bold"))
        style = "bold green" if p.memlock < BUDGET else "bold red"
        console.print(Text(_policy_total(p), style=style))
    if e.shared is not None:
        console.rule(Text("shared with the base sensor", style="bold"))
        console.print(_rich_table(MAP_HEADERS, map_rows(e.shared.maps, e.cpus), nums_m))
        console.print(Text(f"shared total: {size_text(e.shared.memlock)}", style="bold"))
        console.print(Text(f"total: {size_text(e.memlock)} ({e.cpus} possible CPUs)",
                           style="bold"))


# --- JSON ---------------------------------------------------------------------------


def _map_json(m: MapCost) -> dict[str, Any]:
    return {"name": m.name, "type": m.type, "key_size": m.key_size, "value_size": m.value_size,
            "max_entries": m.max_entries, "percpu": m.percpu, "memlock": m.memlock,
            "role": m.role}


def _filter_json(a: DecodedArg, args: Sequence[ArgPlan]) -> dict[str, Any]:
    arg = args[a.position]
    values: list[Any] = [v.decode("utf-8", "backslashreplace") if isinstance(v, bytes)
                         else list(v) if isinstance(v, tuple) else v for v in a.values]
    return {"index": a.index, "position": a.position, "field": arg.field,
            "type": arg.tetragon_type, "op": a.op.name, "operator": OP_NAMES[a.op],
            "size": a.size, "signed": a.signed, "values": values,
            "text": filter_text(a, args)}


def _selectors_json(sel: DecodedSelectors, args: Sequence[ArgPlan]) -> dict[str, Any]:
    return {
        "selectors": [{
            "matchPIDs": [{"op": p.op.name, "operator": OP_NAMES[p.op], "values": list(p.values)}
                          for p in d.pids],
            "process": list(d.process),
            "matchArgs": [_filter_json(a, args) for a in d.args],
            "matchActions": [{"action": ACTION_NAMES[x.action], "arg": x.arg,
                              **({"sig": x.sig} if x.action is Action.NOTIFY_ENFORCER else {})}
                             for x in d.actions],
            "matchReturnArgs": [{"op": a.op.name, "operator": OP_NAMES[a.op],
                                 "values": [list(v) if isinstance(v, tuple) else v
                                            for v in a.values]} for a in d.ret_args],
            "matchReturnActions": [{"action": ACTION_NAMES[x.action], "arg": x.arg}
                                   for x in d.ret_actions],
        } for d in sel.selectors],
        "pool_bytes": sel.pool_bytes,
        "pool_capacity": sel.pool_capacity,
        "text": selector_lines(sel, args),
    }


def _hook_json(h: HookExplanation) -> dict[str, Any]:
    plan = h.plan
    return {
        "hook_id": h.hook_id,
        "kind": h.kind,
        "target": h.target,
        "program": {"kind": plan.program.kind, "reason": plan.program.reason},
        "hot_path": h.hot_path,
        "layout_source": plan.layout_source,
        "args": [{"index": a.index, "field": a.field, "c_type": a.c_type, "offset": a.offset,
                  "size": a.size, "field_size": a.field_size, "kind": a.kind.name,
                  "read": read_text(a), "signed": a.signed, "type": a.tetragon_type,
                  "json_key": a.json_key, "label": a.label} for a in plan.args],
        "selectors": _selectors_json(h.selectors, plan.args),
        "maps": [_map_json(m) for m in h.maps],
        "programs": [{"name": p.name, "section": p.section, "memlock": p.memlock}
                     for p in h.programs],
        "memlock": h.memlock,
    }


def to_json(e: Explanation) -> dict[str, Any]:
    return {
        "cpus": e.cpus,
        "policies": [{"file": p.file, "name": p.name, "hooks": [_hook_json(h) for h in p.hooks],
                      "memlock": p.memlock, "within_budget": p.memlock < BUDGET,
                      "hot_path_hooks": [h.hook_id for h in p.hot_paths],
                      "cgroup_paths": list(p.cgroup_paths),
                      "enforcer": None if p.enforcer is None else {
                          "functions": list(p.enforcer.functions),
                          "method": p.enforcer.method, "reason": p.enforcer.why}}
                     for p in e.policies],
        "shared": None if e.shared is None else {
            "maps": [_map_json(m) for m in e.shared.maps], "memlock": e.shared.memlock},
        "memlock": e.memlock,
        "budget": BUDGET,
        "issues": e.issues,
        "failed": e.failed,
    }
