"""`vigil run`: watch every process start and end on the host."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from types import FrameType

from vigil.agent import EVENT_TYPES, Agent, EventFilter
from vigil.events.compact import CompactEncoder
from vigil.events.tetragon import JsonEncoder, RenderOptions
from vigil.export.writers import RotatingFileWriter, StreamWriter, Writer
from vigil.process.cache import ProcessCache
from vigil.process.clock import Clock
from vigil.process.procfs import _ns_inodes, walk_proc
from vigil.sensors.process import ProcessSensor

__all__ = ["UsageError", "add_parser", "run"]


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
    out.add_argument("--enable-ancestors", action="store_true",
                     help="add every ancestor beyond the parent to each event")
    out.add_argument("--enable-process-ns", action="store_true",
                     help="add namespace inode numbers to each process")
    out.add_argument("--enable-process-cred", action="store_true",
                     help="add uid/gid/euid/egid to each process")
    out.add_argument("--node-name", default=None,
                     help="node name in events and exec_ids (default: $NODE_NAME or hostname)")
    flt = p.add_argument_group("filters (an event is exported when it matches all given)")
    flt.add_argument("--event-types", action="append", metavar="TYPES",
                     help=f"comma-separated event types to export ({', '.join(EVENT_TYPES)})")
    flt.add_argument("--binary-regex", action="append", metavar="REGEX", default=[],
                     help="export only processes whose binary matches (repeatable: any)")
    flt.add_argument("--pid", action="append", type=int, metavar="PID", default=[],
                     help="export only events of this pid (repeatable)")
    tun = p.add_argument_group("tuning")
    tun.add_argument("--ringbuf-size-mb", type=int, default=8, metavar="MB",
                     help="kernel ring buffer size, a power of two (default 8)")
    tun.add_argument("--exec-map-size", type=int, default=32768, metavar="N",
                     help="live processes the kernel tracks (default 32768)")
    tun.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                     help="stop after this many seconds")
    p.set_defaults(func=run)


def build_filter(args: argparse.Namespace) -> EventFilter:
    types: set[str] = set()
    for item in args.event_types or [",".join(EVENT_TYPES)]:
        types.update(t.strip() for t in item.split(",") if t.strip())
    unknown = types - set(EVENT_TYPES)
    if unknown:
        raise UsageError(
            f"--event-types: unknown type {', '.join(sorted(unknown))}; "
            f"known types are {', '.join(EVENT_TYPES)}"
        )
    regexes = []
    for text in args.binary_regex:
        try:
            regexes.append(re.compile(text))
        except re.error as err:
            raise UsageError(f"--binary-regex {text!r}: {err}") from None
    return EventFilter(frozenset(types), tuple(regexes), frozenset(args.pid))


def _check_args(args: argparse.Namespace) -> None:
    mb = args.ringbuf_size_mb
    if mb <= 0 or mb & (mb - 1):
        raise UsageError(f"--ringbuf-size-mb must be a power of two, got {mb}")
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
            )
        except (OSError, ValueError) as err:
            raise UsageError(str(err)) from None
    return StreamWriter()


def _summary(agent: Agent, losses: dict[str, int]) -> str:
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(agent.seen.items()))
    lost = {k: v for k, v in losses.items() if v}
    lost.update({f"decode_{k}": v for k, v in agent.decode_errors.items()})
    line = (
        f"vigil: stopped. events seen: {sum(agent.seen.values())} ({kinds or 'none'}); "
        f"exported: {agent.exported}; lost: {sum(lost.values())}"
    )
    if lost:
        line += " (" + ", ".join(f"{k} {v}" for k, v in sorted(lost.items())) + ")"
    return line


def run(args: argparse.Namespace) -> int:
    from vigil.preflight import preflight

    _check_args(args)
    accept = build_filter(args)
    preflight()
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
    stop = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    started = time.monotonic()
    sensor = ProcessSensor(
        ringbuf_bytes=args.ringbuf_size_mb << 20, exec_map_entries=args.exec_map_size
    )
    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        sensor.start()
        cache = ProcessCache(node_name, clock)
        entries = list(walk_proc(node_name, clock))
        for entry in entries:
            cache.insert(entry.process)
        sensor.seed(entries)
        agent = Agent(cache, writer, encode, accept, with_ancestors=args.enable_ancestors)
        print(
            f"vigil: watching processes on {node_name} ({len(entries)} already running); "
            "Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        deadline = started + args.duration if args.duration else None
        while not stop:
            agent.handle_batch(sensor.poll(50))
            if deadline is not None and time.monotonic() >= deadline:
                break
        # What the kernel already wrote is still delivered.
        agent.handle_batch(sensor.poll(0))
        losses = sensor.loss_counts()
    finally:
        sensor.close()
        writer.close()
        for s, handler in old_handlers.items():
            signal.signal(s, handler)
    print(_summary(agent, losses), file=sys.stderr, flush=True)
    return 0
