"""`vigil lab list | run N | explain N`."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType
from typing import Any

from vigil.lab.lesson import LANGUAGES, LabContext, Lesson
from vigil.lab.registry import LessonNotFoundError, all_lessons, get_lesson

__all__ = ["add_parser", "missing_features", "run"]

def vm_hint(lesson: Lesson) -> str:
    return (
        "run it on a kernel that has it, e.g. its test in the VM kernel matrix: "
        f"make test-kernels KERNELS=6.1 TESTS={lesson.kernel_test}"
    )



def add_parser(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "lab",
        help="the guide's demos as lessons: list, run, explain",
        description="Hands-on lessons on vigil's kernel side, one BPF concept each.",
    )
    sub = p.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="the lessons, what each teaches, whether this kernel can run it")
    r = sub.add_parser("run", help="load a lesson's program, trigger it, show what it sees")
    r.add_argument("lesson", help="lesson number or name (see `vigil lab list`)")
    r.add_argument("--duration", type=float, default=5.0, metavar="SECONDS",
                   help="stop after this long (default 5; 0: until Ctrl-C)")
    r.add_argument("--no-trigger", action="store_true",
                   help="do not start the lesson's own trigger; do it yourself")
    e = sub.add_parser("explain", help="what the lesson's code does and why")
    e.add_argument("lesson", help="lesson number or name")
    e.add_argument("--lang", choices=LANGUAGES, default="en", help="en or zh (the guide's)")
    p.set_defaults(func=run)


def missing_features(lesson: Lesson) -> list[tuple[str, str]]:
    """(feature, reason) for every feature the lesson needs that this kernel lacks."""
    from vigil.kernel.probe import probe_all

    report = probe_all()
    return [(f, report.reason(f)) for f in lesson.needs if not report.has(f)]


def _list() -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="vigil lab")
    table.add_column("#", justify="right")
    table.add_column("lesson")
    table.add_column("teaches")
    table.add_column("here?")
    reasons: dict[str, str] = {}
    for lesson in all_lessons():
        missing = missing_features(lesson)
        reasons.update(missing)
        here = "yes" if not missing else "no: needs " + ", ".join(f for f, _ in missing)
        table.add_row(lesson.key, lesson.title, lesson.teaches, here)
    console = Console()
    console.print(table)
    if reasons:
        console.print("\nMissing on this kernel (from `vigil probe`):")
        for feature, reason in reasons.items():
            console.print(f"  [bold]{feature}[/bold]: {reason}", highlight=False)
        console.print(
            "Those lessons run in the VM kernel matrix (docs/kernel-matrix.md), e.g. "
            "make test-kernels KERNELS=6.1 TESTS=tests/kernel/test_lab_5_kprobe.py",
            highlight=False,
        )
    return 0


def _explain(lesson: Lesson, lang: str) -> int:
    text = lesson.explanation(lang)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text))
    else:
        sys.stdout.write(text)
    return 0


def _run(lesson: Lesson, args: argparse.Namespace) -> int:
    missing = missing_features(lesson)
    if missing:
        for feature, reason in missing:
            print(f"vigil lab: lesson {lesson.key} needs {feature}, which this kernel lacks: "
                  f"{reason}", file=sys.stderr)
        print(f"vigil lab: {vm_hint(lesson)}", file=sys.stderr)
        return 2
    ctx = LabContext(duration=args.duration or None, trigger=not args.no_trigger,
                     show=lambda line: print(line, flush=True))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        ctx.stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"lesson {lesson.key}: {lesson.title} — {lesson.teaches}", flush=True)
        result = lesson.run(ctx)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    print(f"lesson {lesson.key}: {result.summary}", flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.lab_command == "list":
        return _list()
    try:
        lesson = get_lesson(args.lesson)
    except LessonNotFoundError as err:
        print(f"vigil lab: {err}", file=sys.stderr)
        return 2
    if args.lab_command == "explain":
        return _explain(lesson, args.lang)
    return _run(lesson, args)
