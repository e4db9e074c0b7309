"""The probe report's shape: JSON for machines, has()/reason() for tests and sensors."""

from __future__ import annotations

import argparse
import io

import orjson
import pytest
from rich.console import Console

from vigil.kernel import cli
from vigil.kernel.probe import parse_lockdown
from vigil.kernel.report import FEATURE_NAMES, Feature, KernelInfo, ProbeReport


def _report() -> ProbeReport:
    features = {name: Feature(name, True, "loaded, attached, fired") for name in FEATURE_NAMES}
    features["kprobe"] = Feature(
        "kprobe", False, "attach failed: ENOENT, kernel built without CONFIG_KPROBES", "libbpf: x"
    )
    kernel = KernelInfo("6.18.0", "#1 SMP", "x86_64", "integrity", ("lockdown", "bpf"))
    return ProbeReport(kernel, features, 0.4321)


def test_json_shape() -> None:
    data = _report().to_json()
    assert set(data) == {"kernel", "features", "elapsed_s"}
    assert data["kernel"] == {
        "release": "6.18.0",
        "version": "#1 SMP",
        "machine": "x86_64",
        "lockdown": "integrity",
        "lsms": ["lockdown", "bpf"],
    }
    assert list(data["features"]) == list(FEATURE_NAMES)
    assert data["features"]["kprobe"] == {
        "available": False,
        "reason": "attach failed: ENOENT, kernel built without CONFIG_KPROBES",
        "detail": "libbpf: x",
    }
    assert data["elapsed_s"] == 0.432
    orjson.dumps(data)  # serialisable as is


def test_json_round_trip() -> None:
    report = _report()
    back = ProbeReport.from_json(orjson.loads(orjson.dumps(report.to_json())))
    assert back.kernel == report.kernel
    assert back.features == report.features


def test_has_and_reason() -> None:
    report = _report()
    assert report.has("tracepoint")
    assert not report.has("kprobe")
    assert "CONFIG_KPROBES" in report.reason("kprobe")
    assert [f.name for f in report.missing()] == ["kprobe"]


def test_unknown_feature_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"unknown feature 'kprobes'.*kprobe"):
        _report().has("kprobes")


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("none [integrity] confidentiality\n", "integrity"),
        ("[none] integrity confidentiality\n", "none"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_parse_lockdown(text: str | None, mode: str) -> None:
    assert parse_lockdown(text) == mode


def test_cli_json_with_a_fake_probe(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import vigil.kernel.probe

    monkeypatch.setattr(vigil.kernel.probe, "probe_all", _report)
    args = argparse.Namespace(json=True, verbose=False, features=["kprobe", "uprobe"])
    assert cli.run(args) == 0
    data = orjson.loads(capsys.readouterr().out)
    assert list(data["features"]) == ["kprobe", "uprobe"]
    assert data["features"]["kprobe"]["available"] is False


def test_cli_rejects_unknown_features(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(json=True, verbose=False, features=["kprobes"])
    assert cli.run(args) == 2
    assert "unknown feature(s) kprobes" in capsys.readouterr().err


def test_cli_table_lists_every_feature_with_its_reason() -> None:
    report = _report()
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(
        cli.render_table(report, list(report.features), verbose=True)
    )
    text = out.getvalue()
    assert "lockdown=integrity" in text
    for name in FEATURE_NAMES:
        assert name in text
    assert "kernel built without CONFIG_KPROBES" in text


def test_add_parser_registers_probe() -> None:
    parser = argparse.ArgumentParser(prog="vigil")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["probe", "--json", "fentry"])
    assert args.command == "probe"
    assert args.json
    assert args.features == ["fentry"]
    assert args.func is cli.run
