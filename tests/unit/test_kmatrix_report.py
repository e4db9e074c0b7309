"""The kernel matrix's verdict (tests/vm/kmatrix.py) on synthetic runs: a kernel
on which no test ran fails, a guest running another kernel fails naming both,
and neither an xfail nor an xpass is a pass. No VM, no root."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

VM = Path(__file__).resolve().parent.parent / "vm"


def _module(name: str) -> ModuleType:
    """tests/vm/NAME.py, as the matrix runs it (a script, not a package)."""
    if name in sys.modules:  # imported already by tests/vm/test_kernel_matrix.py
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, VM / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


host_report = _module("host_report")  # before kmatrix, which imports it
kmatrix = _module("kmatrix")
guest = _module("guest")

# One test per outcome pytest can report, run the way guest.py runs pytest.
OUTCOMES = '''
import pytest

def test_pass():
    pass

def test_fail():
    assert 1 == 2

def test_skip():
    pytest.skip("kernel lacks kprobe: CONFIG_KPROBES is off")

@pytest.mark.xfail(reason="known bug 7")
def test_xfail():
    assert False

@pytest.mark.xfail(reason="fixed since")
def test_xpass():
    pass

@pytest.fixture
def broken():
    raise RuntimeError("no fixture")

def test_error(broken):
    pass
'''


def pytest_junit(tmp_path: Path, source: str) -> tuple[int, str]:
    """Run pytest on `source` with guest.py's report options: (exit, JUnit XML)."""
    (tmp_path / "test_synthetic.py").write_text(textwrap.dedent(source))
    junit = tmp_path / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         f"--junitxml={junit}", *guest.REPORT_OPTIONS, "test_synthetic.py"],
        cwd=tmp_path, capture_output=True, text=True, check=False)
    return proc.returncode, junit.read_text()


def column(name: str, outcomes: dict[str, str], pytest_exit: int = 0,
           suite: str = "bookworm") -> Any:
    col = kmatrix.Column(name=name, suite=suite, status="ok", pytest_exit=pytest_exit,
                         pytest_result=kmatrix.PYTEST_EXIT[pytest_exit])
    col.tests = {t: {"outcome": o, "message": "", "needs": ""} for t, o in outcomes.items()}
    return col


def test_every_outcome_as_pytest_reports_it(tmp_path: Path) -> None:
    code, xml = pytest_junit(tmp_path, OUTCOMES)
    assert code == 1
    tests = kmatrix.parse_junit(xml)
    assert {t.split("::")[-1]: r["outcome"] for t, r in tests.items()} == {
        "test_pass": "pass",
        "test_fail": "fail",
        "test_skip": "skip",
        "test_xfail": "xfail",
        "test_xpass": "xpass",  # strict in the guests: reported, never a pass
        "test_error": "error",
    }
    by_name = {t.split("::")[-1]: r for t, r in tests.items()}
    assert by_name["test_skip"]["message"] == "kernel lacks kprobe: CONFIG_KPROBES is off"
    assert by_name["test_xfail"]["message"] == "known bug 7"
    assert by_name["test_xpass"]["message"] == "fixed since"
    assert by_name["test_fail"]["message"] == "assert 1 == 2"


def test_xfail_and_xpass_are_not_passes() -> None:
    green = column("6.1", {"a": "pass", "b": "pass"})
    assert kmatrix.summarize([green])["exit_code"] == 0
    for outcome in ("xfail", "xpass"):
        col = column("6.1", {"a": "pass", "b": outcome}, pytest_exit=1)
        summary = kmatrix.summarize([col])
        assert summary["exit_code"] == 1, outcome
        assert summary["failures"] == [f"6.1: b {outcome}"]
        assert summary["counts"] == {"pass": 1, "fail": 0, "error": 0, "skip": 0,
                                     "xfail": int(outcome == "xfail"),
                                     "xpass": int(outcome == "xpass")}
        assert kmatrix.counts_line(summary) == (
            f"kernel-matrix: 1 passed, 0 failed, 0 skipped, {int(outcome == 'xfail')} xfailed, "
            f"{int(outcome == 'xpass')} xpassed")
        assert kmatrix.column_failures(col) == [f"6.1: b {outcome}"]


def test_a_kernel_on_which_every_test_skipped_fails() -> None:
    skipped = column("5.10", {"a": "skip", "b": "skip"})
    ran = column("6.1", {"a": "pass", "b": "pass"})
    summary = kmatrix.summarize([skipped, ran], full=False)
    assert summary["failures"] == ["5.10: no test ran: all 2 collected were skipped"]
    assert summary["exit_code"] == 1
    # One test that ran is enough for the rule (the others' skips are reported).
    assert kmatrix.column_failures(column("5.10", {"a": "skip", "b": "pass"})) == []


def test_a_kernel_that_collected_nothing_fails_when_others_did() -> None:
    empty = column("6.12", {}, pytest_exit=5)
    summary = kmatrix.summarize([empty, column("6.1", {"a": "pass"})], full=False)
    assert summary["failures"] == [
        "6.12: no test ran: none was collected (pytest no tests collected)"]
    assert summary["exit_code"] == 1
    # Nothing collected anywhere stays exit 5, reported as such.
    nowhere = kmatrix.summarize([column("6.12", {}, 5), column("host", {}, 5, suite="host")])
    assert (nowhere["exit_code"], nowhere["failures"]) == (5, [])


def test_the_host_may_skip_everything() -> None:
    # The host lacks kprobes and trampolines by design: TESTS=<kprobe tests> skips all.
    host = column("host", {"a": "skip"}, suite="host")
    vm = column("6.1", {"a": "pass"})
    assert kmatrix.summarize([vm, host])["exit_code"] == 0


def write_guest(out: Path, uname: str, junit: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "status.json").write_text(json.dumps({"uname": uname, "pytest_exit": 0}))
    (out / "junit.xml").write_text(junit)


JUNIT_ONE_PASS = (
    '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">'
    '<testcase classname="tests.kernel.test_x" name="test_ok" file="tests/kernel/test_x.py"/>'
    "</testsuite></testsuites>"
)


def test_the_guest_must_run_the_kernel_meant_to_boot(tmp_path: Path) -> None:
    col = kmatrix.Column(name="6.1", suite="bookworm", status="ok", release="6.1.0-50-amd64")
    write_guest(tmp_path / "6.1", "6.18.44-fc-v769", JUNIT_ONE_PASS)
    kmatrix.read_guest(tmp_path / "6.1", col, [])
    assert col.status == "wrong kernel"
    assert col.error == ("meant to boot 6.1.0-50-amd64, but the guest's `uname -r` is "
                         "'6.18.44-fc-v769': its results are not this kernel's")
    summary = kmatrix.summarize([col])
    assert summary["exit_code"] == 1
    assert summary["failures"] == [f"6.1: wrong kernel: {col.error}"]
    # Its results count nowhere: not as passes, not towards "ran somewhere".
    assert summary["counts"]["pass"] == 0
    assert kmatrix.cell(col, "tests/kernel/test_x.py::test_ok") == "wrong kernel"
    assert "wrong kernel" in kmatrix.render_md([col], summary)


def test_the_right_kernel_is_read_as_it_ran(tmp_path: Path) -> None:
    col = kmatrix.Column(name="6.1", suite="bookworm", status="ok", release="6.1.0-50-amd64")
    write_guest(tmp_path / "6.1", "6.1.0-50-amd64", JUNIT_ONE_PASS)
    kmatrix.read_guest(tmp_path / "6.1", col, [])
    assert (col.status, col.error) == ("ok", "")
    assert col.tests == {"tests/kernel/test_x.py::test_ok": {
        "outcome": "pass", "message": "", "needs": ""}}
    assert kmatrix.summarize([col])["exit_code"] == 0


@pytest.mark.parametrize("uname", [None, ""])
def test_a_guest_that_reports_no_kernel_is_not_trusted(tmp_path: Path, uname: Any) -> None:
    col = kmatrix.Column(name="5.10", suite="bullseye", status="ok",
                         release="5.10.0-32-amd64")
    write_guest(tmp_path / "5.10", uname, JUNIT_ONE_PASS)
    kmatrix.read_guest(tmp_path / "5.10", col, [])
    assert col.status == "wrong kernel"
    assert col.error.startswith(f"meant to boot 5.10.0-32-amd64, but the guest's `uname -r` "
                                f"is {uname!r}")


def test_an_older_pytests_xpass_and_collection_skips() -> None:
    xml = (
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">'
        '<testcase classname="tests.kernel.test_x" name="test_xp" file="tests/kernel/test_x.py">'
        '<skipped message="xfail-marked test passes unexpectedly"/></testcase>'
        '<testcase classname="tests.kernel.test_x" name="test_c" file="tests/kernel/test_x.py">'
        '<skipped message="collection skipped">x</skipped></testcase>'
        "</testsuite></testsuites>"
    )
    tests = kmatrix.parse_junit(xml)
    assert tests["tests/kernel/test_x.py::test_xp"]["outcome"] == "xpass"
    assert tests["tests/kernel/test_x.py::test_c"]["outcome"] == "skip"


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.unit.test_a" name="test_u" file="tests/unit/test_a.py"/>
<testcase classname="tests.kernel.test_b" name="test_k" file="tests/kernel/test_b.py"/>
<testcase classname="tests.kernel.test_b" name="test_s" file="tests/kernel/test_b.py">
<skipped type="pytest.skip" message="kernel lacks kprobe: off">skip</skipped></testcase>
</testsuite></testsuites>"""


def git_repo(path: Path) -> Path:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True)
    path.mkdir()
    git("init", "-q")
    (path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a")
    return path


def test_the_host_column_is_make_tests_report_of_this_tree(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    junit = tmp_path / "host" / "junit.xml"
    junit.parent.mkdir()
    junit.write_text(JUNIT)
    host_report.record(junit.parent / "run.json", 0, [], repo)
    info, xml = host_report.host_tests(junit, ["tests/kernel"], repo)
    assert (info["pytest_exit"], xml) == (0, JUNIT)
    # Only the kernel tests are the column; the unit tests are not the kernel's.
    col = kmatrix.Column(name="host")
    col.tests = {t: r for t, r in kmatrix.parse_junit(xml).items()
                 if t.startswith(host_report.KERNEL_TESTS)}
    assert {t: r["outcome"] for t, r in col.tests.items()} == {
        "tests/kernel/test_b.py::test_k": "pass", "tests/kernel/test_b.py::test_s": "skip"}


@pytest.mark.parametrize("change", ["edit", "untracked", "commit"])
def test_a_report_of_another_tree_is_refused(tmp_path: Path, change: str) -> None:
    repo = git_repo(tmp_path / "repo")
    junit = tmp_path / "host" / "junit.xml"
    junit.parent.mkdir()
    junit.write_text(JUNIT)
    host_report.record(junit.parent / "run.json", 0, [], repo)
    if change == "edit":
        (repo / "a.py").write_text("x = 2\n")
    elif change == "untracked":
        (repo / "b.py").write_text("y = 1\n")
    else:
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                        "commit", "-qm", "b", "--allow-empty"], check=True)
    with pytest.raises(host_report.StaleReport, match="another state of the tree"):
        host_report.host_tests(junit, ["tests/kernel"], repo)


def test_a_report_of_a_selection_or_a_missing_one_is_refused(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    junit = tmp_path / "host" / "junit.xml"
    junit.parent.mkdir()
    with pytest.raises(host_report.StaleReport, match="run `make test` first"):
        host_report.host_tests(junit, ["tests/kernel"], repo)
    junit.write_text(JUNIT)
    host_report.record(junit.parent / "run.json", 0, ["-k", "exec"], repo)
    with pytest.raises(host_report.StaleReport, match=r"arguments \['-k', 'exec'\]"):
        host_report.host_tests(junit, ["tests/kernel"], repo)
    host_report.record(junit.parent / "run.json", 0, [], repo)
    with pytest.raises(host_report.StaleReport, match="when TESTS is set"):
        host_report.host_tests(junit, ["tests/kernel/test_b.py"], repo)


class NoTrixie:
    """An apt whose lists hold no trixie (a mirror without it)."""

    def madison(self, pkg: str) -> dict[str, str]:
        return {"bookworm": "1.0"}


def test_without_virtiofsd_a_stale_wrapper_goes_and_the_guests_use_9p(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kmatrix, "CACHE", tmp_path / "cache")
    vng = tmp_path / "venv" / "bin" / "vng"
    vng.parent.mkdir(parents=True)
    stale = vng.parent / "virtiofsd"
    stale.write_text("#!/bin/sh\nexit 0\n")
    assert kmatrix.ensure_virtiofsd(NoTrixie(), vng) is False
    # virtme-ng looks for virtiofsd beside vng first: a wrapper left there
    # would make it try a daemon that is not unpacked.
    assert not stale.exists()
