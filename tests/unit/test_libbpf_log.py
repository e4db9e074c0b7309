"""libbpf's messages reach Python: needs libbpf.so.1 but no root and no BPF."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

from vigil.libbpf import LibbpfMissingError, ObjectOpenError, _lib, capture_output, open_object


@pytest.fixture(autouse=True)
def _needs_libbpf() -> None:
    try:
        _lib.lib()
    except LibbpfMissingError as exc:
        pytest.skip(str(exc))


def test_open_failure_is_logged_and_captured(caplog: pytest.LogCaptureFixture) -> None:
    missing = "/nonexistent/vigil-test.bpf.o"
    with (
        caplog.at_level(logging.WARNING, "vigil.libbpf"),
        capture_output() as output,
        pytest.raises(ObjectOpenError) as info,
    ):
        open_object(missing)
    assert info.value.errno == errno.ENOENT
    # libbpf formats "elf: failed to open %s: %s": vsnprintf filled in both.
    assert any(missing in line and "No such file or directory" in line for line in output)
    assert any(missing in r.getMessage() for r in caplog.records if r.name == "vigil.libbpf")


def test_long_messages_are_formatted_whole() -> None:
    # Longer than the first formatting buffer: exercises the va_list copy retry.
    missing = "/nonexistent/" + "/".join(["d" * 100] * 30) + "/x.bpf.o"
    with capture_output() as output, pytest.raises(ObjectOpenError):
        open_object(missing)
    assert any(f"{missing}: No such file or directory" in line for line in output)


def test_not_a_bpf_object(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bpf.o"
    junk.write_bytes(b"not an ELF file")
    with pytest.raises(ObjectOpenError) as info:
        open_object(junk)
    assert str(junk) in str(info.value)


def test_captures_nest_and_end() -> None:
    with capture_output() as outer:
        with capture_output() as inner, pytest.raises(ObjectOpenError):
            open_object("/nonexistent/a.bpf.o")
        with pytest.raises(ObjectOpenError):
            open_object("/nonexistent/b.bpf.o")
    with pytest.raises(ObjectOpenError):
        open_object("/nonexistent/c.bpf.o")
    assert any("a.bpf.o" in line for line in inner)
    assert not any("b.bpf.o" in line for line in inner)
    assert any("a.bpf.o" in line for line in outer) and any("b.bpf.o" in line for line in outer)
    assert not any("c.bpf.o" in line for line in outer)


def test_missing_library_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lib, "SONAME", "libbpf-vigil-test-missing.so.1")
    _lib.lib.cache_clear()
    try:
        with pytest.raises(LibbpfMissingError, match="apt-get install libbpf1"):
            _lib.lib()
    finally:
        monkeypatch.undo()
        _lib.lib.cache_clear()
        _lib.lib()
