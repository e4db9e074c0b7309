"""`vigil probe` on the running kernel: every answer measured, every "no" explained.

Each answer is checked against an independent reading of this kernel, never
against its version number: the kernel's build configuration
(/boot/config-RELEASE or /proc/config.gz, else /proc/kallsyms), its active
LSM list, and real programs of the lab loaded here without the probe.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
from pathlib import Path

import orjson
import pytest

from vigil.kernel import cli
from vigil.kernel.errnos import errno_name
from vigil.kernel.mounts import ensure_bpffs, ensure_securityfs, ensure_tracefs
from vigil.kernel.probe import probe_all, probe_feature
from vigil.kernel.report import FEATURE_NAMES, ProbeReport
from vigil.lab.loading import load_only
from vigil.libbpf import AttachError, LoadError

LSM_LIST = Path("/sys/kernel/security/lsm")
TRAMPOLINES = ("fentry", "fexit", "fmod_ret")


@pytest.fixture(scope="module")
def report() -> ProbeReport:
    return probe_all()


# ---- independent readings of the kernel ----------------------------------------


def kernel_config() -> tuple[dict[str, str], str] | None:
    """The running kernel's CONFIG_* values ("n" for "is not set") and where they came from."""
    boot = Path(f"/boot/config-{platform.release()}")
    proc = Path("/proc/config.gz")
    if boot.exists():
        text, source = boot.read_text(), str(boot)
    elif proc.exists():
        text, source = gzip.decompress(proc.read_bytes()).decode(), str(proc)
    else:
        return None
    config: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_"):
            name, _, value = line.partition("=")
            config[name] = value
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            config[line[2:].split()[0]] = "n"
    return config, source


def kallsyms_has(symbol: str) -> bool:
    with open("/proc/kallsyms") as f:
        return any(line.rstrip("\n").split(" ")[2:3] == [symbol] for line in f)


def kprobes_in_kernel() -> tuple[bool, str]:
    """Whether this kernel can attach kprobes, and the evidence: built with
    CONFIG_KPROBES (its config, else register_kprobe in /proc/kallsyms) and
    exposing kprobe events (tracefs kprobe_events or the perf kprobe PMU)."""
    found = kernel_config()
    if found is not None:
        config, source = found
        built = config.get("CONFIG_KPROBES") == "y"
        evidence = f"CONFIG_KPROBES={config.get('CONFIG_KPROBES', 'absent')} in {source}"
    else:
        built = kallsyms_has("register_kprobe")
        evidence = f"register_kprobe {'in' if built else 'absent from'} /proc/kallsyms"
    tracefs = Path(ensure_tracefs())
    events = (tracefs / "kprobe_events").exists() or Path(
        "/sys/bus/event_source/devices/kprobe").exists()
    return built and events, f"{evidence}; kprobe events {'present' if events else 'absent'}"


def active_lsms() -> tuple[str, ...]:
    ensure_securityfs()
    return tuple(x for x in LSM_LIST.read_text().strip().split(",") if x)


def real_program(object_rel: str, program: str) -> str:
    """Load and attach one program of a lab object without the probe: "" when
    it loaded and attached, else the start of the reason the probe must give."""
    try:
        obj = load_only(object_rel, program)
    except LoadError as e:
        return f"load refused {errno_name(e.errno)}"
    with obj:
        try:
            obj.programs[program].attach().close()
        except AttachError as e:
            return f"attach failed: {errno_name(e.errno)}"
    return ""


def lsm_program_denies(tmp_path: Path) -> str:
    """Lesson 9's lsm/file_open program, loaded alone, must deny the open of
    a file it marked: "" when it did, else what happened instead."""
    secret = tmp_path / "secret"
    secret.write_text("marked\n")
    try:
        obj = load_only("lab/09_lsm.bpf.o", "deny_open")
    except LoadError as e:
        return f"load refused {errno_name(e.errno)}"
    with obj:
        fd = os.open(secret, os.O_RDONLY)
        try:  # an inode storage map is keyed by an open fd of the inode
            obj.maps["marks"].update(fd.to_bytes(4, "little"), (1).to_bytes(4, "little"))
        finally:
            os.close(fd)
        try:
            link = obj.programs["deny_open"].attach()
        except AttachError as e:
            return f"attach failed: {errno_name(e.errno)}"
        with link:
            try:
                os.close(os.open(secret, os.O_RDONLY))
            except PermissionError:
                return ""
    return "loaded and attached, but the marked file opened"


# ---- the report as a whole ---------------------------------------------------------


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


# ---- each answer against the kernel itself -------------------------------------------


@pytest.mark.parametrize("name", ["kprobe", "kretprobe"])
def test_kprobes_follow_the_kernel_build(report: ProbeReport, name: str) -> None:
    present, evidence = kprobes_in_kernel()
    reason = report.reason(name)
    if present:
        assert report.has(name), f"{evidence}, yet the probe says: {reason}"
        assert reason == "loaded, attached, fired on open(2) of /dev/null"
    else:
        assert not report.has(name), evidence
        assert reason.startswith("attach failed: ENOENT, "), reason
        assert "CONFIG_KPROBES" in reason, reason


def test_trampolines_agree_with_a_real_fmod_ret_program(report: ProbeReport) -> None:
    # fentry, fexit and fmod_ret share the BPF trampoline; an fmod_ret program
    # on a security_* function needs nothing more than the other two.
    outcome = real_program("lab/08_fmod_ret.bpf.o", "fail_file_open")
    for name in TRAMPOLINES:
        reason = report.reason(name)
        if not outcome:
            assert report.has(name), f"lesson 8's fmod_ret program attached here; {name}: {reason}"
            assert reason == "loaded, attached, fired on open(2) of /dev/null"
        else:
            assert not report.has(name), f"lesson 8's fmod_ret program: {outcome}"
            assert reason.startswith(outcome), (outcome, reason)
            if outcome == "load refused EPERM":  # the host of DESIGN.md §1
                assert "trampoline" in reason, reason


def test_lsm_follows_the_active_list_and_a_real_lsm_program(
    report: ProbeReport, tmp_path: Path
) -> None:
    active = active_lsms()
    assert report.kernel.lsms == active
    denied = lsm_program_denies(tmp_path)
    reason = report.reason("lsm")
    if "bpf" not in active:
        # Without bpf in lsm= the BPF LSM's hooks never run: nothing can be denied.
        assert denied, "a marked file was denied with 'bpf' missing from the LSM list"
        assert not report.has("lsm")
        assert f"lsm={','.join(active)},bpf" in reason, reason
    elif not denied:
        assert report.has("lsm"), f"lesson 9's lsm/file_open program denied an open; {reason}"
        assert reason == "loaded, attached, fired on open(2); 'bpf' is an active LSM"
        assert report.features["lsm"].detail == f"LSMs: {','.join(active)}"
    else:
        # bpf is active but this kernel refuses the program: the probe says why, the same way.
        assert not report.has("lsm"), f"lesson 9's lsm/file_open program: {denied}"
        assert reason.startswith(denied), (denied, reason)


@pytest.mark.parametrize("name", ["perf_event_array", "lpm_trie", "prog_array", "send_signal"])
def test_every_supported_kernel_has(report: ProbeReport, name: str) -> None:
    # All of these are older than 5.10, the oldest kernel vigil supports.
    assert report.has(name), report.reason(name)


@pytest.mark.parametrize("name", ["tp_btf", "iter_task"])
def test_btf_program_types_follow_the_kernels_btf(report: ProbeReport, name: str) -> None:
    assert report.has(name) == os.path.exists("/sys/kernel/btf/vmlinux"), report.reason(name)


# ---- the command line ----------------------------------------------------------------


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
