"""How a policy's enforcer is planned (sensors/enforcer.py), with the
kernel's features given: the method it takes, and what it refuses, where.
The enforcer itself runs in tests/kernel/test_enforcer.py."""

from __future__ import annotations

import pytest

from vigil.policy import PolicyError, load_text
from vigil.sensors.enforcer import EnforcerPlan, compile_enforcer


def policy(spec: str) -> str:
    return f"apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: enforce\n" \
           f"spec:{spec}"


def test_enforcer_plan_errors_name_the_field() -> None:
    """Without the kernel: what compile_enforcer refuses, and where."""
    def errors(spec: str, feature: dict[str, bool]) -> list[str]:
        loaded, = load_text(policy(spec), "p.yaml")
        with pytest.raises(PolicyError) as err:
            compile_enforcer(loaded, feature=lambda n: (feature.get(n, False), f"no {n}"),
                             machine="x86_64")
        return [str(i) for i in err.value.issues]

    hooks = """
  kprobes:
  - call: sys_openat
    selectors: [{matchActions: [{action: NotifyEnforcer, argError: -1}]}]
"""
    assert errors(f"""
  options: [{{name: override-method, value: override-return}}]
  enforcers: [{{calls: [security_file_open]}}]{hooks}""", {"override_return": True}) == [
        "p.yaml:6:44: spec.options[0].value: override-return cannot change what "
        "security_file_open returns (the kernel allows bpf_override_return on no security_* "
        "hook); use fmod-ret"]
    assert errors(f"""
  enforcers: [{{calls: [sys_dup]}}]{hooks}""", {}) == [
        "p.yaml:6:15: spec.enforcers[0]: the enforcer cannot run here: no bpf_override_return "
        "(no override_return) and no fmod_ret (no fmod_ret)"]
    assert errors(f"""
  enforcers: [{{calls: [__arm64_sys_dup]}}]{hooks}""", {"fmod_ret": True}) == [
        "p.yaml:6:24: spec.enforcers[0].calls[0]: '__arm64_sys_dup' has the prefix "
        "__arm64_, but this machine's syscalls are __x64_sys_*; write sys_dup"]
    loaded, = load_text(policy(f"""
  enforcers: [{{calls: [sys_dup, __x64_sys_dup, security_file_open]}}]{hooks}"""), "p.yaml")
    plan = compile_enforcer(loaded, feature=lambda n: (n == "fmod_ret", ""), machine="x86_64")
    assert plan == EnforcerPlan("enforce", ("__x64_sys_dup", "security_file_open"), "fmod-ret",
                                "security_file_open is a security hook: only fmod_ret can "
                                "change what it returns")
