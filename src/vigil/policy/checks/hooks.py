"""One hook: its message, tags, arguments and return value, as Tetragon's sensors
check them before they load anything (pkg/sensors/tracing/generic*.go)."""

from __future__ import annotations

import re

from vigil.policy import limits
from vigil.policy.checks.hooks_of import Hook
from vigil.policy.errors import PathPart
from vigil.policy.findings import Findings
from vigil.policy.model import (
    KProbeArg,
    KProbeSpec,
    LsmHookSpec,
    TracepointSpec,
    TracingPolicySpec,
    UProbeSpec,
    UsdtSpec,
)
from vigil.policy.suggest import closest

__all__ = ["check_hook"]

Path = tuple[PathPart, ...]
# a resolve path: field names and [N] indexes (generic.go formatBTFPath)
_RESOLVE_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\[[0-9]+\]")
_BUFFERS = {"char_buf", "char_iovec"}
_DATA_SOURCES = ("current_task", "pt_regs")


def _resolve_parts(text: str) -> list[str] | None:
    parts: list[str] = []
    for i, chunk in enumerate(text.split(".")):
        got = _RESOLVE_PART.findall(chunk)
        if "".join(got) != chunk or not got or (i > 0 and got[0].startswith("[")):
            return None
        parts.extend(got)
    return parts


def _check_text(f: Findings, hook: Hook) -> None:
    message, tags = hook.spec.message, hook.spec.tags
    if message and len(message.encode()) < limits.MESSAGE_MIN:
        f.error((*hook.path, "message"), f"'{message}' is too short; Tetragon wants a message "
                f"of at least {limits.MESSAGE_MIN} characters", value=True)
    elif len(message.encode()) > limits.MESSAGE_MAX:
        f.warn((*hook.path, "message"), f"{len(message.encode())} bytes; Tetragon truncates a "
               f"message to {limits.MESSAGE_MAX}", value=True)
    if len(tags) > limits.MAX_TAGS:
        f.error((*hook.path, "tags"), f"{len(tags)} tags; Tetragon takes at most "
                f"{limits.MAX_TAGS} per hook")
    for i, tag in enumerate(tags):
        if len(tag.encode()) < limits.TAG_MIN:
            f.error((*hook.path, "tags", i), f"'{tag}' is too short; a tag has at least "
                    f"{limits.TAG_MIN} characters", value=True)
        elif len(tag.encode()) > limits.TAG_MAX:
            f.warn((*hook.path, "tags", i), f"{len(tag.encode())} bytes; Tetragon truncates a "
                   f"tag to {limits.TAG_MAX}", value=True)


def _check_arg(f: Findings, hook: Hook, arg: KProbeArg, path: Path, *, data: bool) -> None:
    kind = hook.kind
    if arg.size_arg_index > limits.SIZE_ARG_INDEX_MAX:
        f.error((*path, "sizeArgIndex"), f"{arg.size_arg_index} is too large; sizeArgIndex is "
                f"at most {limits.SIZE_ARG_INDEX_MAX}", value=True)
    elif arg.size_arg_index and arg.type not in _BUFFERS | {"auto", "sockaddr_un"}:
        # (vigil's sockaddr_un takes it too: the address's length)
        f.warn((*path, "sizeArgIndex"), f"only char_buf, char_iovec and sockaddr_un "
               f"arguments use sizeArgIndex; this one is {arg.type}")
    elif arg.size_arg_index > limits.HOOK_ARG_INDEX_MAX + 1 and kind in ("kprobe", "fentry"):
        f.warn((*path, "sizeArgIndex"), f"{arg.size_arg_index} counts from 1 and a kprobe "
               f"reads 5 arguments: the size will read as 0")
    if arg.max_data and arg.type not in ("char_buf", "iov_iter", "auto"):
        f.warn((*path, "maxData"), f"maxData applies to char_buf and iov_iter only; Tetragon "
               f"ignores it on {arg.type}")
    if arg.return_copy and kind not in ("kprobe", "fentry", "uprobe"):
        f.warn((*path, "returnCopy"), f"a {kind} has no return probe; returnCopy has no effect")
    if kind in ("kprobe", "fentry", "uprobe", "lsm") and arg.index > limits.HOOK_ARG_INDEX_MAX:
        f.error((*path, "index"), f"{arg.index} is out of range; a {kind} reads arguments 0 to "
                f"{limits.HOOK_ARG_INDEX_MAX}", value=True)
    if kind == "tracepoint" and hook.raw and arg.index > limits.RAW_TP_ARG_INDEX_MAX:
        f.error((*path, "index"), f"{arg.index} is out of range; a raw tracepoint reads "
                f"arguments 0 to {limits.RAW_TP_ARG_INDEX_MAX}", value=True)
    typed = not arg.resolve
    if kind in ("kprobe", "fentry") and arg.type in ("auto", "syscall64"):
        f.error((*path, "type"), f"type '{arg.type}' is invalid for kprobes; name the "
                "argument's type, e.g. int, string, file", value=True)
    elif kind in ("uprobe", "lsm") and typed and arg.type in ("auto", "bpf_cmd"):
        f.error((*path, "type"), f"type '{arg.type}' is not available on a {kind}; name the "
                "argument's type, e.g. int, string", value=True)
    elif kind == "tracepoint" and arg.type == "const_buf":
        f.error((*path, "type"), "const_buf cannot be given; leave the type out (auto) and "
                "an array field of the format is read as const_buf", value=True)
    if arg.resolve:
        parts = _resolve_parts(arg.resolve)
        if parts is None:
            f.error((*path, "resolve"), f"'{arg.resolve}' is not a field path; write fields "
                    "separated by dots, with [N] for an index: e.g. mm.exe_file or "
                    "args[1].name", value=True)
        elif len(parts) > limits.BTF_RESOLVE_DEPTH_MAX:
            f.error((*path, "resolve"), f"{len(parts)} steps; Tetragon follows at most "
                    f"{limits.BTF_RESOLVE_DEPTH_MAX} (MaxBTFArgDepth)", value=True)
    if kind in ("kprobe", "fentry", "uprobe"):
        if not data and arg.source:
            f.error((*path, "source"), "an argument in args has no source (the hook's "
                    "arguments are its source); move it to data", value=True)
        if data and arg.source not in _DATA_SOURCES:
            best = closest(arg.source, _DATA_SOURCES) if arg.source else None
            what = f"'{arg.source}' is not a source" if arg.source else "missing"
            hint = f"did you mean '{best}'?" if best else \
                "a data entry reads from current_task or pt_regs"
            f.error((*path, "source"), f"{what}; {hint}", value=bool(arg.source))
        if data and not arg.resolve:
            f.error((*path, "resolve"), "a data entry needs resolve: the field to read from "
                    "its source, e.g. 'resolve: pid' or a register name")


def _check_args(f: Findings, hook: Hook) -> None:
    total = len(hook.args) + len(hook.data)
    if total > limits.MAX_ARGS:
        what = "args + data" if hook.data else "args"
        f.error((*hook.path, "args"), f"{total} arguments ({what}); Tetragon records at most "
                f"{limits.MAX_ARGS} per hook (EventConfigMaxArgs)")
    for i, arg in enumerate(hook.args):
        _check_arg(f, hook, arg, (*hook.path, "args", i), data=False)
    for i, arg in enumerate(hook.data):
        _check_arg(f, hook, arg, (*hook.path, "data", i), data=True)


def _check_return(f: Findings, hook: Hook) -> None:
    if hook.kind not in ("kprobe", "fentry", "uprobe"):
        return
    if hook.returns and hook.return_arg is None:
        f.error((*hook.path, "returnArg"), "return: true needs returnArg, the return value's "
                "type: e.g. 'returnArg: {index: 0, type: int}'")
    elif hook.returns and hook.return_arg is not None and hook.return_arg.type == "auto":
        f.error((*hook.path, "returnArg", "type"), "name the return value's type, e.g. int "
                "(auto is not available for a return value)")
    elif not hook.returns and hook.return_arg is not None:
        f.warn((*hook.path, "returnArg"), "has no effect without 'return: true'")


def _check_kprobe(f: Findings, hook: Hook, spec: KProbeSpec, policy: TracingPolicySpec) -> None:
    if not spec.call:
        f.error((*hook.path, "call"), "empty; name the kernel function, e.g. "
                "security_file_open, or list:NAME", value=True)
    elif spec.call.startswith("list:"):
        name = spec.call[len("list:"):]
        if not any(lst.name == name for lst in policy.lists):
            names = [lst.name for lst in policy.lists]
            best = closest(name, names) if names else None
            hint = f"did you mean 'list:{best}'?" if best else "add it to spec.lists"
            f.error((*hook.path, "call"), f"list '{name}' is not defined; {hint}", value=True)
    if spec.return_arg_action and spec.return_arg_action.lower() not in ("tracksock",
                                                                         "untracksock"):
        f.error((*hook.path, "returnArgAction"), f"'{spec.return_arg_action}' is not a "
                "return action; Tetragon takes TrackSock or UntrackSock here", value=True)


def _check_uprobe(f: Findings, hook: Hook, spec: UProbeSpec) -> None:
    given = [name for name, items in (("symbols", spec.symbols), ("offsets", spec.offsets),
                                       ("addrs", spec.addrs)) if items]
    if not given:
        f.error(hook.path, "a uprobe needs symbols, offsets or addrs: where in the binary to "
                "attach")
    elif len(given) > 1:
        f.error((*hook.path, given[1]), f"give one of symbols, offsets or addrs, not "
                f"{' and '.join(given)}")
    refs = len(spec.ref_ctr_offsets)
    for name, items in (("symbols", spec.symbols), ("offsets", spec.offsets)):
        if refs and items and len(items) != refs:
            f.error((*hook.path, "refCtrOffsets"), f"{refs} refCtrOffsets for {len(items)} "
                    f"{name}; give one per entry of {name}")


def check_hook(hook: Hook, policy: TracingPolicySpec, f: Findings) -> None:
    _check_text(f, hook)
    _check_args(f, hook)
    _check_return(f, hook)
    spec = hook.spec
    if isinstance(spec, KProbeSpec):
        _check_kprobe(f, hook, spec, policy)
    elif isinstance(spec, TracepointSpec):
        for name in ("subsystem", "event"):
            if not getattr(spec, name):
                f.error((*hook.path, name), f"empty; name the tracepoint's {name} (see "
                        "/sys/kernel/tracing/events)", value=True)
    elif isinstance(spec, UProbeSpec):
        _check_uprobe(f, hook, spec)
    elif isinstance(spec, LsmHookSpec) and not spec.hook:
        f.error((*hook.path, "hook"), "empty; name the LSM hook, e.g. file_open", value=True)
    elif isinstance(spec, UsdtSpec):
        for name in ("path", "provider", "name"):
            if not getattr(spec, name):
                f.error((*hook.path, name), "empty", value=True)
