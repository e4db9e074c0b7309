"""TracingPolicy: load, validate (every error with file:line:column and path), and say
what vigil does not implement yet.

    from vigil.policy import load_file, PolicyError
    try:
        policies = load_file("policy.yaml")      # list[LoadedPolicy]
    except PolicyError as err:
        for issue in err.issues: print(issue)    # FILE:LINE:COL: spec.x[0].y: what; fix

Modules, bottom first: errors (Issue, PolicyError), loader (YAML with marks),
enums and model (Tetragon's spec as pydantic models), limits, translate
(pydantic's errors for people), checks (Tetragon's checks beyond its schema),
support (what vigil implements, as data), validate (the pipeline), cli.
"""

from typing import TYPE_CHECKING

from vigil.policy.errors import Issue, PolicyError, Severity

if TYPE_CHECKING:
    from vigil.policy.validate import (
        LoadedPolicy,
        Report,
        check_file,
        check_text,
        load_file,
        load_text,
    )

# The validation pipeline builds Tetragon's whole spec as pydantic models when
# imported (a quarter of a second here, many seconds under emulation): only
# what uses it pays, not every `vigil` command that names PolicyError.
_FROM_VALIDATE = frozenset({"LoadedPolicy", "Report", "check_file", "check_text", "load_file",
                            "load_text"})


def __getattr__(name: str) -> object:
    if name in _FROM_VALIDATE:
        from vigil.policy import validate

        return getattr(validate, name)
    raise AttributeError(f"module 'vigil.policy' has no attribute {name!r}")

__all__ = [
    "Issue",
    "LoadedPolicy",
    "PolicyError",
    "Report",
    "Severity",
    "check_file",
    "check_text",
    "load_file",
    "load_text",
]
