"""`vigil run` against the faults of its output, run as users run it: a disk
that fills and gets space back, logrotate moving or deleting the export file
and sending SIGHUP, every signal that stops it, a reader that goes away
(`vigil run | head -1`) and a full disk behind stdout."""

from __future__ import annotations

import json
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from .vigil_runner import EVENT_TIMEOUT, READY_TIMEOUT, Event, VigilRun

pytestmark = [pytest.mark.needs("tracepoint", "raw_tracepoint", "ringbuf"),
              pytest.mark.kernel_independent("the export's faults")]

SUMMARY = re.compile(r"vigil: stopped\. events seen: (\d+) \((.*?)\); exported: (\d+); "
                     r"lost: (\d+)(?: \((.*?)\))?(?:;|$)")


class Summary:
    """The last line vigil prints on stderr, taken apart."""

    def __init__(self, stderr: str) -> None:
        last = stderr.strip().splitlines()[-1]
        m = SUMMARY.match(last)
        assert m, f"no summary as the last line of stderr:\n{stderr}"
        self.seen = int(m[1])
        self.kinds = {k: int(v) for k, v in (p.rsplit(" ", 1) for p in m[2].split(", ")
                                              if p != "none")}
        self.exported = int(m[3])
        self.lost = int(m[4])
        self.causes = {k: int(v) for k, v in (p.rsplit(" ", 1) for p in (m[5] or "").split(", ")
                                               if p)}
        assert self.lost == sum(self.causes.values()), last

    @property
    def handed_to_writer(self) -> int:
        """No filters: every exec and exit event seen was encoded and written."""
        return self.kinds.get("process_exec", 0) + self.kinds.get("process_exit", 0)


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert "Exception ignored" not in stderr, stderr


def marker(tmp_path: Path, name: str) -> Path:
    """A private copy of /bin/true: its events are found by binary path."""
    binary = tmp_path / name
    shutil.copy("/bin/true", binary)
    return binary


def run_marker(binary: Path) -> int:
    """Exec binary and reap it: its exec and exit records are in the ring buffer
    once this returns (sched_process_exit fires before the parent is told)."""
    proc = subprocess.Popen([str(binary)])
    proc.wait()
    return proc.pid


def read_events(*paths: Path, whole: bool = False) -> list[Event]:
    """Every event in these files, each line parsed as JSON. While vigil runs
    the last line may be still on its way (whole=False skips it); once it has
    stopped every file must end in a whole line."""
    events: list[Event] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        if whole:
            assert not data or data.endswith(b"\n"), f"{path} ends in a cut line"
        else:
            data = data[:data.rfind(b"\n") + 1]
        events.extend(json.loads(line) for line in data.splitlines())
    return events


def of_binary(binary: Path, kind: str) -> Callable[[Event], bool]:
    return lambda ev: kind in ev and ev[kind]["process"]["binary"] == str(binary)


def has_exec_and_exit(events: list[Event], binary: Path) -> bool:
    return (any(map(of_binary(binary, "process_exec"), events))
            and any(map(of_binary(binary, "process_exit"), events)))


def ours(tmp_path: Path) -> list[str]:
    """Export only the markers' events: the host's own processes would make
    the files' contents, their sizes and their rotations unknowable."""
    return ["--binary-regex", f"^{re.escape(str(tmp_path))}/"]


def story(events: list[Event]) -> list[tuple[str, str]]:
    """(kind, binary's name) of each event, in order."""
    return [(kind[len("process_"):], Path(ev[kind]["process"]["binary"]).name)
            for ev in events for kind in ("process_exec", "process_exit") if kind in ev]


def ran(*names: str) -> list[tuple[str, str]]:
    return [(kind, name) for name in names for kind in ("exec", "exit")]


def wait_until(cond: Callable[[], bool], what: str, timeout: float = EVENT_TIMEOUT,
               between: Callable[[], object] | None = None) -> None:
    """Poll cond (calling `between` each round, e.g. to cause events) until it
    holds; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        if between is not None:
            between()
        time.sleep(0.05)


def alive(run: VigilRun) -> None:
    assert run.proc.poll() is None, f"vigil exited {run.proc.returncode}:\n{run.stderr_text}"


def test_disk_full_then_space_again(tmp_path: Path, tiny_fs: Path) -> None:
    filler = tiny_fs / "filler"
    filler.write_bytes(b"f" * (32 << 10))  # deleted later: space comes back
    export = tiny_fs / "events.json"
    fill = marker(tmp_path, "fill-true")
    after = marker(tmp_path, "after-space-true")
    # The host's processes would also fill the space that comes back.
    run = VigilRun(tmp_path, ours(tmp_path), export=export)
    runs = 0

    def run_fill() -> None:
        nonlocal runs
        run_marker(fill)
        runs += 1

    try:
        wait_until(lambda: "No space left on device" in run.stderr_text,
                   "a disk-full message on stderr", timeout=EVENT_TIMEOUT * 3,
                   between=run_fill)
        alive(run)
        assert "(counted as export_disk_full)" in run.stderr_text
        filler.unlink()
        run_marker(after)
        runs += 1
        run.wait_for(of_binary(after, "process_exit"), "exit of the marker after space returned")
        alive(run)
    finally:
        stderr = run.stop()
    no_traceback(stderr)
    assert run.proc.returncode == 0
    summary = Summary(stderr)
    lines = export.read_bytes().splitlines(keepends=True)
    events = read_events(export, whole=True)  # every line is whole JSON
    assert has_exec_and_exit(events, after)
    assert summary.exported == len(lines)
    assert summary.causes.get("export_disk_full", 0) > 0, stderr
    # An exec and an exit per marker run: what is not in the file was counted.
    assert 2 * runs == len(lines) + summary.causes["export_disk_full"], stderr


def test_logrotate_moves_the_file_and_sends_sighup(tmp_path: Path) -> None:
    export = tmp_path / "events.json"
    files = [export, tmp_path / "events.json.1", tmp_path / "events.json.2"]
    moved = tmp_path / "rotated-by-logrotate.json"
    before, after, churn, last = (marker(tmp_path, n) for n in
                                  ("before-true", "after-true", "churn-true", "last-true"))
    # 64 KiB files: a few dozen events rotate them.
    run = VigilRun(tmp_path, [*ours(tmp_path), "--export-file-max-size-mb", "0.0625",
                              "--export-file-max-backups", "2"])
    churned = 0

    def run_churn() -> None:
        nonlocal churned
        run_marker(churn)
        churned += 1

    try:
        run_marker(before)
        wait_until(lambda: has_exec_and_exit(read_events(*files), before),
                   "the first marker exported")
        export.rename(moved)
        run.proc.send_signal(signal.SIGHUP)
        # SIGHUP reopens at once, before any event: the path is there again.
        wait_until(export.exists, "the export file opened again after SIGHUP")
        alive(run)
        reopened = export.stat().st_ino
        run_marker(after)
        wait_until(lambda: has_exec_and_exit(read_events(*files), after),
                   "the marker after SIGHUP in the new file")
        assert not has_exec_and_exit(read_events(moved), after)
        # The next size rotation works on the new file.
        wait_until(lambda: export.stat().st_ino != reopened, "a rotation after logrotate",
                   timeout=EVENT_TIMEOUT * 3, between=run_churn)
        alive(run)
        run_marker(last)
        wait_until(lambda: has_exec_and_exit(read_events(*files), last),
                   "the marker after the rotation")
        alive(run)
        run.reset_reading()
    finally:
        stderr = run.stop()
    no_traceback(stderr)
    assert run.proc.returncode == 0
    # Before the move: in the moved file. After SIGHUP: in the new file, which
    # rotated once into .1 (oldest first). Nothing lost, nothing twice.
    assert story(read_events(moved, whole=True)) == ran("before-true")
    assert not files[2].exists()
    assert story(read_events(files[1], files[0], whole=True)) == ran(
        "after-true", *["churn-true"] * churned, "last-true")
    for path in (export, files[1], moved):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not [c for c in Summary(stderr).causes if c.startswith("export_")], stderr


def test_sighup_without_a_move_loses_nothing(tmp_path: Path) -> None:
    one, two = marker(tmp_path, "one-true"), marker(tmp_path, "two-true")
    run = VigilRun(tmp_path, ours(tmp_path))
    try:
        run_marker(one)
        run.wait_for(of_binary(one, "process_exit"), "exit of the first marker")
        run.proc.send_signal(signal.SIGHUP)
        run_marker(two)
        run.wait_for(of_binary(two, "process_exit"), "exit of the marker after SIGHUP")
        alive(run)
    finally:
        stderr = run.stop()
    no_traceback(stderr)
    assert run.proc.returncode == 0
    assert story(read_events(run.export, whole=True)) == ran("one-true", "two-true")


def test_deleted_export_file_is_created_again(tmp_path: Path) -> None:
    one, two = marker(tmp_path, "one-true"), marker(tmp_path, "two-true")
    run = VigilRun(tmp_path, ours(tmp_path))
    try:
        run_marker(one)
        run.wait_for(of_binary(one, "process_exit"), "exit of the first marker")
        run.export.unlink()
        run_marker(two)
        # No signal: the next batch sees the path names no file and opens it again.
        wait_until(lambda: has_exec_and_exit(read_events(run.export), two),
                   "the second marker in a new export file")
        alive(run)
        run.reset_reading()
    finally:
        stderr = run.stop()
    no_traceback(stderr)
    assert run.proc.returncode == 0
    assert story(read_events(run.export, whole=True)) == ran("two-true")
    assert stat.S_IMODE(run.export.stat().st_mode) == 0o600


STOPPING = [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
            signal.SIGPIPE, signal.SIGALRM, signal.SIGXCPU, signal.SIGPWR, signal.SIGRTMIN]


@pytest.mark.parametrize("sig", STOPPING, ids=[s.name for s in STOPPING])
def test_stopping_signal_drains_and_summarises(tmp_path: Path, sig: signal.Signals) -> None:
    first, second = marker(tmp_path, "first-true"), marker(tmp_path, "second-true")
    run = VigilRun(tmp_path, ours(tmp_path))
    try:
        run_marker(first)
        run.wait_for(of_binary(first, "process_exit"), "exit of the first marker")
        pid = run_marker(second)
    finally:
        stderr = run.stop(sig)  # right after the second marker was reaped
    no_traceback(stderr)
    # SIGTERM and Ctrl-C are how users stop it; any other signal is unusual,
    # and the exit status says which (128+n, as for a process it ended).
    want = 0 if sig in (signal.SIGTERM, signal.SIGINT) else 128 + sig
    assert run.proc.returncode == want, stderr
    if want:
        assert f"vigil: stopped by {sig.name}, exit status {want}\n" in stderr
    assert not Summary(stderr).causes, stderr
    # What the kernel had written when the signal came was delivered.
    events = read_events(run.export, whole=True)
    assert story(events) == ran("first-true", "second-true")
    assert [ev[kind]["process"]["pid"] for ev in events[2:]
            for kind in ("process_exec", "process_exit") if kind in ev] == [pid, pid]


def start_vigil(tmp_path: Path, stdout: int | IO[bytes], *args: str) -> tuple[
        subprocess.Popen[bytes], Path]:
    err = tmp_path / "vigil.stderr"
    with open(err, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "vigil", "run", *args],
                                stdout=stdout, stderr=stderr)
    wait_until(lambda: "vigil: watching" in err.read_text() or proc.poll() is not None,
               "vigil ready", timeout=READY_TIMEOUT)
    assert proc.poll() is None, err.read_text()
    return proc, err


def test_pipe_into_head_ends_quietly(tmp_path: Path) -> None:
    """`vigil run | head -1`: a real pipe, head exits after one line."""
    churn = marker(tmp_path, "churn-true")
    vigil, err = start_vigil(tmp_path, subprocess.PIPE)
    assert vigil.stdout is not None
    head = subprocess.Popen(["head", "-1"], stdin=vigil.stdout, stdout=subprocess.PIPE)
    vigil.stdout.close()  # only head holds the read end now
    try:
        wait_until(lambda: vigil.poll() is not None, "vigil ending after head exited",
                   timeout=EVENT_TIMEOUT * 3, between=lambda: run_marker(churn))
        out, _ = head.communicate(timeout=EVENT_TIMEOUT)
    finally:
        for p in (vigil, head):
            if p.poll() is None:
                p.kill()
                p.wait()
    stderr = err.read_text()
    no_traceback(stderr)
    assert vigil.returncode == 0, stderr
    assert head.returncode == 0
    assert len(out.splitlines()) == 1
    json.loads(out)
    summary = Summary(stderr)
    # Lines written after head left are counted, not silently gone.
    assert set(summary.causes) <= {"export_output_closed"}, stderr


def test_full_disk_behind_stdout(tmp_path: Path) -> None:
    """`vigil run > /dev/full`: alive, counting every line it could not write."""
    churn = marker(tmp_path, "churn-true")
    with open("/dev/full", "wb") as full:
        vigil, err = start_vigil(tmp_path, full)
    try:
        wait_until(lambda: "No space left on device" in err.read_text(),
                   "a disk-full message on stderr", between=lambda: run_marker(churn))
        assert vigil.poll() is None, err.read_text()
        vigil.send_signal(signal.SIGTERM)
        vigil.wait(timeout=EVENT_TIMEOUT)
    finally:
        if vigil.poll() is None:
            vigil.kill()
            vigil.wait()
    stderr = err.read_text()
    no_traceback(stderr)
    assert vigil.returncode == 0, stderr
    assert "vigil: standard output: write: No space left on device: " in stderr
    summary = Summary(stderr)
    assert summary.exported == 0
    assert summary.causes["export_disk_full"] == summary.handed_to_writer > 0, stderr
