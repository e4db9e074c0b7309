"""errno -> explanation: what `vigil probe` says when the kernel answers no."""

from __future__ import annotations

import errno
import os

import pytest

from vigil.kernel.errnos import ENOTSUPP, errno_name, explain


@pytest.mark.parametrize(
    ("err", "name"),
    [
        (errno.EPERM, "EPERM"),
        (-errno.ENOENT, "ENOENT"),
        (ENOTSUPP, "ENOTSUPP"),
        (9999, "errno 9999"),
    ],
)
def test_errno_name(err: int, name: str) -> None:
    assert errno_name(err) == name


def test_kprobe_enoent_names_the_missing_config() -> None:
    text = explain("kprobe", "attach", errno.ENOENT)
    assert text.startswith("ENOENT: ")
    assert "CONFIG_KPROBES" in text


def test_kretprobe_shares_kprobe_meanings() -> None:
    assert explain("kretprobe", "attach", errno.ENOENT) == explain("kprobe", "attach", errno.ENOENT)


@pytest.mark.parametrize("kind", ["fentry", "fexit", "fmod_ret", "lsm"])
def test_trampoline_eperm_at_load_says_trampolines_are_refused(kind: str) -> None:
    text = explain(kind, "load", errno.EPERM)
    assert text.startswith("EPERM: ")
    assert "trampoline" in text


def test_lsm_einval_means_no_bpf_lsm_in_the_build() -> None:
    assert "CONFIG_BPF_LSM" in explain("lsm", "load", errno.EINVAL)


def test_fmod_ret_einval_names_the_target_rule() -> None:
    assert "ALLOW_ERROR_INJECTION" in explain("fmod_ret", "load", errno.EINVAL)


def test_generic_meaning_when_kind_has_none() -> None:
    assert explain("ringbuf", "load", errno.EINVAL) == (
        "EINVAL: the kernel does not know this program type, attach type or helper"
    )


def test_unknown_errno_falls_back_to_strerror() -> None:
    assert explain("tracepoint", "run", errno.EXDEV) == f"EXDEV: {os.strerror(errno.EXDEV)}"


@pytest.mark.parametrize("step", ["load", "attach", "run"])
@pytest.mark.parametrize("err", [1, 2, 7, 13, 16, 19, 22, 95, 524, 4007])
def test_every_explanation_starts_with_the_errno_name(step: str, err: int) -> None:
    text = explain("kprobe", step, err)  # type: ignore[arg-type]
    assert text.startswith(errno_name(err) + ": ")
    assert len(text) > len(errno_name(err)) + 2
