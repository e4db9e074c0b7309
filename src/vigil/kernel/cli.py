"""`vigil probe`: show which BPF features the running kernel offers, and why not.

The main CLI (vigil.cli) calls ``add_parser`` and ``run``; ``python -m
vigil.kernel.cli`` runs the subcommand on its own.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

import orjson

from vigil.kernel.report import FEATURE_NAMES, ProbeReport

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["add_parser", "main", "render_json", "render_table", "run"]

HELP = "probe which BPF hooks, maps and helpers this kernel offers"


def add_parser(subparsers: Any) -> None:
    """Register `probe` on the main CLI's subparsers (argparse._SubParsersAction)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "probe",
        help=HELP,
        description=(
            "Load, attach and trigger a tiny BPF program per feature on the running "
            "kernel and report what works; every 'no' says why."
        ),
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object (for machines)")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="add a detail column (verifier log tail, …)"
    )
    parser.add_argument(
        "features",
        nargs="*",
        metavar="FEATURE",
        help=f"only these features (default: all): {', '.join(FEATURE_NAMES)}",
    )


def render_json(report: ProbeReport) -> bytes:
    return orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2) + b"\n"


def render_table(report: ProbeReport, names: list[str], verbose: bool = False) -> Table:
    k = report.kernel
    lsms = ",".join(k.lsms) or "unknown"
    from rich.table import Table  # rich costs start-up time: only `probe` needs it

    table = Table(
        title=f"Linux {k.release} ({k.machine}), lockdown={k.lockdown}, LSMs={lsms}",
        caption=f"probed in {report.elapsed_s:.2f} s",
    )
    table.add_column("feature", style="bold")
    table.add_column("ok")
    table.add_column("reason", overflow="fold")
    if verbose:
        table.add_column("detail", overflow="fold", style="dim")
    for name in names:
        f = report.features[name]
        ok = "[green]yes[/green]" if f.available else "[red]no[/red]"
        row = [name, ok, f.reason]
        if verbose:
            row.append(f.detail)
        table.add_row(*row)
    return table


def run(args: argparse.Namespace) -> int:
    """Run `vigil probe`; returns the exit status (2 for an unknown feature name)."""
    wanted: list[str] = list(getattr(args, "features", None) or [])
    unknown = [n for n in wanted if n not in FEATURE_NAMES]
    if unknown:
        print(
            f"vigil probe: unknown feature(s) {', '.join(unknown)}; "
            f"known: {', '.join(FEATURE_NAMES)}",
            file=sys.stderr,
        )
        return 2
    from vigil.kernel.probe import probe_all

    report = probe_all()
    if wanted:
        report = ProbeReport(
            report.kernel, {n: report.features[n] for n in wanted}, report.elapsed_s
        )
    if getattr(args, "json", False):
        sys.stdout.write(render_json(report).decode())
        sys.stdout.flush()
        return 0
    from rich.console import Console

    Console().print(render_table(report, list(report.features), getattr(args, "verbose", False)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vigil probe", description=HELP)
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
