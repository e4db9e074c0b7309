"""The kernel matrix as a pytest entry, and the harness's own unit tests.

`pytest tests/vm` runs the unit tests below (no root, no VM) and then the matrix
itself: one test per kernel (it booted, every hook kind loaded and attached, no
kernel test failed) and one that every kernel test ran somewhere. The matrix runs
once per session with the same KERNELS / TESTS / JOBS environment as
`make test-kernels`; set VIGIL_VM_MATRIX=0 to keep to the unit tests.
tests/vm is not in the default testpaths, so `make test` does not boot VMs.
"""

from __future__ import annotations

import os
from typing import Any

import kmatrix
import pytest

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.kernel.test_x" name="test_ok" file="tests/kernel/test_x.py"/>
<testcase classname="tests.kernel.test_x.TestHooks" name="test_kprobe[a-b]"
  file="tests/kernel/test_x.py"><properties><property name="needs" value="kprobe"/></properties>
  <skipped type="pytest.skip" message="kernel lacks kprobe: CONFIG_KPROBES is off">x</skipped>
</testcase>
<testcase classname="tests.kernel.test_x" name="test_bad" file="tests/kernel/test_x.py">
  <failure message="assert 0 == 3&#10;more">trace</failure></testcase>
<testcase classname="tests.kernel.test_x" name="test_xf" file="tests/kernel/test_x.py">
  <skipped type="pytest.xfail" message="known"/></testcase>
</testsuite></testsuites>"""


def column(name: str, tests: dict[str, str], pytest_exit: int = 0) -> kmatrix.Column:
    col = kmatrix.Column(name=name, status="ok", pytest_exit=pytest_exit)
    col.tests = {t: {"outcome": o, "message": "", "needs": ""} for t, o in tests.items()}
    return col


def test_junit_outcomes_reasons_needs_and_node_ids() -> None:
    tests = kmatrix.parse_junit(JUNIT)
    assert tests["tests/kernel/test_x.py::test_ok"]["outcome"] == "pass"
    skipped = tests["tests/kernel/test_x.py::TestHooks::test_kprobe[a-b]"]
    assert skipped == {
        "outcome": "skip",
        "needs": "kprobe",
        "message": "kernel lacks kprobe: CONFIG_KPROBES is off",
    }
    assert tests["tests/kernel/test_x.py::test_bad"] == {
        "outcome": "fail",
        "message": "assert 0 == 3",
        "needs": "",
    }
    assert tests["tests/kernel/test_x.py::test_xf"]["outcome"] == "xfail"


def test_madison_gives_the_newest_version_per_suite() -> None:
    text = (
        " linux-image-amd64 | 6.12.117-1 | http://deb.debian.org/debian trixie/main amd64 "
        "Packages\n linux-image-amd64 | 5.10.223-1 | http://deb.debian.org/debian "
        "bullseye/main amd64 Packages\n linux-image-amd64 | 5.10.200-1 | "
        "http://deb.debian.org/debian bullseye/main amd64 Packages\n"
    )
    assert kmatrix.parse_madison(text) == {"trixie": "6.12.117-1", "bullseye": "5.10.223-1"}


def test_a_test_skipped_everywhere_ran_nowhere_and_fails_the_matrix() -> None:
    cols = [
        column("host", {"a": "skip", "b": "pass"}),
        column("6.1", {"a": "pass", "b": "pass"}),
        column("5.10", {"b": "pass", "c": "skip"}),
    ]
    summary = kmatrix.summarize(cols)
    assert summary["ran_nowhere"] == ["c"]
    assert summary["exit_code"] == 1
    assert kmatrix.cell(cols[2], "a") == "not collected"
    assert summary["failures"] == []  # only the ran-nowhere rule fails this one
    # KERNELS=5.10 alone: a test may need a newer kernel, so it is only reported.
    partial = kmatrix.summarize(cols, full=False)
    assert partial["ran_nowhere"] == ["c"] and partial["exit_code"] == 0


def test_failures_boot_errors_and_hooks_count() -> None:
    ok = column("6.1", {"a": "pass"})
    assert kmatrix.summarize([ok])["exit_code"] == 0
    assert kmatrix.summarize([ok, column("5.10", {"a": "fail"}, 1)])["exit_code"] == 1
    dead = kmatrix.Column(name="6.12", status="panic", error="guest kernel panicked")
    assert kmatrix.summarize([ok, dead])["failures"] == ["6.12: panic: guest kernel panicked"]
    ok.hook_failures = ["lsm"]
    assert kmatrix.summarize([ok])["exit_code"] == 1


def test_no_tests_collected_is_exit_5_not_a_pass() -> None:
    cols = [column("6.1", {}, 5), column("host", {}, 5)]
    summary = kmatrix.summarize(cols)
    assert summary["no_tests_collected"] and summary["exit_code"] == 5
    assert "pytest exit 5" in kmatrix.render_md(cols, summary)


def test_kernel_selection() -> None:
    kernels = kmatrix.load_kernels()
    assert [k.name for k in kmatrix.select_kernels(kernels, "")] == ["5.10", "6.1", "6.12"]
    assert [k.name for k in kmatrix.select_kernels(kernels, "6.1,trixie")] == ["6.1", "trixie"]
    with pytest.raises(kmatrix.MatrixError, match="unknown kernel"):
        kmatrix.select_kernels(kernels, "4.19")


# ---------------------------------------------------------------- the matrix

MATRIX_WANTED = os.environ.get("VIGIL_VM_MATRIX", "1") != "0"


@pytest.fixture(scope="session")
def matrix() -> tuple[list[kmatrix.Column], dict[str, Any]]:
    if not MATRIX_WANTED:
        pytest.skip("VIGIL_VM_MATRIX=0: unit tests only")
    if os.geteuid() != 0:
        pytest.skip("the kernel matrix boots VMs and installs packages: run as root")
    try:
        return kmatrix.run_matrix(kmatrix.parse_args([]))
    except kmatrix.MatrixError as e:
        pytest.fail(str(e))


def _kernel_names() -> list[str]:
    kernels = kmatrix.select_kernels(kmatrix.load_kernels(), os.environ.get("KERNELS", ""))
    return [k.name for k in kernels]


@pytest.mark.parametrize("name", _kernel_names())
def test_kernel(matrix: tuple[list[kmatrix.Column], dict[str, Any]], name: str) -> None:
    cols, summary = matrix
    col = next(c for c in cols if c.name == name)
    assert col.status == "ok", f"{name}: {col.error}\n" + "\n".join(col.console_tail)
    assert not col.hook_failures, {h: col.hooks.get(h) for h in col.hook_failures}
    # Failures, errors, xfails, xpasses, and a kernel on which no test ran.
    assert kmatrix.column_failures(col, judge_empty=not summary["no_tests_collected"]) == []
    assert col.pytest_exit in (0, 5), col.error


def test_every_kernel_test_ran_somewhere(
    matrix: tuple[list[kmatrix.Column], dict[str, Any]],
) -> None:
    _, summary = matrix
    if summary["no_tests_collected"]:
        pytest.skip("no kernel test was collected on any kernel (pytest exit 5)")
    if not summary["ran_nowhere_is_failure"]:
        pytest.skip("KERNELS selects part of the default matrix: ran-nowhere is only reported")
    assert summary["ran_nowhere"] == []
