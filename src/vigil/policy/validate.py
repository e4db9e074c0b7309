"""A policy file in, its policies and every issue with file:line:column out.

The pipeline, per document: YAML with marks (loader) -> the kind chosen ->
pydantic models (model; their errors via translate) -> Tetragon's checks
(checks) -> what vigil does not implement yet (support). Each stage turns out
Findings (a path and a message); here they get their line and column.

Documents of another API (a Pod next to the policy in a tutorial's file) are
skipped with a warning, not an error: `kubectl apply` takes such files whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from vigil.policy.checks import check_policy
from vigil.policy.errors import Issue, PathPart, PolicyError, Severity, format_path
from vigil.policy.findings import Finding
from vigil.policy.loader import Document, load_yaml
from vigil.policy.model import (
    API_VERSION,
    KINDS,
    AnyPolicy,
    TracingPolicy,
    TracingPolicyNamespaced,
)
from vigil.policy.suggest import closest
from vigil.policy.support import unsupported
from vigil.policy.translate import describe, translate

__all__ = ["LoadedPolicy", "Report", "check_file", "check_text", "load_file", "load_text"]

_MODELS: dict[str, type[BaseModel]] = {
    "TracingPolicy": TracingPolicy,
    "TracingPolicyNamespaced": TracingPolicyNamespaced,
}


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy, with its document so that later stages can locate problems."""

    policy: AnyPolicy
    file: str
    document: Document

    @property
    def name(self) -> str:
        meta = self.policy.metadata
        return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name

    def issue(self, path: Sequence[PathPart], message: str,
              severity: Severity = Severity.ERROR, *, value: bool = False) -> Issue:
        """An Issue at ``path`` of this policy (the planner's errors use it)."""
        m = self.document.mark(tuple(path), value=value)
        return Issue(self.file, m.line, m.column, format_path(path), message, severity)


@dataclass(frozen=True)
class Report:
    """Everything known about one file: the policies that validated and all issues."""

    file: str
    policies: tuple[LoadedPolicy, ...]
    issues: tuple[Issue, ...]

    def blocking(self, *, tetragon_only: bool = False) -> list[Issue]:
        """The issues that stop the file from loading (errors, and unsupported unless
        only Tetragon validity is asked for)."""
        stop = {Severity.ERROR} if tetragon_only else {Severity.ERROR, Severity.UNSUPPORTED}
        return [i for i in self.issues if i.severity in stop]

    @property
    def valid(self) -> bool:
        """Valid for Tetragon: no ERROR issue."""
        return not self.blocking(tetragon_only=True)

    @property
    def supported(self) -> bool:
        """Valid, and vigil implements all of it."""
        return not self.blocking()


def _strip_nulls(data: Any, path: tuple[PathPart, ...], nulls: set[tuple[PathPart, ...]]
                 ) -> Any:
    """Drop ``key: null`` (as absent, the way Go decodes it) and remember where."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if v is None:
                nulls.add((*path, k))
            else:
                out[k] = _strip_nulls(v, (*path, k), nulls)
        return out
    if isinstance(data, list):
        return [_strip_nulls(v, (*path, i), nulls) for i, v in enumerate(data)]
    return data


def _kind_findings(data: dict[str, Any], index: int) -> tuple[type[BaseModel] | None,
                                                                list[Finding], bool]:
    """(model, findings, skipped) for a document's apiVersion and kind."""
    api, kind = data.get("apiVersion"), data.get("kind")
    if isinstance(kind, str) and kind in _MODELS:
        return _MODELS[kind], [], False
    ours = api is None or (isinstance(api, str) and api.startswith("cilium.io/"))
    if not ours and isinstance(api, str) and isinstance(kind, str):
        return None, [Finding(("kind",), f"skipped: document {index + 1} is a {api} {kind}, "
                              "not a TracingPolicy", Severity.WARNING, True)], True
    if kind is None:
        return None, [Finding(("kind",), "required field is missing; add 'kind: "
                              "TracingPolicy' (or TracingPolicyNamespaced)")], False
    if not isinstance(kind, str):
        return None, [Finding(("kind",), f"expected TracingPolicy or TracingPolicyNamespaced, "
                              f"got {describe(kind)}", at_value=True)], False
    best = closest(kind, KINDS)
    hint = f"did you mean '{best}'?" if best else "expected TracingPolicy or " \
        "TracingPolicyNamespaced"
    return None, [Finding(("kind",), f"'{kind}' is not a policy kind; {hint}",
                          at_value=True)], False


def _check_document(doc: Document) -> tuple[AnyPolicy | None, list[Finding]]:
    if not isinstance(doc.data, dict):
        return None, [Finding((), "a policy is a mapping with apiVersion, kind, metadata and "
                              f"spec; this document is {describe(doc.data)}")]
    model, findings, skipped = _kind_findings(doc.data, doc.index)
    if model is None:
        if not skipped and "apiVersion" not in doc.data:
            findings.append(Finding(("apiVersion",), "required field is missing; add "
                                    f"'apiVersion: {API_VERSION}'"))
        return None, findings
    nulls: set[tuple[PathPart, ...]] = set()
    data = _strip_nulls(doc.data, (), nulls)
    try:
        policy: AnyPolicy = model.model_validate(data)  # type: ignore[assignment]
    except ValidationError as err:
        out = []
        for finding in translate(model, err):
            if finding.path in nulls:
                finding = Finding(finding.path, "has no value (null); give it one")
            out.append(finding)
        unknown = [tuple(e["loc"]) for e in err.errors() if e["type"] == "extra_forbidden"]
        if len(unknown) == len(out):
            # only unknown fields: without them the policy is what was meant, so its
            # other errors can be reported now rather than after the next edit
            try:
                pruned: AnyPolicy = model.model_validate(_without(data, unknown))  # type: ignore[assignment]
            except ValidationError:
                return None, out
            out.extend(check_policy(pruned))
        return None, out
    return policy, [*check_policy(policy), *unsupported(policy)]


def _without(data: Any, paths: list[tuple[Any, ...]]) -> Any:
    """A copy of ``data`` without the keys at ``paths``."""
    drop = set(paths)

    def walk(node: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, (*path, k)) for k, v in node.items() if (*path, k) not in drop}
        if isinstance(node, list):
            return [walk(v, (*path, i)) for i, v in enumerate(node)]
        return node

    return walk(data, ())


def _locate(file: str, doc: Document, findings: Iterable[Finding]) -> list[Issue]:
    out = []
    for f in findings:
        m = doc.mark(f.path, value=f.at_value)
        out.append(Issue(file, m.line, m.column, format_path(f.path), f.message, f.severity))
    return out


def check_text(text: str, filename: str = "<string>") -> Report:
    """Validate every document of ``text``; never raises for what the text contains."""
    source = load_yaml(text, filename)
    issues = list(source.issues)
    policies = []
    for doc in source.documents:
        policy, findings = _check_document(doc)
        located = _locate(filename, doc, findings)
        issues.extend(located)
        if policy is not None and not any(i.severity is Severity.ERROR for i in located):
            policies.append(LoadedPolicy(policy, filename, doc))
    if not source.documents and not source.issues:
        issues.append(Issue(filename, 1, 1, "", "no policy in this file; a policy starts "
                            f"with 'apiVersion: {API_VERSION}'"))
    unique = sorted(dict.fromkeys(issues), key=lambda i: (i.line, i.column))
    return Report(filename, tuple(policies), tuple(unique))


def check_file(path: str | os.PathLike[str]) -> Report:
    """check_text on a file's contents (OSError if it cannot be read; undecodable
    UTF-8 is an issue, as a YAML reader reports it)."""
    name = os.fspath(path)
    with open(name, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        before = raw[: err.start]
        line = before.count(b"\n") + 1
        column = err.start - (before.rfind(b"\n") + 1) + 1
        issue = Issue(name, line, column, "", "not UTF-8 text; a policy file is UTF-8")
        return Report(name, (), (issue,))
    return check_text(text, name)


def _raise_or_return(report: Report, require_support: bool) -> list[LoadedPolicy]:
    blocking = report.blocking(tetragon_only=not require_support)
    if blocking:
        raise PolicyError(blocking)
    return list(report.policies)


def load_text(text: str, filename: str = "<string>", *, require_support: bool = True
              ) -> list[LoadedPolicy]:
    """The policies of ``text``; PolicyError with every blocking issue otherwise."""
    return _raise_or_return(check_text(text, filename), require_support)


def load_file(path: str | os.PathLike[str], *, require_support: bool = True
              ) -> list[LoadedPolicy]:
    """The policies of a file; PolicyError with every blocking issue otherwise."""
    return _raise_or_return(check_file(path), require_support)
