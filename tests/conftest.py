"""Test-suite wiring: kernel tests declare the kernel features they need with
`@pytest.mark.needs("kprobe", ...)`, and are skipped with the feature probe's
reason where the running kernel lacks one (the VM kernel matrix runs them)."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
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
