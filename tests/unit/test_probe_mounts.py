"""ensure_*: mount when absent, and say what to do when that is impossible."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from vigil.kernel import mounts


@pytest.fixture
def absent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, str, str]]:
    """Pretend nothing is mounted, and record mount(2) calls instead of making them."""
    calls: list[tuple[str, str, str]] = []
    monkeypatch.setattr(mounts, "mounted", lambda fs, text=None: False)
    monkeypatch.setattr(mounts, "_fstype_known", lambda fstype: True)
    monkeypatch.setattr("os.makedirs", lambda *a, **k: None)

    def fake_mount(source: str, target: str, fstype: str) -> int:
        calls.append((source, target, fstype))
        return 0

    monkeypatch.setattr(mounts, "_libc_mount", fake_mount)
    return calls


def test_mounts_when_absent(absent: list[tuple[str, str, str]]) -> None:
    assert mounts.ensure_tracefs() == "/sys/kernel/tracing"
    assert mounts.ensure_bpffs() == "/sys/fs/bpf"
    assert mounts.ensure_securityfs() == "/sys/kernel/security"
    assert absent == [
        ("tracefs", "/sys/kernel/tracing", "tracefs"),
        ("bpf", "/sys/fs/bpf", "bpf"),
        ("securityfs", "/sys/kernel/security", "securityfs"),
    ]


def test_eperm_says_run_as_root(
    absent: list[tuple[str, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mounts, "_libc_mount", lambda *a: errno.EPERM)
    with pytest.raises(mounts.MountError) as info:
        mounts.ensure_bpffs()
    text = str(info.value)
    assert "cannot mount bpf at /sys/fs/bpf: EPERM" in text
    assert "root" in text
    assert info.value.errno == errno.EPERM


def test_other_errors_give_the_mount_command(
    absent: list[tuple[str, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mounts, "_libc_mount", lambda *a: errno.EINVAL)
    with pytest.raises(mounts.MountError, match="mount -t tracefs tracefs /sys/kernel/tracing"):
        mounts.ensure_tracefs()


def test_unknown_fs_type_names_the_config(
    absent: list[tuple[str, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mounts, "_fstype_known", lambda fstype: False)
    with pytest.raises(mounts.MountError, match="CONFIG_SECURITYFS"):
        mounts.ensure_securityfs()
    assert absent == []


def test_already_mounted_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mounts, "mounted", lambda fs, text=None: True)
    monkeypatch.setattr(mounts, "_libc_mount", lambda *a: pytest.fail("must not mount"))
    assert mounts.ensure_tracefs() == "/sys/kernel/tracing"
