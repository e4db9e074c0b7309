"""What the lessons share: polling a ring buffer until the run ends, and
trigger processes that wait for a go."""

from __future__ import annotations

import sys

import pytest

from vigil.lab.lesson import LabContext
from vigil.lab.triggers import go, reap, start_waiting


class FakeRing:
    def __init__(self, *batches: list[bytes]) -> None:
        self.batches = list(batches)
        self.timeouts: list[int] = []

    def poll(self, timeout_ms: int) -> list[bytes]:
        self.timeouts.append(timeout_ms)
        return self.batches.pop(0) if self.batches else []


def test_records_polls_once_even_after_the_end() -> None:
    ring = FakeRing([b"a", b"b"])
    ctx = LabContext(duration=0.0)
    assert list(ctx.records(ring)) == [b"a", b"b"]  # type: ignore[arg-type]
    assert ring.timeouts == [0]


def test_records_stop_when_asked() -> None:
    ring = FakeRing([b"a"], [b"b"])
    ctx = LabContext(duration=None)
    seen: list[bytes] = []
    for raw in ctx.records(ring):  # type: ignore[arg-type]
        seen.append(raw)
        ctx.stop.set()
    assert seen == [b"a"]
    assert ring.timeouts == [200]


def test_seen_ends_the_run_only_for_until_seen() -> None:
    watching = LabContext(duration=None)
    watching.seen()  # a person watching: the run lasts its duration
    assert watching.running()
    testing = LabContext(duration=3600.0, until_seen=True)
    assert testing.running()
    testing.seen()
    assert not testing.running()
    ring = FakeRing([b"a"], [b"b"])
    assert list(testing.records(ring)) == [b"a"]  # type: ignore[arg-type]


WAITER = """
import sys
print("ready", flush=True)
sys.stdin.readline()
sys.exit(int(sys.argv[1]))
"""


def test_children_wait_for_the_go() -> None:
    ctx = LabContext()
    children = [start_waiting(ctx, [sys.executable, "-c", WAITER, str(n)]) for n in (3, 4)]
    assert all(c.poll() is None for c in children)
    go(*children)
    assert [c.returncode for c in children] == [3, 4]


def test_a_child_that_never_says_ready() -> None:
    with pytest.raises(RuntimeError, match="did not start"):
        start_waiting(LabContext(), [sys.executable, "-c", "pass"])


def test_reap_kills_what_still_runs() -> None:
    child = start_waiting(LabContext(), [sys.executable, "-c", WAITER, "0"])
    reap(child)
    assert child.returncode is not None and child.returncode < 0
    reap(child)  # and leaves the finished alone
