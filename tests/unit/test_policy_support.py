"""What vigil does not implement yet is reported apart from validity, by field and value,
with the issue that brings it; the table is data (vigil.policy.support)."""

from __future__ import annotations

import pytest

from tests.policy_text import lines, policy
from vigil.policy import PolicyError, Severity, check_text, load_text
from vigil.policy.model import TracingPolicySpec
from vigil.policy.support import PLANNED, SUPPORTED_FIELDS, SUPPORTED_VALUES, WHOLE

SUPPORTED_TRACEPOINT = """
    options:
    - {name: something, value: "1"}
    tracepoints:
    - subsystem: syscalls
      event: sys_enter_openat
      raw: false
      message: "an open"
      tags: [open]
      args: [{index: 5, type: int, label: dfd}, {index: 6, type: string}, {index: 7}]
"""

# Syscall lists, InMap/NotInMap, syscall64, char_buf with sizeArgIndex and nop.
SUPPORTED_LISTS = """
    lists:
    - {name: dups, type: syscalls, values: [sys_dup, __x64_sys_dup2, __ia32_sys_dup]}
    - {name: all, type: generated_syscalls}
    tracepoints:
    - subsystem: raw_syscalls
      event: sys_enter
      args: [{index: 4, type: syscall64, label: id}, {index: 5, type: nop}]
      selectors:
      - matchArgs: [{index: 4, operator: InMap, values: ["list:dups", "1000:1010"]}]
        matchActions: [{action: Sigkill}]
      - matchArgs: [{index: 4, operator: NotInMap, values: ["list:all"]}]
    - subsystem: syscalls
      event: sys_enter_write
      args: [{index: 6, type: char_buf, sizeArgIndex: 8}]
"""

# What is left of lists: kprobe lists (issue 9).
REST_OF_ISSUE_8 = """
    lists:
    - {name: funcs, type: generated_ftrace, pattern: "^vfs_"}
    tracepoints:
    - subsystem: raw_syscalls
      event: sys_enter
      raw: true
      args: [{index: 4, type: syscall64, label: id}]
"""


def test_what_the_tracepoint_sensor_implements_is_supported() -> None:
    report = check_text(policy(SUPPORTED_TRACEPOINT), "p.yaml")
    assert [i for i in report.issues if i.severity is not Severity.WARNING] == []
    assert report.supported and len(report.policies) == 1


def test_raw_tracepoints_are_supported() -> None:
    text = policy("""
        tracepoints:
        - subsystem: sched
          event: sched_process_exec
          raw: true
          args: [{index: 1, type: int, label: old_pid}, {index: 0}]
    """)
    assert lines(text, Severity.UNSUPPORTED, Severity.ERROR) == []
    assert "spec.tracepoints[].raw" in SUPPORTED_FIELDS
    assert "spec.tracepoints[].raw" not in PLANNED


def test_lists_in_map_syscall64_char_buf_and_nop_are_supported() -> None:
    report = check_text(policy(SUPPORTED_LISTS), "p.yaml")
    assert [i for i in report.issues if i.severity is not Severity.WARNING] == []
    assert report.supported and len(report.policies) == 1


def test_generated_ftrace_lists_are_supported() -> None:
    """(the kprobes' lists of kernel functions: the planner expands them)"""
    assert lines(policy(REST_OF_ISSUE_8), Severity.UNSUPPORTED) == []


def test_notify_enforcer_with_its_enforcer_and_arguments_is_supported() -> None:
    text = policy("""
        lists:
        - {name: dups, type: syscalls, values: [sys_dup]}
        enforcers:
        - calls: ["list:dups"]
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          args: [{index: 4, type: syscall64}]
          selectors:
          - matchArgs: [{index: 4, operator: InMap, values: ["list:dups"]}]
            matchActions: [{action: NotifyEnforcer, argError: -1, argSig: 9}]
    """)
    assert lines(text, Severity.UNSUPPORTED) == []
    assert lines(text) == []


TASK_SELECTORS = """
    tracepoints:
    - subsystem: syscalls
      event: sys_enter_lseek
      selectors:
      - matchPIDs: [{operator: In, values: [1], isNamespacePID: true}]
        matchNamespaces:
        - {namespace: Uts, operator: NotIn, values: [host_ns]}
        - {namespace: Net, operator: In, values: ["4026531840"]}
        matchCapabilities:
        - {type: Permitted, operator: In, values: [CAP_SYS_ADMIN], isNamespaceCapability: true}
        - {operator: NotIn, values: [CAP_NET_RAW]}
"""


def test_task_selectors_are_supported() -> None:
    report = check_text(policy(TASK_SELECTORS), "p.yaml")
    assert [str(i) for i in report.issues] == []
    assert report.supported


def test_namespace_and_capability_changes_are_supported() -> None:
    text = policy("""
        tracepoints:
        - subsystem: syscalls
          event: sys_enter_lseek
          selectors:
          - matchNamespaceChanges: [{operator: In, values: [Mnt]}]
            matchCapabilityChanges:
            - {operator: In, values: [CAP_SYS_ADMIN], isNamespaceCapability: true}
    """)
    report = check_text(text, "p.yaml")
    assert [str(i) for i in report.issues] == []
    assert report.supported


def test_unsupported_fields_and_values_name_their_issue() -> None:
    text = policy("""
        kprobes: [{call: f, syscall: false}]  # supported: kernel functions, on kprobe rungs
        lsmhooks: [{hook: file_open}]
        loader: true
        tracepoints:
        - subsystem: s
          event: e
          args: [{index: 1, type: char_iovec, maxData: true}]
          selectors:
          - matchArgs: [{index: 1, operator: SubString, values: [x]}]
            matchParentBinaries: [{operator: In, values: [/bin/sh]}]
            matchActions: [{action: Override, argError: -1}]
    """)
    assert lines(text, Severity.UNSUPPORTED) == [
        "7:3: spec.lsmhooks: not supported yet (issue 10)",
        "8:3: spec.loader: not supported yet (no issue yet)",
        "12:29: spec.tracepoints[0].args[0].type: char_iovec is not supported yet (issue 9)",
        "14:40: spec.tracepoints[0].selectors[0].matchArgs[0].operator: SubString is not "
        "supported yet (no issue yet)",
        "15:7: spec.tracepoints[0].selectors[0].matchParentBinaries: not supported yet (no "
        "issue yet)",
        "16:31: spec.tracepoints[0].selectors[0].matchActions[0].action: Override is not "
        "supported yet (issue 9)",
    ]
    # valid for Tetragon all the same
    assert lines(text) == []
    assert load_text(text, "p.yaml", require_support=False)
    with pytest.raises(PolicyError) as err:
        load_text(text, "p.yaml")
    assert len(err.value.issues) == 6


def test_defaults_written_out_are_not_reported() -> None:
    text = policy("""
        loader: false
        kprobes: []
        tracepoints: [{subsystem: s, event: e, args: [{index: 1, maxData: false}]}]
    """)
    assert lines(text, Severity.UNSUPPORTED) == []


def test_the_table_names_only_real_fields() -> None:
    """Every path in the table exists in the models (a renamed field cannot rot it)."""
    from vigil.policy.model import TracingPolicy
    from vigil.policy.translate import _type_at

    def exists(schema: str) -> bool:
        parts: list[str | int] = []
        for chunk in schema.replace("[]", ".[]").split("."):
            if chunk == "[]":
                parts.append(0)
            elif chunk:
                parts.append(chunk)
        return _type_at(TracingPolicy, tuple(parts)) is not None

    paths = set(SUPPORTED_FIELDS) | set(WHOLE) | set(SUPPORTED_VALUES)
    paths |= {p.split("=")[0] for p in PLANNED}
    assert sorted(p for p in paths if not exists(p)) == []
    assert TracingPolicySpec.model_fields  # the spec model is what the paths walk


@pytest.mark.parametrize(("size", "reported"), [(256, False), (257, True)])
def test_a_string_value_longer_than_vigil_compares_is_reported(size: int,
                                                               reported: bool) -> None:
    value = "a" * size
    text = policy(f"""
    tracepoints:
    - subsystem: syscalls
      event: sys_enter_openat
      args: [{{index: 6, type: string}}]
      selectors:
      - matchArgs: [{{index: 6, operator: Equal, values: ["x", "{value}"]}}]
    """)
    want = [f"11:61: spec.tracepoints[0].selectors[0].matchArgs[0].values[1]: {size} bytes: "
            "vigil compares string values of at most 256 bytes (not supported yet)"]
    assert lines(text, Severity.UNSUPPORTED) == (want if reported else [])
