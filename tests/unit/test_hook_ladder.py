"""The hook ladder's choice, with the kernel's features given: the first rung
that works, the reasons the better ones were passed over, a forced rung
taken or refused with its reason, and syscall spellings as Tetragon's
pkg/arch takes them."""

from __future__ import annotations

import pytest

from vigil.sensors.hook_ladder import KPROBE_LADDER, RUNG_NAMES, HookUnavailable, choose_rung
from vigil.sensors.kprobe_compile import syscall_function


def features(*present: str):  # type: ignore[no-untyped-def]
    def feature(name: str) -> tuple[bool, str]:
        return (True, "works") if name in present else (False, f"no {name} here")
    return feature


def test_the_rungs_in_order() -> None:
    assert RUNG_NAMES == ("kprobe_multi", "kprobe", "fentry", "syscall_tracepoint")


def test_a_host_without_kprobes_or_trampolines_takes_the_syscall_tracepoints() -> None:
    choice = choose_rung(KPROBE_LADDER, syscall=True, returns=True,
                         feature=features("tracepoint"))
    assert choice.rung.name == "syscall_tracepoint"
    assert choice.passed_over == (
        "kprobe_multi needs kprobe_multi, which this kernel lacks (no kprobe_multi here)",
        "kprobe needs kprobe, which this kernel lacks (no kprobe here)",
        "fentry needs fentry, which this kernel lacks (no fentry here)")
    assert choice.reason.startswith("syscall_tracepoint: the syscall's syscalls/sys_enter_NAME")


def test_kprobes_are_preferred_where_they_work() -> None:
    every = features("kprobe_multi", "kprobe", "kretprobe", "fentry", "fexit", "tracepoint")
    choice = choose_rung(KPROBE_LADDER, syscall=True, returns=True, feature=every)
    assert (choice.rung.name, choice.passed_over) == ("kprobe_multi", ())
    # a kernel without fprobe (kprobe.multi) takes kprobes
    choice = choose_rung(KPROBE_LADDER, syscall=True, returns=True,
                         feature=features("kprobe", "kretprobe", "fentry", "fexit"))
    assert choice.rung.name == "kprobe"
    assert choice.passed_over == (
        "kprobe_multi needs kprobe_multi, which this kernel lacks (no kprobe_multi here)",)
    choice = choose_rung(KPROBE_LADDER, syscall=False, returns=True,
                         feature=features("fentry", "fexit", "tracepoint"))
    assert choice.rung.name == "fentry"


def test_a_return_needs_the_return_feature_too() -> None:
    with pytest.raises(HookUnavailable) as err:
        choose_rung(KPROBE_LADDER, syscall=True, returns=True,
                    feature=features("kprobe", "fentry", "fexit"), forced="kprobe")
    assert str(err.value) == ("the forced rung cannot attach: kprobe needs kretprobe, which "
                              "this kernel lacks (no kretprobe here)")


def test_a_kernel_function_has_no_syscall_fallback() -> None:
    with pytest.raises(HookUnavailable) as err:
        choose_rung(KPROBE_LADDER, syscall=False, returns=False, feature=features("tracepoint"))
    assert str(err.value) == (
        "no way to attach it on this kernel: kprobe_multi needs kprobe_multi, which this "
        "kernel lacks (no kprobe_multi here); kprobe needs kprobe, which this kernel lacks "
        "(no kprobe here); fentry needs fentry, which this kernel lacks (no fentry here); "
        "syscall_tracepoint hooks syscalls only (this call has syscall: false)")


def test_forcing_a_rung() -> None:
    choice = choose_rung(KPROBE_LADDER, syscall=True, returns=False,
                         feature=features("tracepoint"), forced="syscall_tracepoint")
    assert (choice.rung.name, choice.passed_over) == (
        "syscall_tracepoint", ("the rung was forced to syscall_tracepoint",))
    with pytest.raises(HookUnavailable) as err:
        choose_rung(KPROBE_LADDER, syscall=True, returns=False, feature=features(),
                    forced="uprobe")
    assert str(err.value) == ("no hook rung 'uprobe'; the rungs are kprobe_multi, kprobe, "
                              "fentry, syscall_tracepoint")


@pytest.mark.parametrize(("call", "machine", "want"), [
    ("sys_openat", "x86_64", ("__x64_sys_openat", "openat")),
    ("__x64_sys_openat", "x86_64", ("__x64_sys_openat", "openat")),
    ("sys_openat", "aarch64", ("__arm64_sys_openat", "openat")),
    ("__arm64_sys_read", "aarch64", ("__arm64_sys_read", "read")),
])
def test_syscall_spellings(call: str, machine: str, want: tuple[str, str]) -> None:
    assert syscall_function(call, machine) == want


@pytest.mark.parametrize(("call", "machine", "message"), [
    ("__arm64_sys_openat", "x86_64", "'__arm64_sys_openat' has the prefix __arm64_, but this "
     "machine's syscalls are __x64_sys_*; write sys_openat"),
    ("__ia32_sys_openat", "x86_64", "'__ia32_sys_openat' has the prefix __ia32_, but this "
     "machine's syscalls are __x64_sys_*; write sys_openat"),
    ("openat", "x86_64", "'openat' is not a syscall's function; a kprobe with syscall: true "
     "names one as sys_NAME (sys_openat) or with the machine's prefix (__x64_sys_openat)"),
    ("sys_", "x86_64", "'sys_' is not a syscall's function; a kprobe with syscall: true "
     "names one as sys_NAME (sys_openat) or with the machine's prefix (__x64_sys_openat)"),
    ("sys_openat", "riscv64", "syscall kprobes are not supported on riscv64; vigil knows "
     "x86_64, aarch64"),
])
def test_wrong_syscall_spellings(call: str, machine: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        syscall_function(call, machine)
    assert str(err.value) == message
