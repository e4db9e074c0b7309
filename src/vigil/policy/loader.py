"""YAML text -> plain Python documents, with the line and column of every key and value.

PyYAML's compose API (``SafeLoader``: no Python object tags) gives a node tree
whose nodes carry start marks; this module walks it once, building dicts,
lists and scalars and, beside them, a table from each path inside the document
to the marks of its key and its value. Later layers (pydantic's errors, the
cross-field checks, the planner) name a path and this table turns it into a
line and column.

What plain ``yaml.safe_load`` gets wrong for a policy language, done here:
duplicate keys are an error (PyYAML keeps the last one silently), non-string
keys and merge keys (``<<``) are refused, a recursive alias or an alias bomb
stops with an error instead of hanging, and a syntax error in the third
document still reports the first two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vigil.policy.errors import Issue, PathPart, format_path

__all__ = ["Document", "Mark", "Path", "SourceText", "load_yaml"]

Path = tuple[PathPart, ...]

# An alias-expansion bomb ("billion laughs") multiplies nodes without growing the
# text; real policies have a few thousand values at most.
MAX_VALUES = 200_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True, slots=True)
class Mark:
    """A position in the text, 1-based."""

    line: int
    column: int


def _mark(m: yaml.Mark | None) -> Mark:
    if m is None:
        return Mark(1, 1)
    return Mark(m.line + 1, m.column + 1)


@dataclass(frozen=True)
class Document:
    """One YAML document: its data and where each path of it is written."""

    index: int
    data: Any
    start: Mark
    # path -> (mark of the key, mark of the value); list items have both at the item
    marks: Mapping[Path, tuple[Mark, Mark]] = field(repr=False)

    def mark(self, path: Path, *, value: bool = False) -> Mark:
        """Where ``path`` is written, or its nearest written ancestor (a missing field)."""
        for end in range(len(path), -1, -1):
            got = self.marks.get(path[:end])
            if got is not None:
                return got[1] if value and end == len(path) else got[0]
        return self.start


@dataclass(frozen=True)
class SourceText:
    """A whole file: its documents, and the problems found while reading it."""

    name: str
    documents: tuple[Document, ...]
    issues: tuple[Issue, ...]


class _TooBig(Exception):
    pass


class _Builder:
    def __init__(self, filename: str, loader: yaml.SafeLoader, budget: list[int]) -> None:
        self.filename = filename
        self.loader = loader
        self.budget = budget
        self.marks: dict[Path, tuple[Mark, Mark]] = {}
        self.issues: list[Issue] = []
        self._active: set[int] = set()

    def issue(self, node: Node, path: Path, message: str) -> None:
        m = _mark(node.start_mark)
        self.issues.append(Issue(self.filename, m.line, m.column, format_path(path), message))

    def build(self, node: Node, path: Path) -> Any:
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise _TooBig(node)
        if id(node) in self._active:
            self.issue(node, path, "recursive YAML alias; write the value out instead")
            return None
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        self._active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                items: list[Any] = []
                for i, item in enumerate(node.value):
                    m = _mark(item.start_mark)
                    self.marks[(*path, i)] = (m, m)
                    items.append(self.build(item, (*path, i)))
                return items
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
        finally:
            self._active.discard(id(node))
        self.issue(node, path, f"unexpected YAML node {type(node).__name__}")
        return None

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self.issue(key_node, path, "YAML merge keys (<<) are not supported; "
                           "write the fields out")
                continue
            key = self._scalar(key_node, path) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                shown = "a list or mapping" if key is None else repr(key)
                self.issue(key_node, path, f"mapping key {shown} is not a string; "
                           "field names are strings (quote it if it must be a number)")
                continue
            key_mark = _mark(key_node.start_mark)
            if key in out:
                self.issue(key_node, (*path, key), f"duplicate key '{key}' (first at line "
                           f"{first_line[key]}); keep only one of them")
                continue
            first_line[key] = key_mark.line
            self.marks[(*path, key)] = (key_mark, _mark(value_node.start_mark))
            out[key] = self.build(value_node, (*path, key))
        return out

    def _scalar(self, node: ScalarNode, path: Path) -> Any:
        try:
            return self.loader.construct_object(node)
        except yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or str(err)
            self.issue(node, path, f"YAML: {problem}")
            return None


def _syntax_issue(filename: str, err: yaml.YAMLError, text: str) -> Issue:
    if isinstance(err, yaml.MarkedYAMLError):
        m = _mark(err.problem_mark or err.context_mark)
        what = " ".join(p for p in (err.context, err.problem) if p)
        return Issue(filename, m.line, m.column, "", f"YAML syntax: {what}; fix the YAML "
                     "at this position")
    if isinstance(err, yaml.reader.ReaderError):
        before = text[: err.position]
        line = before.count("\n") + 1
        column = err.position - (before.rfind("\n") + 1) + 1
        return Issue(filename, line, column, "", f"YAML: character U+{err.character:04X} "
                     "is not allowed in YAML text; remove it")
    return Issue(filename, 1, 1, "", f"YAML: {err}")


def load_yaml(text: str, filename: str = "<string>") -> SourceText:
    """Every document of ``text``; a broken document ends the file but keeps the earlier ones."""
    docs: list[Document] = []
    issues: list[Issue] = []
    budget = [MAX_VALUES]
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as err:  # the reader checks every character up front
        return SourceText(filename, (), (_syntax_issue(filename, err, text),))
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            builder = _Builder(filename, loader, budget)
            start = _mark(node.start_mark)
            data = builder.build(node, ())
            issues.extend(builder.issues)
            if data is None and isinstance(node, ScalarNode):
                continue  # an empty document, e.g. a trailing ---
            marks = builder.marks
            marks[()] = (start, start)
            docs.append(Document(len(docs), data, start, marks))
    except _TooBig as big:
        m = _mark(big.args[0].start_mark)
        issues.append(Issue(filename, m.line, m.column, "", f"YAML: more than {MAX_VALUES} "
                            "values (an alias bomb?); a policy is much smaller"))
    except RecursionError:
        m = _mark(loader.get_mark())
        issues.append(Issue(filename, m.line, m.column, "", "YAML: nesting too deep; "
                            "a policy nests a few levels only"))
    except yaml.YAMLError as err:
        issues.append(_syntax_issue(filename, err, text))
    finally:
        loader.dispose()
    return SourceText(filename, tuple(docs), tuple(issues))
