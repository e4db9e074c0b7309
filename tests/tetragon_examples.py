"""Where Tetragon v1.7.0's example policies are: $VIGIL_TETRAGON_EXAMPLES,
else ../shared/tetragon-examples beside the checkout (where this project's
machines and CI keep them; there is no network to fetch them)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["EXAMPLES", "MISSING"]

EXAMPLES = Path(os.environ.get("VIGIL_TETRAGON_EXAMPLES") or
                Path(__file__).resolve().parents[1].parent / "shared" / "tetragon-examples")
MISSING = (f"Tetragon's example policies are not in {EXAMPLES}: put the examples/ directory "
           "of Tetragon v1.7.0 there (../shared/tetragon-examples next to the checkout), or "
           "name it in VIGIL_TETRAGON_EXAMPLES")
