"""pydantic's validation errors -> Findings that say what is wrong and what would be right.

pydantic reports ``('spec', 'kprobes', 0, 'typ') extra_forbidden``; a person
wants ``unknown field 'typ'; did you mean 'type'?``. The allowed field names
and enum words come from the model classes themselves (walked along the
error's location), so the messages can never disagree with the models.
"""

from __future__ import annotations

import datetime
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from vigil.policy.errors import PathPart, format_path
from vigil.policy.findings import Finding
from vigil.policy.suggest import closest, one_of

__all__ = ["describe", "translate"]

# what a field's enum is called in a message, by field name
_VOCABULARY = {
    "type": "type",
    "operator": "operator",
    "action": "action",
    "namespace": "namespace",
    "apiVersion": "apiVersion",
    "kind": "kind",
}


def describe(value: Any) -> str:
    """A YAML reader's name for a value: "string 'x'", "integer 1", "a mapping"."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, datetime.date):
        return f"timestamp {value.isoformat()}"
    if isinstance(value, bytes):
        return "binary data"
    return type(value).__name__


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is typing.Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(tp) if a is not type(None)]
            tp = rest[0] if len(rest) == 1 else tp
            if len(rest) != 1:
                return tp
        else:
            return tp


def _field(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return info.annotation
    return None


def _type_at(root: type[BaseModel], loc: tuple[PathPart, ...]) -> Any:
    """The annotation reached by following ``loc`` from ``root`` (None if lost)."""
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
            tp = _field(tp, part)
        elif origin is list and isinstance(part, int):
            tp = get_args(tp)[0]
        elif origin is dict and isinstance(part, str):
            tp = get_args(tp)[1]
        else:
            return None
        if tp is None:
            return None
    return _unwrap(tp)


def _aliases(model: Any) -> list[str]:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [info.alias or name for name, info in model.model_fields.items()]
    return []


def _literals(tp: Any) -> list[str]:
    if get_origin(tp) is Literal:
        return [str(a) for a in get_args(tp)]
    return []


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "float_type": "a number",
}


def _hint(kind: str, value: Any) -> str:
    if kind == "string_type" and isinstance(value, bool | int | float):
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        return f'; quote it: "{shown}"'
    if kind == "int_type" and isinstance(value, str):
        return "; write the number without quotes"
    if kind == "bool_type" and isinstance(value, str):
        return "; write true or false without quotes"
    if kind in ("list_type",) and not isinstance(value, list):
        return "; write it as a list (items starting with '- ')"
    return ""


def _one(root: type[BaseModel], err: Any) -> Finding:
    loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    name = next((p for p in reversed(loc) if isinstance(p, str)), "")
    if kind == "extra_forbidden":
        allowed = _aliases(_type_at(root, loc[:-1]))
        best = closest(str(loc[-1]), allowed)
        if best is not None:
            return Finding(loc, f"unknown field '{loc[-1]}'; did you mean '{best}'?")
        return Finding(loc, f"unknown field '{loc[-1]}'; the fields here are "
                            f"{one_of(sorted(allowed))}")
    if kind == "missing":
        parent = format_path(loc[:-1]) or "the document"
        return Finding(loc, f"required field is missing; add '{loc[-1]}:' to {parent}")
    if kind == "literal_error":
        allowed = _literals(_type_at(root, loc))
        what = _VOCABULARY.get(name, name)
        if not isinstance(value, str):
            return Finding(loc, f"expected one of {one_of(allowed)}, got {describe(value)}",
                           at_value=True)
        best = closest(value, allowed) if allowed else None
        head = f"'{value}' is not a valid {what}"
        if best is not None and best.lower() == value.lower():
            return Finding(loc, f"{head}; did you mean '{best}'? (Tetragon spells it "
                                "exactly so)", at_value=True)
        if best is not None:
            return Finding(loc, f"{head}; did you mean '{best}'?", at_value=True)
        return Finding(loc, f"{head}; expected {one_of(allowed)}", at_value=True)
    if kind in _EXPECTED:
        return Finding(loc, f"expected {_EXPECTED[kind]}, got {describe(value)}"
                            f"{_hint(kind, value)}", at_value=True)
    if kind == "greater_than_equal":
        return Finding(loc, f"{describe(value)} is too small; the least allowed is "
                            f"{ctx.get('ge')}", at_value=True)
    if kind == "less_than_equal":
        return Finding(loc, f"{describe(value)} is too large; the most allowed is "
                            f"{ctx.get('le')}", at_value=True)
    message = str(err.get("msg", kind))
    return Finding(loc, f"{message[:1].lower()}{message[1:]}", at_value=True)


def translate(root: type[BaseModel], error: ValidationError) -> list[Finding]:
    """Every error of ``error`` (validating ``root``) as a Finding, in document order."""
    return [_one(root, e) for e in error.errors(include_url=False)]
