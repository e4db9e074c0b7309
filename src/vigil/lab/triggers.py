"""Trigger processes that start, say they are ready, and wait for a go.

Some lessons must know a trigger's pid before they load their program (it is
a `const volatile` knob), or want several triggers to act at the same moment.
Their trigger script prints "ready", then reads one line from stdin before it
does its work. `start_waiting` starts one and returns once it is ready; `go`
lets them act and waits for them; `reap` kills any still running (for
`finally:`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from vigil.lab.lesson import LabContext

__all__ = ["go", "reap", "start_waiting"]


def start_waiting(ctx: LabContext, argv: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start argv and return once it has printed "ready"."""
    child = ctx.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdout is not None
    if child.stdout.readline().strip() != b"ready":
        reap(child)
        raise RuntimeError(f"the trigger process {child.pid} did not start")
    return child


def go(*children: subprocess.Popen[bytes]) -> None:
    """Tell every child to go, all before any is waited for, then wait for them all."""
    for child in children:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        child.stdin.flush()
    for child in children:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()


def reap(*children: subprocess.Popen[bytes]) -> None:
    """Kill and wait for each child that is still running."""
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait()
