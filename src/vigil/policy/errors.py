"""What can be wrong with a policy file, and the exception that carries it all.

Every problem is an :class:`Issue` that names the file, the line and column, the
path inside the document (``spec.kprobes[0].args[1].type``), what is wrong and
what would be right. A file's issues are collected, never raised one by one::

    PolicyError            raised when a file has at least one ERROR (or, when the
    │                      caller asks for it, an UNSUPPORTED) issue; .issues has all
    └── Issue              one problem: file, line, column, path, message, severity
        └── Severity       ERROR (Tetragon would reject it, or YAML is broken),
                           UNSUPPORTED (valid Tetragon, not implemented by vigil yet),
                           WARNING (accepted, but probably not what was meant)
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Issue", "PolicyError", "Severity", "format_path"]


class Severity(enum.Enum):
    ERROR = "error"
    UNSUPPORTED = "unsupported"
    WARNING = "warning"


PathPart = str | int


def format_path(path: Sequence[PathPart]) -> str:
    """("spec", "kprobes", 0, "args", 1) -> "spec.kprobes[0].args[1]"."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif not part or any(c in part for c in ".[]\"' \t\n"):
            out.append(json.dumps(part).join("[]"))  # a key that is no plain name: ["a.b"]
        elif out:
            out.append(f".{part}")
        else:
            out.append(part)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem, located. line and column are 1-based, as editors count."""

    file: str
    line: int
    column: int
    path: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}: "
        tag = "warning: " if self.severity is Severity.WARNING else ""
        path = f"{self.path}: " if self.path else ""
        return f"{where}{tag}{path}{self.message}"


class PolicyError(ValueError):
    """A policy file that cannot be used; ``issues`` holds every problem found."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues) or "invalid policy")
