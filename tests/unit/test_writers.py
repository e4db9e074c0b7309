"""The rotating export file."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.export.writers import RotatingFileWriter


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
