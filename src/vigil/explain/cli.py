"""`vigil policy explain FILE...`: registered on `vigil policy` by the main
CLI (the policy layer cannot import the sensors this needs)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

__all__ = ["add_explain", "run_explain"]


class _Usage(Exception):
    pass


def _sizes(args: argparse.Namespace) -> tuple[int, int]:
    ringbuf = int(args.ringbuf_size_mb * (1 << 20))
    page = os.sysconf("SC_PAGE_SIZE")
    if ringbuf < page or ringbuf & (ringbuf - 1) or ringbuf != args.ringbuf_size_mb * (1 << 20):
        raise _Usage(f"--ringbuf-size-mb must give a power of two of at least {page} bytes "
                     f"(a page), got {args.ringbuf_size_mb:g} MB")
    if args.exec_map_size <= 0:
        raise _Usage(f"--exec-map-size must be positive, got {args.exec_map_size}")
    return ringbuf, args.exec_map_size


def run_explain(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """0 when every policy was explained; 1 if any file has an error or an
    unsupported field (listed as `vigil policy validate` lists them)."""
    from vigil.explain.model import explain
    from vigil.explain.render import render_plain, render_rich, to_json
    from vigil.preflight import preflight
    from vigil.run import UsageError

    out = out or sys.stdout
    try:
        ringbuf, entries = _sizes(args)
    except _Usage as err:
        raise UsageError(str(err)) from None
    preflight()
    result = explain(args.files, ringbuf_bytes=ringbuf, exec_map_entries=entries,
                     hook_rung=args.hook_rung)
    try:
        if args.json:
            json.dump(to_json(result), out, indent=2)
            out.write("\n")
        elif out.isatty():
            from rich.console import Console

            render_rich(result, Console(file=out, highlight=False))
        else:
            render_plain(result, out)
        out.flush()
    except BrokenPipeError:  # `vigil policy explain FILE | head`: the reader has enough
        # Python flushes stdout again at exit: point it somewhere that takes it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    return 1 if result.failed else 0


def add_explain(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "explain",
        help="what each hook of a policy becomes on this kernel, and what it costs",
        description=(
            "For each hook: the program type chosen and why, the argument layout read from "
            "tracefs, the selectors as compiled (read back from the kernel), and every map "
            "with the kernel memory it takes (objects are loaded, never attached). Then each "
            "policy's total and the maps shared with the base sensor. Needs root. Exits 1 "
            "if a file has an error (listed as `vigil policy validate` lists them)."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="policy YAML files")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    from vigil.run import add_hook_rung

    add_hook_rung(p)
    p.add_argument("--ringbuf-size-mb", type=float, default=8, metavar="MB",
                   help="size the shared ring buffer as `vigil run` would (default 8)")
    p.add_argument("--exec-map-size", type=int, default=32768, metavar="N",
                   help="size the shared exec map as `vigil run` would (default 32768)")
    p.set_defaults(func=run_explain)
