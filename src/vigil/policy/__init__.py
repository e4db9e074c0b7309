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

from vigil.policy.errors import Issue, PolicyError, Severity
from vigil.policy.validate import (
    LoadedPolicy,
    Report,
    check_file,
    check_text,
    load_file,
    load_text,
)

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
