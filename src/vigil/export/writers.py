"""Where encoded events go: stdout, or a JSON-lines file rotated by size.

Writers take whole encoded lines and buffer them; the agent flushes once per
ring-buffer batch, not per event.
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO, Protocol

__all__ = ["RotatingFileWriter", "StreamWriter", "Writer"]


class Writer(Protocol):
    def write(self, line: bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class StreamWriter:
    """Writes to an already open binary stream (stdout by default)."""

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout.buffer

    def write(self, line: bytes) -> None:
        self.stream.write(line)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            # The reader went away (e.g. `vigil run | head`): stop quietly.
            raise SystemExit(0) from None

    def close(self) -> None:
        self.flush()


class RotatingFileWriter:
    """Appends lines to `path`; when a write would take it past `max_bytes`
    it becomes path.1, path.1 becomes path.2, ... and the oldest beyond
    `backups` is deleted. A line is never split across two files."""

    def __init__(self, path: str, max_bytes: int = 10 << 20, backups: int = 5) -> None:
        if max_bytes <= 0:
            raise ValueError(f"export file size limit must be positive, got {max_bytes}")
        if backups < 0:
            raise ValueError(f"number of export file backups must be >= 0, got {backups}")
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise FileNotFoundError(
                f"export file {path}: directory {parent} does not exist; create it first"
            )
        self._file = open(path, "ab")  # noqa: SIM115 - lives as long as the writer
        self._size = self._file.tell()

    def write(self, line: bytes) -> None:
        if self._size and self._size + len(line) > self.max_bytes:
            self._rotate()
        self._file.write(line)
        self._size += len(line)

    def _rotate(self) -> None:
        self._file.close()
        if self.backups == 0:
            os.unlink(self.path)
        else:
            for i in range(self.backups - 1, 0, -1):
                src = f"{self.path}.{i}"
                if os.path.exists(src):
                    os.replace(src, f"{self.path}.{i + 1}")
            os.replace(self.path, f"{self.path}.1")
        self._file = open(self.path, "ab")  # noqa: SIM115
        self._size = 0

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
