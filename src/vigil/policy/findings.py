"""A problem found at a path inside a document, before it is given a line number.

The checks (pydantic's, vigil's cross-field checks, the support table) speak in
paths; vigil.policy.validate turns each Finding into an Issue with the line and
column that the loader recorded for that path.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.policy.errors import PathPart, Severity

__all__ = ["Finding", "Findings"]


@dataclass(frozen=True, slots=True)
class Finding:
    path: tuple[PathPart, ...]
    message: str
    severity: Severity = Severity.ERROR
    # locate the value (a wrong value) rather than the key (a wrong or missing field)
    at_value: bool = False


class Findings:
    """An append-only collection with one method per severity."""

    def __init__(self) -> None:
        self.items: list[Finding] = []

    def error(self, path: tuple[PathPart, ...], message: str, *, value: bool = False) -> None:
        self.items.append(Finding(path, message, Severity.ERROR, value))

    def warn(self, path: tuple[PathPart, ...], message: str, *, value: bool = False) -> None:
        self.items.append(Finding(path, message, Severity.WARNING, value))

    def unsupported(self, path: tuple[PathPart, ...], message: str, *,
                    value: bool = False) -> None:
        self.items.append(Finding(path, message, Severity.UNSUPPORTED, value))
