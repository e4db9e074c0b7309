"""Where encoded events go: stdout, or a JSON-lines file rotated by size.

Writers take whole encoded lines and hold them; the agent flushes once per
ring-buffer batch, not per event, and a flush is one os.write of the whole
batch (more only after a short write).

What the disk or the reader refuses is counted, never left half written:

- **Disk full and other write errors.** A failed or short write to a regular
  file is cut back to the end of the last whole line (ftruncate), so the file
  only ever holds whole lines. The lines that could not be written are counted
  by cause (`export_disk_full` for ENOSPC and EDQUOT, `export_write_error`
  otherwise; see loss_counts()), stderr says so at most once per
  REPORT_INTERVAL_S, with how many were dropped since the last message, and
  the next batch simply tries again, so writing resumes by itself when space
  returns.
- **A closed reader** (`vigil run | head`): StreamWriter.flush() raises
  OutputClosed once, after pointing the descriptor at /dev/null so nothing
  (not even the interpreter's final flush of stdout) fails again; later lines
  are counted as `export_output_closed`.
- **A moved or deleted export file** (logrotate): see RotatingFileWriter.

Exceptions::

    OutputClosed        the reader of the stream went away; stop the agent
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import stat
import sys
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from itertools import accumulate
from typing import BinaryIO, Protocol

__all__ = [
    "DEFAULT_FILE_MODE",
    "DISK_FULL",
    "OUTPUT_CLOSED",
    "REPORT_INTERVAL_S",
    "WRITE_ERROR",
    "OutputClosed",
    "RotatingFileWriter",
    "StreamWriter",
    "Writer",
    "loss_cause",
    "parse_mode",
]

DISK_FULL = "export_disk_full"
WRITE_ERROR = "export_write_error"
OUTPUT_CLOSED = "export_output_closed"
# At most one message about dropped lines per this many seconds, per writer.
REPORT_INTERVAL_S = 10.0
# Events carry command lines: owner only, as Tetragon's --export-file-perm "600".
DEFAULT_FILE_MODE = 0o600
# Lines held before a write even inside one batch: bounds memory on huge batches.
_FLUSH_AT_BYTES = 1 << 20


class OutputClosed(Exception):
    """The stream's reader went away (EPIPE): stop, drain, summarise, exit 0."""


class Writer(Protocol):
    def write(self, line: bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    def reopen(self) -> None: ...
    def loss_counts(self) -> dict[str, int]: ...


def loss_cause(err: OSError) -> str:
    """The loss cause a write error is counted under."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return DISK_FULL
    if err.errno == errno.EPIPE:
        return OUTPUT_CLOSED
    return WRITE_ERROR


def parse_mode(text: str) -> int:
    """An export file mode as Tetragon's --export-file-perm spells it ("600")."""
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777 or mode & 0o600 != 0o600 or mode & 0o113:
        raise ValueError(
            f"--export-file-perm {text!r}: give octal permission bits that let the owner "
            "read and write and nobody execute or others write, e.g. 600 (owner only, "
            "the default), 640 (and the group reads) or 644"
        )
    return mode


def _say_on_stderr(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr gone too: the summary counts
        print(text, file=sys.stderr, flush=True)


class _Complaints:
    """Messages about dropped lines, at most one per `interval` seconds; each
    says how many were dropped since the previous one."""

    def __init__(self, what: str, interval: float, clock: Callable[[], float],
                 say: Callable[[str], None]) -> None:
        self.what = what
        self._interval = interval
        self._clock = clock
        self._say = say
        self._last: float | None = None
        self._unsaid = 0
        self._failing = False

    def _may_say(self) -> bool:
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return False
        self._last = now
        return True

    def dropped(self, n: int, doing: str, err: OSError, cause: str) -> None:
        self._unsaid += n
        self._failing = True
        if self._may_say():
            self._say(
                f"vigil: {self.what}: {doing}: {err.strerror or err}: {self._unsaid} "
                f"event{'s' if self._unsaid != 1 else ''} dropped since the last message "
                f"(counted as {cause}); trying again with each batch"
            )
            self._unsaid = 0

    def wrote(self) -> None:
        if self._failing and self._may_say():
            more = f" ({self._unsaid} more dropped since the last message)" if self._unsaid else ""
            self._say(f"vigil: {self.what}: writing again{more}")
            self._unsaid = 0
            self._failing = False

    def note(self, text: str) -> None:
        if self._may_say():
            self._say(f"vigil: {self.what}: {text}")


# Buffers one writev(2) takes (the kernel's UIO_MAXIOV).
_IOV_MAX = 1024


def _write_all(fd: int, lines: list[bytes]) -> tuple[int, OSError | None]:
    """Write the lines to fd, one after the other, with writev(2): no joined
    copy of the batch (for a busy hook that copy, its allocation and page
    faults cost more than the write itself). Returns how many bytes went out
    and the error that stopped it (None when all did)."""
    done = 0
    i = 0  # the first line not yet written in full
    head = 0  # bytes of lines[i] already written
    while i < len(lines):
        chunk: list[bytes | memoryview] = list(lines[i : i + _IOV_MAX])
        if head:
            chunk[0] = memoryview(lines[i])[head:]
        try:
            n = os.writev(fd, chunk)
        except BlockingIOError:  # someone made the descriptor non-blocking
            select.select([], [fd], [])
            continue
        except OSError as err:
            return done, err
        done += n
        if n == sum(map(len, chunk)):  # the usual case: all of it
            i += len(chunk)
            head = 0
            continue
        n += head  # a short write: find where it stopped
        while n >= len(lines[i]):
            n -= len(lines[i])
            i += 1
        head = n
    return done, None


class _LineWriter:
    """Holds lines, writes them in whole batches to a descriptor, counts and
    reports what could not be written, and keeps the file free of cut lines."""

    def __init__(self, what: str, *, clock: Callable[[], float],
                 say: Callable[[str], None] | None, report_interval: float) -> None:
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._losses: Counter[str] = Counter()
        self._complaints = _Complaints(what, report_interval, clock, say or _say_on_stderr)
        # (st_dev, st_ino, offset): a file that still ends in a cut line (its
        # ftruncate failed), cut there before anything more is written to it.
        self._repair: tuple[int, int, int] | None = None

    def write(self, line: bytes) -> None:
        self._pending.append(line)
        self._pending_bytes += len(line)
        if self._pending_bytes >= _FLUSH_AT_BYTES:
            self._write_out()

    def flush(self) -> None:
        self._write_out()

    def loss_counts(self) -> dict[str, int]:
        """Lines handed to write() that were not written, by cause."""
        return {cause: n for cause, n in self._losses.items() if n}

    def _write_out(self) -> None:
        raise NotImplementedError

    def _take(self) -> list[bytes]:
        lines, self._pending, self._pending_bytes = self._pending, [], 0
        return lines

    def _drop(self, n: int, doing: str, err: OSError) -> None:
        cause = loss_cause(err)
        self._losses[cause] += n
        if cause != OUTPUT_CLOSED:  # a reader that left is the normal end of a pipe
            self._complaints.dropped(n, doing, err, cause)

    def _put(self, fd: int, lines: list[bytes]) -> tuple[int, OSError | None]:
        """Write lines to fd as one batch; return how many of them were not
        written (0 when all were) and the error, without counting them."""
        if self._repair is not None:
            try:
                st = os.fstat(fd)
                if self._repair[:2] == (st.st_dev, st.st_ino):
                    os.ftruncate(fd, self._repair[2])
                    os.lseek(fd, self._repair[2], os.SEEK_SET)
            except OSError as repair_err:
                return len(lines), repair_err
            self._repair = None
        done, err = _write_all(fd, lines)
        if err is None:
            return 0, None
        ends = list(accumulate(map(len, lines)))
        whole = bisect_right(ends, done)  # lines written in full
        partial = done - (ends[whole - 1] if whole else 0)
        if partial:
            self._cut(fd, partial)
        return len(lines) - whole, err

    def _cut(self, fd: int, partial: int) -> None:
        """Remove the last `partial` bytes written: the start of a line that did
        not fit. Only a regular file can be cut; on a pipe the reader got them."""
        try:
            end = os.lseek(fd, 0, os.SEEK_CUR)  # with O_APPEND too: after our write
            st = os.fstat(fd)
        except OSError:
            return
        if not stat.S_ISREG(st.st_mode) or end != st.st_size:
            return
        try:
            os.ftruncate(fd, end - partial)
            os.lseek(fd, end - partial, os.SEEK_SET)
        except OSError:  # tried again before the next write to this file
            self._repair = (st.st_dev, st.st_ino, end - partial)


class StreamWriter(_LineWriter):
    """Writes to an already open binary stream (stdout by default).

    EPIPE makes flush() raise OutputClosed once; the descriptor then points
    at /dev/null (as the Python docs advise for SIGPIPE) and later lines are
    counted as `export_output_closed`. A full disk behind the stream
    (`vigil run > /full/x`) is counted and reported as for the file."""

    def __init__(
        self,
        stream: BinaryIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        say: Callable[[str], None] | None = None,
        report_interval: float = REPORT_INTERVAL_S,
    ) -> None:
        super().__init__("standard output" if stream is None else f"output {stream.name}",
                         clock=clock, say=say, report_interval=report_interval)
        self.stream = stream if stream is not None else sys.stdout.buffer
        self.stream.flush()  # what Python buffered goes first; from here on: os.write
        self._fd = self.stream.fileno()
        self._gone = False
        self._tell = False

    def _write_out(self) -> None:
        if not self._pending:
            return
        lines = self._take()
        if self._gone:
            self._losses[OUTPUT_CLOSED] += len(lines)
            return
        lost, err = self._put(self._fd, lines)
        if err is None:
            self._complaints.wrote()
            return
        self._drop(lost, "write", err)
        if err.errno == errno.EPIPE:
            self._gone = self._tell = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._fd)
            os.close(devnull)

    def flush(self) -> None:
        self._write_out()
        if self._tell:
            self._tell = False
            raise OutputClosed("the reader of the output went away")

    def reopen(self) -> None:
        """Nothing to reopen: the stream was opened by whoever started vigil."""

    def close(self) -> None:
        """Write what is held; never raises OutputClosed (counts instead)."""
        self._write_out()
        self._tell = False


class RotatingFileWriter(_LineWriter):
    """Appends lines to `path`; when a write would take it past `max_bytes`
    it becomes path.1, path.1 becomes path.2, ... and the oldest beyond
    `backups` is deleted. A line is never split across two files.

    The file is opened O_APPEND (so logrotate's copytruncate works too) and
    given `mode` with fchmod whether vigil created it or not, so neither the
    umask nor an older file's mode decides who reads the events (this also
    replaces the mode of a file logrotate's `create` made). Rotated files
    keep it: they are the same inodes, renamed.

    Moved or deleted files: before each batch is written (once per flush, two
    cheap syscalls: fstat of the open file, stat of the path) the writer checks
    that `path` still names the file it holds; when it was moved away or
    deleted it opens `path` again, so events never go on into a file nobody
    can find. If that open fails the batch is dropped and counted, and the
    next batch tries again. reopen() opens `path` again on demand (SIGHUP, as
    logrotate's postrotate sends), moved or not; if that open fails the file
    held stays in use and the check above decides at the next batch. A
    rotation after the file was moved just starts a new file."""

    def __init__(
        self,
        path: str,
        max_bytes: int = 10 << 20,
        backups: int = 5,
        mode: int = DEFAULT_FILE_MODE,
        *,
        clock: Callable[[], float] = time.monotonic,
        say: Callable[[str], None] | None = None,
        report_interval: float = REPORT_INTERVAL_S,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"export file size limit must be positive, got {max_bytes}")
        if backups < 0:
            raise ValueError(f"number of export file backups must be >= 0, got {backups}")
        if not 0 <= mode <= 0o777:
            raise ValueError(f"export file mode must be permission bits 0o000-0o777, "
                             f"got {mode:#o}")
        super().__init__(f"export file {path}", clock=clock, say=say,
                         report_interval=report_interval)
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.mode = mode
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise FileNotFoundError(
                f"export file {path}: directory {parent} does not exist; create it first"
            )
        self._fd: int | None = self._open()

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                     self.mode)
        try:
            st = os.fstat(fd)
            # Only a regular file: never chmod /dev/null or a terminal.
            if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) != self.mode:
                os.fchmod(fd, self.mode)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _swap(self, fd: int) -> None:
        old, self._fd = self._fd, fd
        if old is not None:
            os.close(old)

    def reopen(self) -> None:
        """Close the export file and open `path` again (SIGHUP). If the open
        fails the old file stays in use and stderr says why."""
        if self._fd is None:
            return
        try:
            self._swap(self._open())
        except OSError as err:
            self._complaints.note(f"cannot reopen: {err.strerror or err}; "
                                  "still writing to the file opened before")

    def _current(self) -> os.stat_result:
        """fstat of the file `path` names now, reopening it if it was moved or
        deleted since it was opened."""
        assert self._fd is not None
        st = os.fstat(self._fd)
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            now = None
        if now is None or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            self._swap(self._open())
            st = os.fstat(self._fd)
        return st

    def _rotate(self) -> None:
        # A file already moved away (logrotate) or a missing backup: nothing to keep.
        with contextlib.suppress(FileNotFoundError):
            if self.backups == 0:
                os.unlink(self.path)
            else:
                for i in range(self.backups - 1, 0, -1):
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(f"{self.path}.{i}", f"{self.path}.{i + 1}")
                os.replace(self.path, f"{self.path}.1")
        self._swap(self._open())

    def _write_out(self) -> None:
        if not self._pending or self._fd is None:
            return
        total = self._pending_bytes
        lines = self._take()
        left = len(lines)  # lines not yet written nor counted
        doing = "reopen after it was moved or deleted"
        try:
            st = self._current()
            chunks = (self._chunks(lines, st.st_size, total) if stat.S_ISREG(st.st_mode)
                      else [lines])
            for i, chunk in enumerate(chunks):
                if i:
                    doing = "rotate"
                    self._rotate()
                if not chunk:
                    continue
                doing = "write"
                assert self._fd is not None
                lost, err = self._put(self._fd, chunk)
                if err is not None:
                    self._drop(left - (len(chunk) - lost), doing, err)
                    return
                left -= len(chunk)
        except OSError as err:
            self._drop(left, doing, err)
            return
        self._complaints.wrote()

    def _chunks(self, lines: list[bytes], size: int, total: int) -> list[list[bytes]]:
        """Lines grouped by the file they go to: the first group into the
        current file (now `size` bytes; the group is empty when even the first
        line does not fit), each next one into a fresh file after a rotation."""
        if size + total <= self.max_bytes:
            return [lines]
        chunks: list[list[bytes]] = [[]]
        for line in lines:
            if size and size + len(line) > self.max_bytes:
                chunks.append([])
                size = 0
            chunks[-1].append(line)
            size += len(line)
        return chunks

    def close(self) -> None:
        if self._fd is None:
            return
        self._write_out()
        fd, self._fd = self._fd, None
        os.close(fd)
