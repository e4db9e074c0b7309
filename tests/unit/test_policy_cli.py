"""`vigil policy validate`: every issue printed, exit 1 on any error or unsupported field,
`--tetragon-only` for Tetragon validity alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.policy_text import policy
from vigil.cli import main

GOOD = policy("tracepoints: [{subsystem: syscalls, event: sys_enter_openat}]")
KPROBE = policy("kprobes: [{call: fd_install, syscall: false, "
                "args: [{index: 1, type: const_buf}]}]")
BAD = policy("tracepoints: [{subsystem: s, event: e, mesage: hi}]")


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str,
        **files: str) -> tuple[int, list[str]]:
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    code = main(["policy", "validate", *args,
                 *(str(tmp_path / f"{n}.yaml") for n in files)])
    out = capsys.readouterr().out.replace(f"{tmp_path}/", "")
    return code, out.splitlines()


def test_valid_and_supported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, capsys, good=GOOD) == (0, ["good.yaml: valid (1 policy)"])


def test_valid_but_unsupported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, capsys, k=KPROBE) == (1, [
        "k.yaml:6:72: spec.kprobes[0].args[0].type: const_buf is not supported yet (issue 9)",
        "k.yaml: valid Tetragon policy (1 policy), but vigil does not support 1 thing in it "
        "yet (listed above)",
    ])
    assert run(tmp_path, capsys, "--tetragon-only", k=KPROBE) == (0, ["k.yaml: valid (1 policy)"])


def test_every_file_and_every_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                    ) -> None:
    code, out = run(tmp_path, capsys, "--tetragon-only", good=GOOD, bad=BAD)
    assert code == 1
    assert out == [
        "good.yaml: valid (1 policy)",
        "bad.yaml:6:42: spec.tracepoints[0].mesage: unknown field 'mesage'; did you mean "
        "'message'?",
        "bad.yaml: invalid (1 error)",
    ]


def test_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["policy", "validate", str(tmp_path / "nope.yaml")])
    out = capsys.readouterr().out
    assert code == 1
    assert out == f"{tmp_path}/nope.yaml: cannot read: No such file or directory\n"


def test_the_policy_group_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["policy"])
    assert exit_.value.code == 2
    assert "required: ACTION" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["policy", "-h"])
    assert "validate" in capsys.readouterr().out
