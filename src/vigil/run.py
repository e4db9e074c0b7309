"""`vigil run`: watch every process start and end on the host."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import time
from collections import Counter
from types import FrameType

from vigil.agent import EVENT_TYPES, Agent, EventFilter
from vigil.encode.compact import CompactEncoder
from vigil.encode.tetragon import JsonEncoder, RenderOptions
from vigil.export.writers import (
    OutputClosed,
    RotatingFileWriter,
    StreamWriter,
    Writer,
    parse_mode,
)
from vigil.kernel.mounts import cgroup2_mount
from vigil.process.clock import Clock
from vigil.process.procfs import _ns_inodes
from vigil.runtime import Runtime, RuntimeConfig
from vigil.sensors.enforcer import EnforcerPlan
from vigil.sensors.plan import TracepointHookPlan

__all__ = ["UsageError", "add_parser", "run"]

# How often the process cache is checked against the kernel for entries whose
# exit record was lost (ProcessCache.sweep): a few syscalls per live process.
SWEEP_INTERVAL_S = float(os.environ.get("VIGIL_SWEEP_INTERVAL_S", "30"))


class UsageError(Exception):
    """A command-line value that cannot work; the message says which and why."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="watch process execs and exits, print Tetragon-shaped events",
        description="Load the base process sensor and print an event for every process "
        "start (process_exec) and end (process_exit) on this host.",
    )
    out = p.add_argument_group("output")
    out.add_argument("-o", "--output", choices=("json", "compact"), default="json",
                     help="JSON lines (Tetragon's export format) or one compact line per event")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                     help="colour compact output (auto: only on a terminal)")
    out.add_argument("--export-file", metavar="PATH",
                     help="write events to PATH instead of stdout, rotating it by size")
    out.add_argument("--export-file-max-size-mb", type=float, default=10.0, metavar="MB",
                     help="rotate the export file when it would exceed this size (default 10)")
    out.add_argument("--export-file-max-backups", type=int, default=5, metavar="N",
                     help="rotated files kept as PATH.1 .. PATH.N (default 5)")
    out.add_argument("--export-file-perm", default="600", metavar="MODE",
                     help="octal mode of the export file and its backups, set whatever "
                     "the umask (default 600: events carry command lines)")
    out.add_argument("--enable-ancestors", action="store_true",
                     help="add every ancestor beyond the parent to each event")
    out.add_argument("--enable-process-ns", action="store_true",
                     help="add namespace inode numbers to each process")
    out.add_argument("--enable-process-cred", action="store_true",
                     help="add uid/gid/euid/egid to each process")
    out.add_argument("--node-name", default=None,
                     help="node name in events and exec_ids (default: $NODE_NAME or hostname)")
    pol = p.add_argument_group("policies")
    pol.add_argument("--tracing-policy", action="append", default=[], metavar="FILE",
                     help="load this TracingPolicy file (repeatable; several documents per file)")
    pol.add_argument("--tracing-policy-dir", metavar="DIR",
                     help="load every *.yaml and *.yml file of DIR")
    add_hook_rung(pol)
    flt = p.add_argument_group("filters (an event is exported when it matches all given)")
    flt.add_argument("--event-types", action="append", metavar="TYPES",
                     help=f"comma-separated event types to export ({', '.join(EVENT_TYPES)})")
    flt.add_argument("--binary-regex", action="append", metavar="REGEX", default=[],
                     help="export only processes whose binary matches (repeatable: any)")
    flt.add_argument("--pid", action="append", type=int, metavar="PID", default=[],
                     help="export only events of this pid (repeatable)")
    flt.add_argument("--container-id", action="append", metavar="REGEX", default=[],
                     help="export only processes whose container id (the docker field) "
                     "matches, as Tetragon's container_id filter (repeatable: any)")
    flt.add_argument("--cgroup", action="append", metavar="PATH", default=[],
                     help="export only processes in this cgroup (v2) or below it, a path "
                     "as /proc/<pid>/cgroup shows it, e.g. /system.slice (repeatable: any)")
    tun = p.add_argument_group("tuning")
    tun.add_argument("--ringbuf-size-mb", type=float, default=8, metavar="MB",
                     help="kernel ring buffer size: a power of two of at least a page "
                     "(0.0625 is 64 KiB; default 8)")
    tun.add_argument("--exec-map-size", type=int, default=32768, metavar="N",
                     help="live processes the kernel tracks (default 32768)")
    tun.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                     help="stop after this many seconds")
    p.set_defaults(func=run)


def add_hook_rung(group: argparse._ActionsContainer) -> None:
    """--hook-rung, shared with `vigil policy explain`."""
    from vigil.sensors.hook_ladder import RUNG_NAMES

    group.add_argument("--hook-rung", choices=RUNG_NAMES, default=None,
                       help="attach every kprobe this way instead of the best way this "
                       "kernel offers (fails if it cannot)")


def build_filter(args: argparse.Namespace) -> EventFilter:
    types: set[str] = set()
    for item in args.event_types or [",".join(EVENT_TYPES)]:
        # Tetragon's own spellings are the EventType names (PROCESS_EXEC)
        # as `tetra getevents --event-types` takes them; both are accepted.
        types.update(t.strip().lower() for t in item.split(",") if t.strip())
    unknown = types - set(EVENT_TYPES)
    if unknown:
        raise UsageError(
            f"--event-types: unknown type {', '.join(sorted(unknown))}; "
            f"known types are {', '.join(EVENT_TYPES)}"
        )
    return EventFilter(frozenset(types), _regexes("--binary-regex", args.binary_regex),
                       frozenset(args.pid), _regexes("--container-id", args.container_id),
                       tuple(_cgroup_arg(c) for c in args.cgroup))


def _regexes(flag: str, texts: list[str]) -> tuple[re.Pattern[str], ...]:
    regexes = []
    for text in texts:
        try:
            regexes.append(re.compile(text))
        except re.error as err:
            raise UsageError(f"{flag} {text!r}: {err}") from None
    return tuple(regexes)


def _cgroup_arg(text: str) -> str:
    mount = cgroup2_mount()
    if mount and (text == mount or text.startswith(mount + "/")):
        raise UsageError(f"--cgroup {text!r}: name the cgroup from the hierarchy's root, "
                         f"without the mount {mount}: --cgroup {text[len(mount):] or '/'}")
    if not text.startswith("/"):
        raise UsageError(f"--cgroup {text!r}: a cgroup path starts with '/', from the cgroup "
                         "hierarchy's root as /proc/<pid>/cgroup shows it (e.g. "
                         "/system.slice/docker.service), not a path of the mount")
    return text


def _ringbuf_bytes(args: argparse.Namespace) -> int:
    return int(args.ringbuf_size_mb * (1 << 20))


def _hooks_text(n: int) -> str:
    """The hooks watched: one per function a kprobe.multi link attaches to."""
    return f" and {n} policy hook{'s' if n != 1 else ''}" if n else ""


def _policy_files(args: argparse.Namespace) -> list[str]:
    files = list(args.tracing_policy)
    if args.tracing_policy_dir:
        d = args.tracing_policy_dir
        if not os.path.isdir(d):
            raise UsageError(f"--tracing-policy-dir {d}: not a directory")
        files += sorted(os.path.join(d, f) for f in os.listdir(d)
                        if f.endswith((".yaml", ".yml")))
    return files


def _load_policies(files: list[str], hook_rung: str | None = None
                   ) -> tuple[list[TracepointHookPlan], list[EnforcerPlan]]:
    """Every hook and enforcer of every policy, planned; PolicyError with
    every problem of every file at once."""
    from vigil.policy import Issue, PolicyError, load_file
    from vigil.sensors.compile import compile_policy
    from vigil.sensors.enforcer import compile_enforcer

    plans: list[TracepointHookPlan] = []
    enforcers: list[EnforcerPlan] = []
    issues: list[Issue] = []
    for path in files:
        try:
            for loaded in load_file(path):
                plans += compile_policy(loaded, hook_rung=hook_rung)
                enforcer = compile_enforcer(loaded)
                if enforcer is not None:
                    enforcers.append(enforcer)
        except PolicyError as err:
            issues += err.issues
        except OSError as err:
            raise UsageError(f"--tracing-policy {path}: {err.strerror}") from None
    if issues:
        raise PolicyError(issues)
    return plans, enforcers


def _check_args(args: argparse.Namespace) -> None:
    size = _ringbuf_bytes(args)
    page = os.sysconf("SC_PAGE_SIZE")
    if size < page or size & (size - 1) or size != args.ringbuf_size_mb * (1 << 20):
        raise UsageError(
            f"--ringbuf-size-mb must give a power of two of at least {page} bytes "
            f"(a page), got {args.ringbuf_size_mb:g} MB "
            f"= {args.ringbuf_size_mb * (1 << 20):g} bytes"
        )
    if args.exec_map_size <= 0:
        raise UsageError(f"--exec-map-size must be positive, got {args.exec_map_size}")
    if args.duration is not None and args.duration <= 0:
        raise UsageError(f"--duration must be positive, got {args.duration}")


def _writer(args: argparse.Namespace) -> Writer:
    if args.export_file:
        try:
            return RotatingFileWriter(
                args.export_file,
                max_bytes=int(args.export_file_max_size_mb * (1 << 20)),
                backups=args.export_file_max_backups,
                mode=parse_mode(args.export_file_perm),
            )
        except (OSError, ValueError) as err:
            raise UsageError(str(err)) from None
    return StreamWriter()


# Signals whose default action would end vigil without a summary: each stops it
# as SIGTERM does (drain, summary). Not the synchronous faults (SIGSEGV, SIGBUS,
# SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGABRT): a handler that returns re-runs the
# faulting instruction. SIGHUP reopens the export file instead; SIGXFSZ is
# ignored, so a write past RLIMIT_FSIZE fails with EFBIG and is counted.
_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGPIPE", "SIGALRM",
                 "SIGVTALRM", "SIGPROF", "SIGXCPU", "SIGIO", "SIGPWR", "SIGSTKFLT")


def _stop_signals() -> list[int]:
    sigs = [int(getattr(signal, name)) for name in _STOP_SIGNALS if hasattr(signal, name)]
    return sigs + list(range(signal.SIGRTMIN, signal.SIGRTMAX + 1))


def _exit_status(stop: int | None, output_closed: bool) -> int:
    """0 when stopped the usual ways (SIGTERM, Ctrl-C, --duration, the reader of
    the output leaving); 128+n after any other signal, as a shell reports a
    process that signal ended, so a supervisor sees that something unexpected
    stopped the agent (systemd's Restart=on-failure starts it again)."""
    if output_closed or stop is None or stop in (signal.SIGINT, signal.SIGTERM):
        return 0
    return 128 + stop


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:  # real-time signals between SIGRTMIN and SIGRTMAX have no name
        return f"SIGRTMIN+{signum - signal.SIGRTMIN}"


# Kernel counters that are not lost events: the event was delivered, only
# something about it is incomplete. Reported apart from "lost".
_NOT_LOSSES = ("exec_map_full",)
# What became of NotifyEnforcer notes that no enforced call acted on: not
# events either; reported apart, as Tetragon's enforcer_missed_notifications.
_ENFORCER_NOTES = {"enforcer_overwritten": "overwritten", "enforcer_unused": "unused"}


def _summary(agent: Agent, losses: dict[str, int], notes: dict[str, int]) -> str:
    """The last line on stderr: events seen, exported, lost by cause, and
    what was incomplete (by cause) without being lost."""
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(agent.seen.items()))
    lost = {k: v for k, v in losses.items()
            if v and k not in _NOT_LOSSES and k not in _ENFORCER_NOTES}
    lost.update({f"decode_{k}": v for k, v in agent.decode_errors.items()})
    # Lines the output refused (disk full, ...): encoded, but never exported.
    unwritten = agent.writer.loss_counts()
    lost.update(unwritten)
    line = (
        f"vigil: stopped. events seen: {sum(agent.seen.values())} ({kinds or 'none'}); "
        f"exported: {agent.exported - sum(unwritten.values())}; lost: {sum(lost.values())}"
    )
    if lost:
        line += " (" + ", ".join(f"{k} {v}" for k, v in sorted(lost.items())) + ")"
    incomplete = {k: losses.get(k, 0) for k in _NOT_LOSSES}
    incomplete.update(notes)
    incomplete = {k: v for k, v in incomplete.items() if v}
    if incomplete:
        line += "; incomplete: " + ", ".join(f"{k} {v}" for k, v in sorted(incomplete.items()))
        if incomplete.get("exec_map_full"):
            line += " (raise --exec-map-size)"
    missed = {name: losses.get(k, 0) for k, name in _ENFORCER_NOTES.items() if losses.get(k)}
    if missed:
        line += "; enforcer notes not acted on: " + ", ".join(
            f"{k} {v}" for k, v in missed.items())
    return line


def _cache_notes(agent: Agent, seed_failed: int, procfs: Counter[str]) -> dict[str, int]:
    stats = agent.cache.stats
    notes = {
        "exit_of_unknown_process": stats.exits_of_unknown,
        "stale_process_entries": stats.stale_removed,
        "procfs_seed_failed": seed_failed,
    }
    notes.update({k: v for k, v in procfs.items() if k != "procfs_gone"})
    return notes


def run(args: argparse.Namespace) -> int:
    from vigil.preflight import preflight

    _check_args(args)
    accept = build_filter(args)
    preflight()
    plans, enforcers = _load_policies(_policy_files(args), args.hook_rung)
    node_name = args.node_name or os.environ.get("NODE_NAME") or os.uname().nodename
    clock = Clock.now()
    writer = _writer(args)
    colour = args.color == "always" or (
        args.color == "auto" and not args.export_file and sys.stdout.isatty()
    )
    opts = RenderOptions(
        node_name=node_name,
        with_ns=args.enable_process_ns,
        with_cred=args.enable_process_cred,
        host_ns=_ns_inodes("/proc/1") if args.enable_process_ns else None,
    )
    encode = (
        CompactEncoder(node_name, colour).encode
        if args.output == "compact"
        else JsonEncoder(opts).encode
    )
    stop: int | None = None  # the first stopping signal; handlers only set flags
    reopen = output_closed = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        if stop is None:
            stop = signum

    def on_hangup(signum: int, frame: FrameType | None) -> None:
        nonlocal reopen
        reopen = True

    started = time.monotonic()
    runtime = Runtime(
        RuntimeConfig(
            node_name=node_name,
            ringbuf_bytes=_ringbuf_bytes(args),
            exec_map_entries=args.exec_map_size,
            with_ancestors=args.enable_ancestors,
            sweep_interval_s=SWEEP_INTERVAL_S,
        ),
        writer, encode, accept, clock,
    )
    old_handlers = {s: signal.signal(s, on_signal) for s in _stop_signals()}
    old_handlers[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hangup)
    old_handlers[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        runtime.start()
        # Enforcers first: a hook's note is acted on from its first hit.
        for enforcer in enforcers:
            runtime.add_enforcer(enforcer)
        for plan in plans:
            runtime.add_tracepoint(plan)
        print(
            f"vigil: watching processes on {node_name} ({runtime.procfs_entries} already "
            f"running){_hooks_text(sum(p.hook_count for p in plans))}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        deadline = started + args.duration if args.duration else None
        while not stop:
            if reopen:  # SIGHUP: logrotate's postrotate
                reopen = False
                writer.reopen()
            try:
                runtime.step(50)
            except OutputClosed:  # `vigil run | head`: the reader has all it wants
                output_closed = True
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
        # What the kernel already wrote is still delivered.
        try:
            runtime.drain()
        except OutputClosed:
            output_closed = True
    finally:
        runtime.close()
        writer.close()
        for s, handler in old_handlers.items():
            signal.signal(s, handler)
    agent = runtime.agent
    losses = runtime.kernel_counts
    notes = _cache_notes(agent, runtime.seed_failed, runtime.procfs_problems)
    status = _exit_status(stop, output_closed)
    # stderr may be the closed pipe too (`vigil run 2>&1 | head`): nothing to tell then.
    with contextlib.suppress(OSError):
        if status and stop is not None:
            print(f"vigil: stopped by {_signal_name(stop)}, exit status {status}",
                  file=sys.stderr)
        print(_summary(agent, losses, notes), file=sys.stderr, flush=True)
    return status
