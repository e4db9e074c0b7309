"""Test-suite wiring: kernel tests declare the kernel features they need with
`@pytest.mark.needs("kprobe", ...)`, and are skipped with the feature probe's
reason where the running kernel lacks one (the VM kernel matrix runs them).
Kernel tests whose outcome user space alone decides say so with
`@pytest.mark.kernel_independent("why")`: the matrix's VMs skip them, the
host runs them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("VIGIL_VM"):
        _skip_kernel_independent(items)
    wanted = [item for item in items if item.get_closest_marker("needs")]
    kernel_tests = [item for item in items if "tests/kernel" in str(item.fspath)]
    if kernel_tests and os.geteuid() != 0:
        skip = pytest.mark.skip(reason="kernel tests load BPF programs: run them as root")
        for item in kernel_tests:
            item.add_marker(skip)
        return
    if not wanted:
        return
    from vigil.kernel.probe import probe_all

    report = probe_all()
    for item in wanted:
        for marker in item.iter_markers("needs"):
            for feature in marker.args:
                if not report.has(feature):
                    item.add_marker(pytest.mark.skip(
                        reason=f"kernel lacks {feature}: {report.reason(feature)}"))


def _skip_kernel_independent(items: list[pytest.Item]) -> None:
    """In a VM of the kernel matrix (tests/vm/guest.py sets VIGIL_VM), a test
    marked `kernel_independent("why")` asserts what user space alone decides
    (export faults, CLI output): it runs in the host's column, and under
    emulation it would only cost minutes."""
    for item in items:
        marker = item.get_closest_marker("kernel_independent")
        if marker:
            why = marker.args[0] if marker.args else "user space alone decides it"
            item.add_marker(pytest.mark.skip(
                reason=f"kernel-independent ({why}): runs in the host's column of the matrix"))


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs: a disk that fills (the export's disk-full tests)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        # Lazily when a failed test left a writer open: its assertion is the news.
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(mnt)], check=True)
