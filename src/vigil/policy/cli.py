"""`vigil policy validate FILE...`; the main CLI adds `explain`.

The group is built by ``add_parser``; each action is one ``_add_<action>``
function registering its own subparser and ``func``, so a new action is one
more function and one line in ``ACTIONS``. Actions from layers above policy
(explain needs the sensors) come in through ``add_parser(extra=...)``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from vigil.policy.errors import Severity

if TYPE_CHECKING:
    from vigil.policy.validate import Report

__all__ = ["ACTIONS", "add_parser", "run_validate"]


def run_validate(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print every issue of every file; 0 if all are valid (and supported), 1 otherwise."""
    from vigil.policy.validate import check_file

    out = out or sys.stdout
    tetragon_only: bool = args.tetragon_only
    failed = False
    for name in args.files:
        try:
            report = check_file(name)
        except OSError as err:
            print(f"{name}: cannot read: {err.strerror or err}", file=out)
            failed = True
            continue
        for issue in report.issues:
            if tetragon_only and issue.severity is Severity.UNSUPPORTED:
                continue
            print(issue, file=out)
        failed |= bool(report.blocking(tetragon_only=tetragon_only))
        print(_summary(report, tetragon_only), file=out)
    return 1 if failed else 0


def _summary(report: Report, tetragon_only: bool) -> str:
    n = len(report.policies)
    what = f"{n} {'policy' if n == 1 else 'policies'}"
    errors = sum(i.severity is Severity.ERROR for i in report.issues)
    missing = sum(i.severity is Severity.UNSUPPORTED for i in report.issues)
    if errors:
        return f"{report.file}: invalid ({errors} error{'s' * (errors != 1)})"
    if tetragon_only or not missing:
        return f"{report.file}: valid ({what})"
    return (f"{report.file}: valid Tetragon policy ({what}), but vigil does not support "
            f"{missing} thing{'s' * (missing != 1)} in it yet (listed above)")


def _add_validate(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "validate",
        help="check TracingPolicy files: Tetragon validity and what vigil supports",
        description=(
            "Check each file as Tetragon v1.7 would (schema, limits, references) and say what "
            "vigil does not implement yet. Prints every issue as FILE:LINE:COL: PATH: "
            "message; exits 1 if any file has an error or an unsupported field."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="policy YAML files")
    p.add_argument(
        "--tetragon-only", action="store_true",
        help="check Tetragon validity only; ignore what vigil does not support yet",
    )
    p.set_defaults(func=run_validate)


ACTIONS: tuple[Callable[[Any], None], ...] = (_add_validate,)


def add_parser(subparsers: Any, extra: Sequence[Callable[[Any], None]] = ()) -> None:
    """Register `policy` on the main CLI's subparsers (argparse._SubParsersAction),
    with ``extra`` actions after ours."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "policy",
        help="TracingPolicy files: validate, explain",
        description="Work with Tetragon-style TracingPolicy files.",
    )
    sub = p.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    for add in (*ACTIONS, *extra):
        add(sub)
