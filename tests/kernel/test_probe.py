"""`vigil probe` on the running kernel: every answer measured, every "no" explained."""

from __future__ import annotations

import argparse
import os
import platform

import orjson
import pytest

from vigil.kernel import cli
from vigil.kernel.mounts import ensure_bpffs, ensure_securityfs, ensure_tracefs
from vigil.kernel.probe import probe_all, probe_feature
from vigil.kernel.report import FEATURE_NAMES, ProbeReport

# The development host: CONFIG_KPROBES off, trampoline programs refused (DESIGN.md §1).
ON_DEV_HOST = platform.release().startswith("6.18")


@pytest.fixture(scope="module")
def report() -> ProbeReport:
    return probe_all()


def test_reports_every_feature(report: ProbeReport) -> None:
    assert list(report.features) == list(FEATURE_NAMES)
    assert report.kernel.release == platform.release()


@pytest.mark.parametrize("name", ["tracepoint", "raw_tracepoint", "ringbuf", "uprobe"])
def test_base_sensor_needs_are_available(report: ProbeReport, name: str) -> None:
    assert report.has(name), report.reason(name)


def test_every_no_has_a_reason(report: ProbeReport) -> None:
    for feature in report.missing():
        assert feature.reason.strip(), f"{feature.name} is unavailable without a reason"


def test_every_no_from_the_kernel_names_an_errno(report: ProbeReport) -> None:
    for feature in report.missing():
        if "load refused" in feature.reason or "attach failed" in feature.reason:
            assert " E" in feature.reason, f"{feature.name}: {feature.reason}"


def test_btf_matches_sysfs(report: ProbeReport) -> None:
    assert report.has("btf") == os.path.exists("/sys/kernel/btf/vmlinux")


def test_cached_per_process(report: ProbeReport) -> None:
    assert probe_all() is report


def test_single_feature_agrees_with_the_report(report: ProbeReport) -> None:
    assert probe_feature("tracepoint").available == report.has("tracepoint")
    with pytest.raises(KeyError):
        probe_feature("no_such_feature")


@pytest.mark.skipif(not ON_DEV_HOST, reason="expectations of the 6.18 development host")
def test_dev_host_lacks_kprobes_with_the_cause(report: ProbeReport) -> None:
    for name in ("kprobe", "kretprobe"):
        assert not report.has(name)
        assert "ENOENT" in report.reason(name)
        assert "CONFIG_KPROBES" in report.reason(name)


@pytest.mark.skipif(not ON_DEV_HOST, reason="expectations of the 6.18 development host")
def test_dev_host_refuses_trampolines_with_the_cause(report: ProbeReport) -> None:
    for name in ("fentry", "fexit", "fmod_ret", "lsm"):
        assert not report.has(name)
        reason = report.reason(name)
        assert "load refused EPERM" in reason, reason
        assert "trampoline" in reason


@pytest.mark.skipif(not ON_DEV_HOST, reason="expectations of the 6.18 development host")
def test_dev_host_has_what_design_md_measured(report: ProbeReport) -> None:
    for name in (
        "tp_btf",
        "perf_event_array",
        "lpm_trie",
        "prog_array",
        "send_signal",
        "iter_task",
    ):
        assert report.has(name), report.reason(name)


def test_lsm_reason_mentions_the_active_list_when_bpf_is_missing(report: ProbeReport) -> None:
    if report.kernel.lsms and "bpf" not in report.kernel.lsms:
        assert not report.has("lsm")
        assert "lsm=" in report.reason("lsm")


def test_cli_json_round_trips(report: ProbeReport, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(json=True, verbose=False, features=[])
    assert cli.run(args) == 0
    data = orjson.loads(capsys.readouterr().out)
    back = ProbeReport.from_json(data)
    assert back.kernel == report.kernel
    assert back.features == report.features


def test_cli_table(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(json=False, verbose=True, features=["tracepoint", "kprobe"])
    assert cli.run(args) == 0
    out = capsys.readouterr().out
    assert "tracepoint" in out
    assert "kprobe" in out


def test_ensure_mounts_are_idempotent() -> None:
    assert ensure_tracefs() == "/sys/kernel/tracing"
    assert ensure_bpffs() == "/sys/fs/bpf"
    assert ensure_securityfs() == "/sys/kernel/security"
    assert ensure_bpffs() == "/sys/fs/bpf"
