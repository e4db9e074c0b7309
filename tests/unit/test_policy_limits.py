"""Each of Tetragon's limits (vigil.policy.limits), on both sides of its boundary: at the
limit the policy validates, one past it the error names the limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from vigil.policy import Severity, check_text, limits

Spec = dict[str, Any]


def doc(spec: Spec) -> str:
    return yaml.safe_dump({"apiVersion": "cilium.io/v1alpha1", "kind": "TracingPolicy",
                           "metadata": {"name": "limits"}, "spec": spec}, sort_keys=False)


def tracepoint(**fields: Any) -> Spec:
    tp = {"subsystem": "syscalls", "event": "sys_enter_openat",
          "args": [{"index": 16, "type": "int"}, {"index": 17, "type": "string"}]}
    tp.update(fields)
    return {"tracepoints": [tp]}


def selector(**fields: Any) -> Spec:
    return tracepoint(selectors=[fields])


def match_args(op: str, values: list[str], index: int = 16) -> Spec:
    return selector(matchArgs=[{"index": index, "operator": op, "values": values}])


def messages(spec: Spec, severity: Severity = Severity.ERROR) -> list[str]:
    return [i.message for i in check_text(doc(spec), "l.yaml").issues if i.severity is severity]


N = "0123456789"
Case = tuple[str, Callable[[int], Spec], int, str]
CASES: list[Case] = [
    ("selectors per hook", lambda n: tracepoint(selectors=[{}] * n), limits.MAX_SELECTORS,
     "6 selectors; Tetragon takes at most 5 per hook (MaxSelectors): merge some, or split "
     "the hook into two entries"),
    ("args per tracepoint", lambda n: tracepoint(args=[{"index": i} for i in range(n)]),
     limits.MAX_ARGS, "6 arguments (args); Tetragon records at most 5 per hook "
     "(EventConfigMaxArgs)"),
    ("args + data per kprobe", lambda n: {"kprobes": [{
        "call": "f", "args": [{"index": 0, "type": "int"}] * 3,
        "data": [{"index": 0, "type": "int", "source": "current_task", "resolve": "pid"}]
        * (n - 3)}]}, limits.MAX_ARGS,
     "6 arguments (args + data); Tetragon records at most 5 per hook (EventConfigMaxArgs)"),
    ("argument filters per selector", lambda n: selector(
        matchArgs=[{"index": 16, "operator": "Equal", "values": ["1"]}] * n),
     limits.MAX_ARG_FILTERS,
     "6 argument filters (matchArgs + matchData); Tetragon takes at most 5 per selector"),
    ("values per integer Equal", lambda n: match_args("Equal", list(N[:n])),
     limits.MAX_MATCH_VALUES, "5 values; Tetragon compares at most 4 values in one Equal "
     "filter (MAX_MATCH_VALUES); use InMap for more"),
    ("values per InRange", lambda n: match_args("InRange", [f"{i}:{i + 1}" for i in range(n)]),
     limits.MAX_MATCH_VALUES,
     "5 values; Tetragon compares at most 4 values in one InRange filter (MAX_MATCH_VALUES)"),
    ("actions per selector", lambda n: selector(matchActions=[{"action": "Post"}] * n),
     limits.MAX_ACTIONS,
     "4 actions; Tetragon runs at most 3 matchActions per selector: split them over selectors"),
    ("matchNamespaces filters", lambda n: selector(matchNamespaces=[
        {"namespace": "Pid", "operator": "In", "values": ["1"]}] * n),
     limits.MAX_NAMESPACE_FILTERS,
     "11 filters; Tetragon takes at most 10 matchNamespaces filters per selector"),
    ("matchNamespaces values", lambda n: selector(matchNamespaces=[
        {"namespace": "Pid", "operator": "In", "values": list(N[:n])}]),
     limits.MAX_NAMESPACE_VALUES, "5 values; a matchNamespaces filter takes at most 4"),
    ("matchNamespaceChanges filters", lambda n: selector(matchNamespaceChanges=[
        {"operator": "In", "values": ["Mnt"]}] * n), limits.MAX_NAMESPACE_CHANGES_FILTERS,
     "2 filters; Tetragon takes a single matchNamespaceChanges filter per selector"),
    ("matchBinaries filters", lambda n: selector(matchBinaries=[
        {"operator": "In", "values": ["/bin/sh"]}] * n), limits.MAX_BINARY_FILTERS,
     "2 filters; Tetragon takes a single matchBinaries filter per selector: put all the "
     "paths in one filter's values"),
    ("matchParentBinaries filters", lambda n: selector(matchParentBinaries=[
        {"operator": "In", "values": ["/bin/sh"]}] * n), limits.MAX_BINARY_FILTERS,
     "2 filters; Tetragon takes a single matchParentBinaries filter per selector: put all "
     "the paths in one filter's values"),
    ("binary path", lambda n: selector(matchBinaries=[
        {"operator": "In", "values": ["/" + "b" * (n - 1)]}]), limits.BINARY_PATH_MAX,
     "256 bytes; Tetragon matches binary paths of at most 255 bytes (BINARY_PATH_MAX_LEN - 1)"),
    ("prefix", lambda n: match_args("Prefix", ["p" * n], 17), limits.STRING_PREFIX_MAX,
     "257 bytes; Tetragon matches a prefix of at most 256 bytes (StringPrefixMaxLength)"),
    ("postfix", lambda n: match_args("Postfix", ["p" * n], 17), limits.STRING_POSTFIX_MAX,
     "128 bytes; Tetragon matches a postfix of at most 127 bytes (StringPostfixMaxLength - 1)"),
    ("string Equal", lambda n: match_args("Equal", ["s" * n], 17), limits.STRING_EQUAL_MAX,
     "4097 bytes; Tetragon compares strings of at most 4096 bytes"),
    ("SubString length", lambda n: match_args("SubString", ["s" * n], 17),
     limits.SUBSTRING_MAX, "100 bytes; a SubString value is at most 99 bytes"),
    ("SubString values per hook", lambda n: match_args("SubString", [str(i) * 2 for i in
                                                                     range(n)], 17),
     limits.SUBSTRING_MAX_ENTRIES, "more than 100 SubString values in this hook; Tetragon "
     "keeps at most that many (SubstringMapEntries)"),
    ("tags per hook", lambda n: tracepoint(tags=[f"t{i}" for i in range(n)]), limits.MAX_TAGS,
     "17 tags; Tetragon takes at most 16 per hook"),
    ("sizeArgIndex", lambda n: tracepoint(args=[{"index": 17, "type": "char_buf",
                                                 "sizeArgIndex": n}]),
     limits.SIZE_ARG_INDEX_MAX, "16 is too large; sizeArgIndex is at most 15"),
    ("raw tracepoint arg index", lambda n: tracepoint(raw=True, args=[{"index": n,
                                                                       "type": "int"}]),
     limits.RAW_TP_ARG_INDEX_MAX,
     "6 is out of range; a raw tracepoint reads arguments 0 to 5"),
    ("kprobe arg index", lambda n: {"kprobes": [{"call": "f", "args": [{"index": n,
                                                                        "type": "int"}]}]},
     limits.HOOK_ARG_INDEX_MAX, "5 is out of range; a kprobe reads arguments 0 to 4"),
    ("resolve depth", lambda n: tracepoint(raw=True, args=[{"index": 0, "type": "int",
                                                            "resolve": ".".join(["f"] * n)}]),
     limits.BTF_RESOLVE_DEPTH_MAX, "11 steps; Tetragon follows at most 10 (MaxBTFArgDepth)"),
    ("signal number", lambda n: selector(matchActions=[{"action": "Signal", "argSig": n}]),
     limits.SIGNAL_MAX, "65 is not a signal; Linux signals are 1 to 64"),
]


@pytest.mark.parametrize(("make", "limit", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_limit_both_sides(make: Callable[[int], Spec], limit: int, message: str) -> None:
    assert messages(make(limit)) == []
    assert message in messages(make(limit + 1))


def test_text_lengths_both_sides() -> None:
    assert messages(tracepoint(message="ok", tags=["ok"])) == []
    assert messages(tracepoint(message="x")) == [
        "'x' is too short; Tetragon wants a message of at least 2 characters"]
    assert messages(tracepoint(tags=["x"])) == [
        "'x' is too short; a tag has at least 2 characters"]
    assert messages(tracepoint(message="m" * 256, tags=["t" * 128]), Severity.WARNING) == []
    assert messages(tracepoint(message="m" * 257, tags=["t" * 129]), Severity.WARNING) == [
        "257 bytes; Tetragon truncates a message to 256",
        "129 bytes; Tetragon truncates a tag to 128",
    ]


def test_signal_zero_is_not_a_signal() -> None:
    assert messages(selector(matchActions=[{"action": "Signal", "argSig": 0}])) == [
        "0 is not a signal; Linux signals are 1 to 64"]
