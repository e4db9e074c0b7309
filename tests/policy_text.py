"""Helpers for the policy tests: a policy's text from its spec, and its issues as lines."""

from __future__ import annotations

import textwrap

from vigil.policy import Severity, check_text

HEADER = """\
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: test
spec:
"""
# the spec given to policy() starts on this line of the text
SPEC_LINE = HEADER.count("\n") + 1


def policy(spec: str) -> str:
    """A TracingPolicy whose spec is ``spec`` (indented by the caller as under spec:)."""
    return HEADER + textwrap.indent(textwrap.dedent(spec).strip("\n") + "\n", "  ")


def lines(text: str, *severities: Severity) -> list[str]:
    """The issues of ``text`` as printed, without the file name, of these severities
    (default: errors)."""
    wanted = set(severities or (Severity.ERROR,))
    report = check_text(text, "p.yaml")
    return [str(i).removeprefix("p.yaml:") for i in report.issues if i.severity in wanted]


def errors(spec: str) -> list[str]:
    return lines(policy(spec))


def warnings(spec: str) -> list[str]:
    return lines(policy(spec), Severity.WARNING)
