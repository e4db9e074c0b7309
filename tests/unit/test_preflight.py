"""The checks before loading: each failure says what to do."""

from __future__ import annotations

import pytest

from vigil import preflight as pf


def test_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pf.os, "geteuid", lambda: 1000)
    with pytest.raises(pf.PreflightError, match=r"needs root .* run it with sudo"):
        pf.preflight()


def test_no_btf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pf.os, "geteuid", lambda: 0)
    monkeypatch.setattr(pf.os.path, "exists", lambda path: path != "/sys/kernel/btf/vmlinux")
    with pytest.raises(pf.PreflightError, match=r"no BTF .* CONFIG_DEBUG_INFO_BTF=y"):
        pf.preflight()
