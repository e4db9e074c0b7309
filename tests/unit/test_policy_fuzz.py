"""The parser is attacked through its input: whatever the text, it is accepted or rejected
with a PolicyError whose every issue has a position (and a path, where the YAML parsed),
never another exception."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.policy import PolicyError, load_text

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "tetragon-examples"
FILES = sorted(EXAMPLES.rglob("*.y*ml")) if EXAMPLES.is_dir() else []

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

FIELD_NAMES = ["apiVersion", "kind", "metadata", "name", "spec", "tracepoints", "kprobes",
               "subsystem", "event", "args", "index", "type", "selectors", "matchArgs",
               "operator", "values", "matchActions", "action", "argSig", "lists", "call",
               "sizeArgIndex", "rateLimit", "matchBinaries", "matchPIDs", "macros"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from(["Post", "Sigkill", "In", "Equal", "string", "list:x", "0x1f", "1:2",
                     "host_ns", "CAP_SYS_ADMIN", "cilium.io/v1alpha1", "TracingPolicy"]),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=10))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


def assert_located(err: PolicyError, *, paths: bool) -> None:
    assert err.issues
    for issue in err.issues:
        assert issue.file == "f.yaml"
        assert issue.line >= 1 and issue.column >= 1
        assert issue.message
        if paths:
            assert issue.path, issue


def accepted_or_located(text: str, *, paths: bool) -> None:
    try:
        load_text(text, "f.yaml", require_support=False)
    except PolicyError as err:
        assert_located(err, paths=paths)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text(text: str) -> None:
    accepted_or_located(text, paths=False)


@SETTINGS
@given(st.lists(st.sampled_from([
    "apiVersion: cilium.io/v1alpha1\n", "kind: TracingPolicy\n", "metadata:\n", "  name: x\n",
    "spec:\n", "  tracepoints:\n", "  - subsystem: s\n", "    event: e\n", "    args:\n",
    "    - index: 1\n", "      type: int\n", "    selectors:\n", "    - matchArgs:\n",
    "      - index: 1\n", "        operator: Equal\n", "        values: ['1']\n", "---\n",
    "  - &a [*a]\n", "{", "}", "[", "]", ": ", "- ", "'", '"', "\t", "  ", "&x ", "*x ",
    "!!binary ", "<<: {}\n", "? ", "key: key: key\n",
]), max_size=25).map("".join))
def test_yaml_like_text(text: str) -> None:
    accepted_or_located(text, paths=False)


@SETTINGS
@given(st.dictionaries(keys, values, max_size=6))
def test_any_yaml_document(doc: dict[str, Any]) -> None:
    text = yaml.safe_dump(doc)
    accepted_or_located(text, paths=True)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if path else []
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*path, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*path, i)))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], how: str, new_key: str, new_value: Any) -> Any:
    doc = copy.deepcopy(doc)
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "rename" and isinstance(parent, dict):
        parent[new_key] = parent.pop(last)
    else:  # retype, or a random value
        parent[last] = new_value
    return doc


@pytest.mark.skipif(not FILES, reason=f"Tetragon's example policies are not in {EXAMPLES}")
@SETTINGS
@given(data=st.data())
def test_mutated_example_policies(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(FILES))
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    doc = data.draw(st.sampled_from(docs))
    where = data.draw(st.sampled_from(_paths(doc)))
    how = data.draw(st.sampled_from(["delete", "rename", "retype", "value"]))
    new_key = data.draw(st.one_of(st.sampled_from(FIELD_NAMES), st.text(min_size=1,
                                                                       max_size=12)))
    new_value = data.draw(values if how == "retype" else scalars)
    text = yaml.safe_dump(_mutate(doc, where, how, new_key, new_value), sort_keys=False)
    accepted_or_located(text, paths=True)
