"""Where the compiled BPF objects are: built by `make build` into the package."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["BpfObjectMissingError", "object_path"]

_PACKAGE_DIR = Path(__file__).resolve().parent / "bpf_objects"


class BpfObjectMissingError(FileNotFoundError):
    pass


def object_path(relative: str) -> Path:
    """Path of a BPF object such as "process/process.bpf.o". $VIGIL_BPF_DIR
    overrides the package's own directory."""
    base = Path(os.environ.get("VIGIL_BPF_DIR", _PACKAGE_DIR))
    path = base / relative
    if not path.is_file():
        raise BpfObjectMissingError(
            f"BPF object {path} not found: build the kernel side first with `make build`"
        )
    return path
