"""String filters with more values than a filter holds (Tetragon's example
policies list ten or more paths in one Prefix): their values go to the
hook's LPM trie, and they match as the four-value filters do: Equal whole
strings only, Prefix and Postfix by their ends (an argument longer than a
trie key compared by the end that counts), the Not forms inverted. Both
sides of the boundary (4 values in the filter, 5 in the trie) run the same
cases."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.kernel.test_syscall_kprobes import PY, rung, start
from vigil.events.model import KprobeEvent
from vigil.runtime import Runtime
from vigil.wire.records import SEL_TRIE_STR_MAX

from .runtime_sink import Collect
from .vigil_runner import EVENT_TIMEOUT

pytestmark = pytest.mark.needs("tracepoint", "ringbuf")

__all__ = ["rung"]

# Paths no test opens, to pad a filter past the boundary.
FILLER = ["/nonexistent/a", "/nonexistent/b", "/nonexistent/c", "/nonexistent/d"]


def opened(rt: Runtime, sink: Collect, tmp_path: Path, rung: str, operator: str,
           values: list[str], paths: list[str]) -> list[str]:
    """The paths of `paths` whose openat the filter reported, in order; the
    last path opened is always reported (an Equal on it, in a second
    selector), so the wait has an end."""
    end = str(tmp_path / "end")
    quoted = ", ".join(f'"{v}"' for v in values)
    start(rt, f"""
        kprobes:
        - call: sys_openat
          args: [{{index: 1, type: string}}]
          selectors:
          - matchArgs: [{{index: 1, operator: {operator}, values: [{quoted}]}}]
          - matchArgs: [{{index: 1, operator: Equal, values: ["{end}"]}}]
    """, rung)
    child = subprocess.run([PY, "-c", f"""
import os
for p in {[*paths, end]!r}:
    try:
        os.close(os.open(p, os.O_RDONLY))
    except OSError:
        pass
"""], capture_output=True, timeout=EVENT_TIMEOUT)
    assert child.returncode == 0, child.stderr
    got: list[str] = []
    deadline_evs = kprobe_events_until(rt, sink, end)
    for e in deadline_evs:
        value = e.args[0].value
        assert isinstance(value, str)
        if value in paths:
            got.append(value)
    return got


def kprobe_events_until(rt: Runtime, sink: Collect, end: str) -> list[KprobeEvent]:
    import time
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        found = [e for e in sink.events if isinstance(e, KprobeEvent)]
        if any(e.args and e.args[0].value == end for e in found) or time.monotonic() > deadline:
            return found
        rt.step(50)


@pytest.mark.parametrize("filler", (3, 4), ids=("4-values", "5-values"))
def test_equal(runtime: tuple[Runtime, Collect], tmp_path: Path, rung: str,
               filler: int) -> None:
    rt, sink = runtime
    a = str(tmp_path / "a")
    paths = [a, a + "b", a[:-1], str(tmp_path / "x" / "a")]
    assert opened(rt, sink, tmp_path, rung, "Equal", [*FILLER[:filler], a], paths) == [a]


@pytest.mark.parametrize("filler", (3, 4), ids=("4-values", "5-values"))
def test_prefix_and_not_prefix(runtime: tuple[Runtime, Collect], tmp_path: Path, rung: str,
                               filler: int) -> None:
    rt, sink = runtime
    d = str(tmp_path / "dir")
    paths = [d + "/f", d + "x/f", d, str(tmp_path / "other")]
    assert opened(rt, sink, tmp_path, rung, "Prefix", [*FILLER[:filler], d + "/"],
                  paths) == [d + "/f"]


@pytest.mark.parametrize("filler", (3, 4), ids=("4-values", "5-values"))
def test_not_prefix(runtime: tuple[Runtime, Collect], tmp_path: Path, rung: str,
                    filler: int) -> None:
    rt, sink = runtime
    d = str(tmp_path / "dir")
    paths = [d + "/f", str(tmp_path / "other")]
    assert opened(rt, sink, tmp_path, rung, "NotPrefix", [*FILLER[:filler], d + "/"],
                  paths) == [str(tmp_path / "other")]


@pytest.mark.parametrize("filler", (3, 4), ids=("4-values", "5-values"))
def test_postfix_on_a_long_argument(runtime: tuple[Runtime, Collect], tmp_path: Path,
                                    rung: str, filler: int) -> None:
    """An argument longer than a trie key: its end is what Postfix compares."""
    rt, sink = runtime
    long_dir = tmp_path / ("d" * 200) / ("e" * 200)
    paths = [str(long_dir / ".bashrc"), str(long_dir / ".bashrcx"), str(tmp_path / "bashrc")]
    assert len(paths[0]) > SEL_TRIE_STR_MAX
    assert opened(rt, sink, tmp_path, rung, "Postfix", [*FILLER[:filler], "/.bashrc"],
                  paths) == [paths[0]]
