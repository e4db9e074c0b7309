"""The export writers: the rotating file and the stream, and every fault
they must survive (disk full, logrotate, a closed reader)."""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.export.writers import (
    DEFAULT_FILE_MODE,
    DISK_FULL,
    OUTPUT_CLOSED,
    REPORT_INTERVAL_S,
    WRITE_ERROR,
    OutputClosed,
    RotatingFileWriter,
    StreamWriter,
    loss_cause,
    parse_mode,
)


def test_rotates_by_size_and_keeps_n_backups(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    w = RotatingFileWriter(str(path), max_bytes=100, backups=2)
    lines = [f"{i:09d}\n".encode() for i in range(50)]  # 10 bytes each
    for line in lines:
        w.write(line)
    w.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["events.json", "events.json.1", "events.json.2"]
    # Newest lines in the live file, older in .1, then .2; each holds 10 lines.
    assert path.read_bytes() == b"".join(lines[40:])
    assert (tmp_path / "events.json.1").read_bytes() == b"".join(lines[30:40])
    assert (tmp_path / "events.json.2").read_bytes() == b"".join(lines[20:30])


def test_never_splits_a_line(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    w = RotatingFileWriter(str(path), max_bytes=25, backups=5)
    for _ in range(3):
        w.write(b"x" * 11 + b"\n")
    w.close()
    assert path.read_bytes() == b"x" * 11 + b"\n"
    assert (tmp_path / "e.json.1").read_bytes() == (b"x" * 11 + b"\n") * 2


def test_zero_backups_truncates(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    w = RotatingFileWriter(str(path), max_bytes=10, backups=0)
    w.write(b"123456789\n")
    w.write(b"abcdefghi\n")
    w.close()
    assert path.read_bytes() == b"abcdefghi\n"
    assert list(tmp_path.iterdir()) == [path]


def test_appends_to_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_bytes(b"old\n")
    w = RotatingFileWriter(str(path), max_bytes=1000)
    w.write(b"new\n")
    w.close()
    assert path.read_bytes() == b"old\nnew\n"


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        RotatingFileWriter(str(tmp_path / "nope" / "e.json"))


# --- faults: disk full, logrotate, file mode, closed reader (issue 7) -------------

LINE = 1000  # bytes per test line; not a divisor of the 4 KiB page, so writes end mid-line


def line(i: int) -> bytes:
    """Line i: unique, so the file shows exactly which lines were written."""
    return f"{i:06d}".encode() + b"x" * (LINE - 7) + b"\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def file_lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data.endswith(b"\n") or not data, f"{path} ends in a cut line: {data[-40:]!r}"
    return data.splitlines(keepends=True)


def test_disk_full_keeps_lines_whole_counts_reports_and_resumes(tiny_fs: Path) -> None:
    filler = tiny_fs / "filler"
    filler.write_bytes(b"f" * 16384)  # freed later: space comes back
    path = tiny_fs / "e.json"
    clock, said = FakeClock(), list[str]()
    w = RotatingFileWriter(str(path), max_bytes=1 << 30, clock=clock, say=said.append)
    sent = 0

    def batch(n: int) -> None:
        nonlocal sent
        for _ in range(n):
            w.write(line(sent))
            sent += 1
        w.flush()

    while not w.loss_counts():
        batch(10)
    # The batch that met the full disk was written up to its last whole line:
    # 48 KiB was free, so 49 lines of 1000 bytes; the 50th was cut off again.
    assert sent == 50
    assert file_lines(path) == [line(i) for i in range(49)]
    assert w.loss_counts() == {DISK_FULL: 1}
    assert said == [f"vigil: export file {path}: write: No space left on device: "
                    "1 event dropped since the last message (counted as "
                    "export_disk_full); trying again with each batch"]
    # Still full: counted, but no second message within REPORT_INTERVAL_S.
    batch(10)
    clock.now += REPORT_INTERVAL_S - 0.5
    batch(10)
    assert len(said) == 1
    clock.now += 0.5
    batch(3)
    assert said[1].endswith("No space left on device: 23 events dropped since the last "
                            "message (counted as export_disk_full); trying again with each batch")
    assert w.loss_counts() == {DISK_FULL: sent - 49}
    dropped = sent - 49

    filler.unlink()  # space returns: the next batch is written
    clock.now += REPORT_INTERVAL_S
    first_after = sent
    batch(10)
    assert w.loss_counts() == {DISK_FULL: dropped}
    assert said[2] == f"vigil: export file {path}: writing again"
    w.close()
    assert file_lines(path) == [line(i) for i in range(49)] + [
        line(i) for i in range(first_after, first_after + 10)]


def test_a_cut_line_that_cannot_be_truncated_at_once_is_cut_before_the_next_write(
        tiny_fs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tiny_fs / "e.json"
    w = RotatingFileWriter(str(path), max_bytes=1 << 30, say=lambda _: None)
    real_ftruncate, calls = os.ftruncate, []

    def failing_once(fd: int, length: int) -> None:
        calls.append(length)
        if len(calls) == 1:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_ftruncate(fd, length)

    monkeypatch.setattr(os, "ftruncate", failing_once)
    for i in range(70):
        w.write(line(i))
    w.flush()  # 65 whole lines fit in 64 KiB; the 66th is cut, and ftruncate fails
    assert calls == [65 * LINE]
    assert path.stat().st_size == 65536  # the cut line is still there
    w.write(line(70))
    w.flush()  # the cut goes first; then line 70 meets the full disk and is cut too
    assert calls == [65 * LINE, 65 * LINE, 65 * LINE]
    w.close()
    assert file_lines(path) == [line(i) for i in range(65)]
    assert w.loss_counts() == {DISK_FULL: 6}


def test_write_errors_are_named_by_cause() -> None:
    assert loss_cause(OSError(errno.ENOSPC, "x")) == DISK_FULL
    assert loss_cause(OSError(errno.EDQUOT, "x")) == DISK_FULL
    assert loss_cause(OSError(errno.EIO, "x")) == WRITE_ERROR
    assert loss_cause(OSError(errno.EFBIG, "x")) == WRITE_ERROR
    assert loss_cause(OSError(errno.EPIPE, "x")) == OUTPUT_CLOSED


def test_file_moved_away_as_logrotate_does_then_rotation(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    w = RotatingFileWriter(str(path), max_bytes=3 * LINE, backups=2, say=pytest.fail)
    w.write(line(0))
    w.flush()
    path.rename(tmp_path / "e.json.1")  # logrotate without copytruncate
    for i in range(1, 6):
        w.write(line(i))
        w.flush()
    w.close()
    # Line 0 stayed in the moved file; 1.. went to a new e.json, which rotated
    # at 3 lines over the moved file's name without an error.
    assert file_lines(tmp_path / "e.json.2") == [line(0)]
    assert file_lines(tmp_path / "e.json.1") == [line(1), line(2), line(3)]
    assert file_lines(path) == [line(4), line(5)]


def test_file_moved_away_then_rotation_in_the_same_batch(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    w = RotatingFileWriter(str(path), max_bytes=2 * LINE, backups=1, say=pytest.fail)
    w.write(line(0))
    w.flush()
    path.rename(tmp_path / "elsewhere")
    for i in range(1, 5):
        w.write(line(i))
    w.flush()
    w.close()
    assert file_lines(tmp_path / "elsewhere") == [line(0)]
    assert file_lines(tmp_path / "e.json.1") == [line(1), line(2)]
    assert file_lines(path) == [line(3), line(4)]


def test_deleted_file_is_created_again(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    w = RotatingFileWriter(str(path), say=pytest.fail)
    w.write(line(0))
    w.flush()
    path.unlink()
    w.write(line(1))
    w.flush()
    assert file_lines(path) == [line(1)]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    w.close()


def test_copytruncate_restarts_the_size_count(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    w = RotatingFileWriter(str(path), max_bytes=3 * LINE, backups=1, say=pytest.fail)
    for i in range(3):
        w.write(line(i))
    w.flush()
    os.truncate(path, 0)  # logrotate copytruncate: same file, now empty
    for i in range(3, 6):
        w.write(line(i))
    w.flush()
    w.close()
    assert file_lines(path) == [line(3), line(4), line(5)]  # O_APPEND: no hole, no rotation
    assert not (tmp_path / "e.json.1").exists()


def test_reopen_after_move_opens_a_new_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    w = RotatingFileWriter(str(path), say=pytest.fail)
    w.write(line(0))
    w.flush()
    path.rename(tmp_path / "e.json.1")
    w.reopen()  # SIGHUP from logrotate's postrotate
    assert path.read_bytes() == b""
    w.write(line(1))
    w.flush()
    w.reopen()  # nothing moved: same file, nothing lost
    w.write(line(2))
    w.close()
    assert file_lines(tmp_path / "e.json.1") == [line(0)]
    assert file_lines(path) == [line(1), line(2)]


def test_reopen_that_fails_keeps_the_old_file_and_says_why(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    path = d / "e.json"
    said: list[str] = []
    w = RotatingFileWriter(str(path), say=said.append)
    w.write(line(0))
    w.flush()
    os.rename(d, tmp_path / "moved")  # the directory itself is gone
    w.reopen()
    assert said == [f"vigil: export file {path}: cannot reopen: No such file or directory; "
                    "still writing to the file opened before"]
    # The path names no file now: the batch is counted, not written anywhere unseen.
    w.write(line(1))
    w.flush()
    assert w.loss_counts() == {WRITE_ERROR: 1}
    os.rename(tmp_path / "moved", d)
    w.write(line(2))
    w.close()
    assert file_lines(path) == [line(0), line(2)]


@pytest.mark.parametrize("umask", [0o000, 0o077, 0o022], ids=lambda m: f"umask{m:03o}")
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644], ids=lambda m: f"mode{m:o}")
def test_mode_is_exact_whatever_the_umask_and_kept_by_rotation(
        tmp_path: Path, umask: int, mode: int) -> None:
    path = tmp_path / "e.json"
    old = os.umask(umask)
    try:
        w = RotatingFileWriter(str(path), max_bytes=LINE, backups=2, mode=mode)
        for i in range(3):
            w.write(line(i))
            w.flush()
        path.unlink()
        w.write(line(3))
        w.close()
    finally:
        os.umask(old)
    for name in ("e.json", "e.json.1", "e.json.2"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


def test_default_mode_tightens_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_bytes(b"")
    path.chmod(0o644)
    RotatingFileWriter(str(path)).close()
    assert stat.S_IMODE(path.stat().st_mode) == DEFAULT_FILE_MODE == 0o600


def test_a_device_keeps_its_mode(tmp_path: Path) -> None:
    before = os.stat("/dev/null").st_mode
    w = RotatingFileWriter("/dev/null", max_bytes=LINE, backups=1)
    for i in range(3):
        w.write(line(i))
        w.flush()
    w.close()
    assert os.stat("/dev/null").st_mode == before
    assert not os.path.exists("/dev/null.1")


@pytest.mark.parametrize(("text", "mode"), [("600", 0o600), ("640", 0o640), ("0644", 0o644)])
def test_parse_mode_reads_octal_as_tetragon_does(text: str, mode: int) -> None:
    assert parse_mode(text) == mode


@pytest.mark.parametrize("text", ["", "abc", "666", "700", "400", "1600", "-600", "9"])
def test_parse_mode_refuses_what_would_surprise(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape("e.g. 600 (owner only, the default), 640")):
        parse_mode(text)


def test_stream_to_dev_full_counts_and_goes_on() -> None:
    clock, said = FakeClock(), list[str]()
    with open("/dev/full", "wb") as full:
        w = StreamWriter(full, clock=clock, say=said.append)
        for i in range(3):
            w.write(line(i))
        w.flush()
        w.write(line(3))
        w.flush()
        w.close()
    assert w.loss_counts() == {DISK_FULL: 4}
    assert said == ["vigil: output /dev/full: write: No space left on device: 3 events "
                    "dropped since the last message (counted as export_disk_full); "
                    "trying again with each batch"]


def test_stream_to_a_full_file_keeps_lines_whole(tiny_fs: Path) -> None:
    path = tiny_fs / "out"
    with open(path, "wb") as f:  # `vigil run > /full/out`: not O_APPEND
        w = StreamWriter(f, say=lambda _: None)
        for i in range(70):
            w.write(line(i))
        w.flush()
        w.close()
    assert file_lines(path) == [line(i) for i in range(65)]
    assert w.loss_counts() == {DISK_FULL: 5}


def test_closed_reader_raises_output_closed_once_then_counts() -> None:
    r, wfd = os.pipe()
    os.close(r)
    said: list[str] = []
    with os.fdopen(wfd, "wb") as stream:
        w = StreamWriter(stream, say=said.append)
        w.write(line(0))
        w.write(line(1))
        with pytest.raises(OutputClosed):
            w.flush()
        # Nothing more can fail on this descriptor, not even the last flush at exit.
        assert os.readlink(f"/proc/self/fd/{wfd}") == "/dev/null"
        w.write(line(2))
        w.flush()
        w.write(line(3))
        w.close()
    assert w.loss_counts() == {OUTPUT_CLOSED: 4}
    assert said == []  # a reader that left is the normal end of a pipe, not a fault


def test_reader_that_takes_some_lines_then_leaves() -> None:
    r, wfd = os.pipe()
    with os.fdopen(wfd, "wb") as stream:
        w = StreamWriter(stream, say=pytest.fail)
        w.write(line(0))
        w.flush()
        assert os.read(r, LINE) == line(0)
        os.close(r)
        w.write(line(1))
        with pytest.raises(OutputClosed):
            w.flush()
        w.close()
    assert w.loss_counts() == {OUTPUT_CLOSED: 1}


# --- batches go out with writev(2): many lines a call, short writes resumed ---------


def test_a_batch_of_more_lines_than_one_writev_takes(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.writev

    def counting(fd: int, buffers: list[bytes]) -> int:
        calls.append(len(buffers))
        return real(fd, buffers)

    monkeypatch.setattr(os, "writev", counting)
    path = tmp_path / "e.json"
    w = RotatingFileWriter(str(path), max_bytes=1 << 30)
    lines = [f"{i}\n".encode() for i in range(2500)]
    for x in lines:
        w.write(x)
    w.flush()
    assert calls == [1024, 1024, 452]  # the kernel's UIO_MAXIOV per call
    w.close()
    assert path.read_bytes() == b"".join(lines)


@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=60),
       st.lists(st.integers(1, 97), min_size=1, max_size=8))
def test_short_writes_anywhere_are_resumed(lines: list[bytes], steps: list[int]) -> None:
    """writev that writes only part of what it is given, at any byte: every
    line still goes out once, whole, in order."""
    r, wfd = os.pipe()
    out = bytearray()
    real = os.writev
    turn = 0

    def short(fd: int, buffers: list[bytes]) -> int:
        nonlocal turn
        # Each call writes a byte at least: more calls than bytes is a loop.
        assert turn <= sum(map(len, lines)), "the writer does not advance"
        data = b"".join(bytes(b) for b in buffers)
        n = min(len(data), steps[turn % len(steps)])
        turn += 1
        return real(fd, [data[:n]])

    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(os, "writev", short)
            w = StreamWriter(os.fdopen(wfd, "wb", closefd=False))
            for x in lines:
                w.write(x)
            w.flush()
        os.close(wfd)
        wfd = -1
        while chunk := os.read(r, 1 << 16):
            out += chunk
    finally:
        os.close(r)
        if wfd >= 0:
            os.close(wfd)
    assert bytes(out) == b"".join(lines)
    assert w.loss_counts() == {}


def test_a_non_blocking_pipe_takes_the_batch_in_short_writes(tmp_path: Path) -> None:
    """A real pipe made non-blocking (its 64 KiB fill at once): the writer
    waits for room and goes on where the kernel stopped."""
    import threading

    r, wfd = os.pipe()
    os.set_blocking(wfd, False)
    got = bytearray()

    def drain() -> None:
        while chunk := os.read(r, 3000):  # slowly, in odd sizes
            got.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    lines = [f"{i:05d}".encode() + b"y" * (i % 5000) + b"\n" for i in range(400)]
    with os.fdopen(wfd, "wb") as stream:
        w = StreamWriter(stream)
        for x in lines:
            w.write(x)
        w.close()
    reader.join(timeout=60)
    os.close(r)
    assert not reader.is_alive()
    assert bytes(got) == b"".join(lines)
    assert w.loss_counts() == {}
