"""Where Tetragon v1.7.0's example policies are: $VIGIL_TETRAGON_EXAMPLES,
else ../shared/tetragon-examples beside the checkout (where this project's
machines and CI keep them; there is no network to fetch them)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["EXAMPLES", "MISSING", "runnable_example"]

EXAMPLES = Path(os.environ.get("VIGIL_TETRAGON_EXAMPLES") or
                Path(__file__).resolve().parents[1].parent / "shared" / "tetragon-examples")
MISSING = (f"Tetragon's example policies are not in {EXAMPLES}: put the examples/ directory "
           "of Tetragon v1.7.0 there (../shared/tetragon-examples next to the checkout), or "
           "name it in VIGIL_TETRAGON_EXAMPLES")


def runnable_example(relative: str) -> Path:
    """Example policy `relative` (under EXAMPLES), or a skip saying why it
    cannot run here: the examples are absent, or a hook has no rung on this
    kernel (the VM matrix runs it)."""
    import pytest

    from vigil.policy import PolicyError, load_text
    from vigil.sensors.compile import compile_policy

    f = EXAMPLES / relative
    if not f.exists():
        pytest.skip(MISSING)
    for loaded in load_text(f.read_text(), str(f)):
        try:
            compile_policy(loaded)
        except PolicyError as err:
            pytest.skip(f"no rung for it here: {err.issues[0].message}")
    return f
