"""Runs `vigil run` as a user would, as a child process, and reads its events.

Events go to a JSON-lines export file; tests wait for the event they caused
(matched by pid or binary) instead of sleeping for a fixed time.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Event = dict[str, Any]

# TCG guests in the VM matrix are slow: generous start-up bound.
READY_TIMEOUT = float(os.environ.get("VIGIL_TEST_READY_TIMEOUT", "60"))
EVENT_TIMEOUT = float(os.environ.get("VIGIL_TEST_EVENT_TIMEOUT", "20"))
# How long vigil may take to drain and exit after a signal.
STOP_TIMEOUT = float(os.environ.get("VIGIL_TEST_STOP_TIMEOUT", "30"))


class VigilRun:
    def __init__(self, workdir: Path, args: Sequence[str] = (),
                 export: Path | None = None) -> None:
        """export: where the export file goes (default workdir/events.json)."""
        self.export = export if export is not None else workdir / "events.json"
        self.stderr_path = workdir / "vigil.stderr"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vigil", "run", "--export-file", str(self.export),
             # One file: rotation is tested on its own, reading here follows one file.
             "--export-file-max-size-mb", "4096", *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self._events: list[Event] = []
        self._offset = 0
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            text = self.stderr_path.read_text(errors="replace")
            if "vigil: watching" in text:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"vigil exited {self.proc.returncode} at start:\n{text}")
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"vigil not ready after {READY_TIMEOUT}s:\n{self.stderr_text}")

    @property
    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def events(self) -> list[Event]:
        """Every event exported so far (complete lines only)."""
        if self.export.exists():
            with open(self.export, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1
            for line in chunk[:end].splitlines():
                self._events.append(json.loads(line))
            self._offset += end
        return self._events

    def reset_reading(self) -> None:
        """The export file was replaced (moved away, deleted, rotated): events()
        reads the one now at the path from its start."""
        self._offset = 0

    def wait_for(self, match: Callable[[Event], bool], what: str,
                 timeout: float = EVENT_TIMEOUT) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events():
                if match(ev):
                    return ev
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout}s; "
                                     f"{len(self._events)} events seen")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> str:
        """Stop vigil the way a user does and return its stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"vigil ignored signal {sig} for {timeout}s") from None
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()
        self.events()
        return self.stderr_text


def exec_of(pid: int) -> Callable[[Event], bool]:
    return lambda ev: "process_exec" in ev and ev["process_exec"]["process"]["pid"] == pid


def exit_of(pid: int) -> Callable[[Event], bool]:
    return lambda ev: "process_exit" in ev and ev["process_exit"]["process"]["pid"] == pid


def read_line(stream: Any, timeout: float = EVENT_TIMEOUT) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise AssertionError(f"child printed nothing within {timeout}s")
    return str(stream.readline().decode().strip())
