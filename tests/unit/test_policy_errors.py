"""Schema errors, one test per kind: the exact message and the exact line:column.

The policies here start their spec on line 6 (tests/policy_text.py), indented by 2.
"""

from __future__ import annotations

import pytest

from tests.policy_text import errors, lines, policy
from vigil.policy import PolicyError, load_text


def test_unknown_field_with_did_you_mean() -> None:
    assert errors("""
        tracepoints:
        - subsystem: syscalls
          event: sys_enter_openat
          mesage: hi
    """) == ["9:5: spec.tracepoints[0].mesage: unknown field 'mesage'; did you mean 'message'?"]


def test_unknown_field_without_a_close_name_lists_the_fields() -> None:
    assert errors("""
        lists:
        - name: l
          zzz: 1
    """) == ["8:5: spec.lists[0].zzz: unknown field 'zzz'; the fields here are name, "
             "pattern, type, validated or values"]


def test_unknown_top_level_field() -> None:
    text = policy("tracepoints: []") + "status: {}\n"
    assert lines(text) == [
        "7:1: status: unknown field 'status'; the fields here are apiVersion, kind, metadata "
        "or spec"]


def test_enum_in_the_wrong_case() -> None:
    assert errors("""
        tracepoints:
        - subsystem: s
          event: e
          selectors:
          - matchActions:
            - action: sigkill
    """) == ["11:17: spec.tracepoints[0].selectors[0].matchActions[0].action: 'sigkill' is "
             "not a valid action; did you mean 'Sigkill'? (Tetragon spells it exactly so)"]


def test_enum_misspelt_and_far_off() -> None:
    assert errors("""
        tracepoints:
        - subsystem: s
          event: e
          args:
          - index: 0
            type: strin
          - index: 1
            type: qqqqqq
    """) == [
        "11:13: spec.tracepoints[0].args[0].type: 'strin' is not a valid type; did you "
        "mean 'string'?",
        "13:13: spec.tracepoints[0].args[1].type: 'qqqqqq' is not a valid type; expected "
        "auto, int, sint8, int8, uint8, sint16, int16, uint16, uint32, sint32, int32, ulong, "
        "uint64, size_t, long, sint64, int64, char_buf, char_iovec, skb, sock, sockaddr, "
        "socket, sockaddr_un, string, fd, file, filename, path, nop, bpf_attr, perf_event, "
        "bpf_map, user_namespace, capability, kiocb, iov_iter, cred, const_buf, load_info, "
        "module, syscall64, kernel_cap_t, cap_inheritable, cap_permitted, cap_effective, "
        "linux_binprm, data_loc, net_device, bpf_cmd, dentry or bpf_prog",
    ]


def test_wrong_scalar_types_say_how_to_write_them() -> None:
    assert errors("""
        tracepoints:
        - subsystem: 1
          event: e
          raw: "true"
          args:
          - index: "2"
    """) == [
        "7:16: spec.tracepoints[0].subsystem: expected a string, got integer 1; quote it: "
        '"1"',
        "9:10: spec.tracepoints[0].raw: expected true or false, got string 'true'; write true "
        "or false without quotes",
        "11:14: spec.tracepoints[0].args[0].index: expected an integer, got string '2'; write "
        "the number without quotes",
    ]


def test_list_and_mapping_expected() -> None:
    assert errors("""
        tracepoints:
          subsystem: s
        lists: [1]
    """) == [
        "7:5: spec.tracepoints: expected a list, got a mapping; write it as a list (items "
        "starting with '- ')",
        "8:11: spec.lists[0]: expected a mapping, got integer 1",
    ]


def test_required_field_missing_points_at_its_parent() -> None:
    assert errors("""
        tracepoints:
        - subsystem: syscalls
    """) == ["7:5: spec.tracepoints[0].event: required field is missing; add 'event:' to "
             "spec.tracepoints[0]"]


def test_required_field_given_null() -> None:
    assert errors("""
        tracepoints:
        - subsystem: syscalls
          event:
    """) == ["8:5: spec.tracepoints[0].event: has no value (null); give it one"]


def test_integer_out_of_range() -> None:
    assert errors("""
        tracepoints:
        - subsystem: s
          event: e
          args:
          - index: -1
          - index: 4294967296
    """) == [
        "10:14: spec.tracepoints[0].args[0].index: integer -1 is too small; the least allowed "
        "is 0",
        "11:14: spec.tracepoints[0].args[1].index: integer 4294967296 is too large; the most "
        "allowed is 4294967295",
    ]


def test_api_version_and_kind() -> None:
    text = "apiVersion: cilium.io/v1\nkind: TracingPolicy\nmetadata: {name: a}\nspec: {}\n"
    assert lines(text) == ["1:13: apiVersion: 'cilium.io/v1' is not a valid apiVersion; did "
                           "you mean 'cilium.io/v1alpha1'?"]
    text = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicies\nmetadata: {name: a}\n"
    assert lines(text) == ["2:7: kind: 'TracingPolicies' is not a policy kind; did you mean "
                           "'TracingPolicy'?"]
    assert lines("metadata: {name: a}\n") == [
        "1:1: kind: required field is missing; add 'kind: TracingPolicy' (or "
        "TracingPolicyNamespaced)",
        "1:1: apiVersion: required field is missing; add 'apiVersion: cilium.io/v1alpha1'",
    ]
    assert lines("- a\n") == ["1:1: a policy is a mapping with apiVersion, kind, metadata "
                              "and spec; this document is a list"]


def test_other_apis_are_skipped_with_a_warning() -> None:
    from vigil.policy import Severity

    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\n" + policy("loader: true")
    assert lines(text) == []
    assert lines(text, Severity.WARNING) == [
        "2:7: warning: kind: skipped: document 1 is a v1 Pod, not a TracingPolicy"]


def test_every_error_of_every_document_is_reported_at_once() -> None:
    text = (policy("tracepoints: [{subsystem: s, event: e, args: [{index: x}]}]")
            + "---\n" + policy("lists: [{name: 1}]"))
    with pytest.raises(PolicyError) as err:
        load_text(text, "two.yaml")
    assert [str(i) for i in err.value.issues] == [
        "two.yaml:6:57: spec.tracepoints[0].args[0].index: expected an integer, got string "
        "'x'; write the number without quotes",
        "two.yaml:13:18: spec.lists[0].name: expected a string, got integer 1; quote it: "
        '"1"',
    ]


def test_unknown_fields_do_not_hide_the_other_errors() -> None:
    # without the misspelt key the policy validates, so its limit errors show at once
    assert errors("""
        tracepoints:
        - subsystem: s
          event: e
          tgs: [x]
          args: [{index: 0}, {index: 1}, {index: 2}, {index: 3}, {index: 4}, {index: 5}]
    """) == [
        "9:5: spec.tracepoints[0].tgs: unknown field 'tgs'; did you mean 'tags'?",
        "10:5: spec.tracepoints[0].args: 6 arguments (args); Tetragon records at most 5 per "
        "hook (EventConfigMaxArgs)",
    ]


def test_a_key_that_is_no_plain_name_is_quoted_in_the_path() -> None:
    # found by the fuzzer: an empty key once gave an empty path
    text = policy("tracepoints: []") + '"": 1\n"a.b": 2\n'
    assert lines(text) == [
        '7:1: [""]: unknown field \'\'; the fields here are apiVersion, kind, metadata or spec',
        '8:1: ["a.b"]: unknown field \'a.b\'; the fields here are apiVersion, kind, metadata '
        "or spec",
    ]
