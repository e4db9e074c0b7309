"""Layers import only downward (DESIGN.md §2): a module may import its own
layer and those below it, never one above, function-level imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "vigil"

# Bottom first. Each entry is a package or a top-level module of vigil.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("closing", "bpf_objects"),
    ("libbpf",),
    ("kernel",),
    ("wire",),
    ("process",),
    ("events",),
    ("encode",),
    ("export",),
    ("policy",),
    ("sensors",),
    ("agent",),
    ("runtime",),
    ("preflight", "run", "explain"),
    ("lab", "api"),
    ("cli", "__main__", "__init__"),
)
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def layer_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported_layers(path: Path) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "vigil" and len(parts) > 1:
                found.add((parts[1], node.lineno))
    return found


MODULES = sorted(p for p in SRC.rglob("*.py") if "gen" not in p.relative_to(SRC).parts)


def test_every_package_has_a_layer() -> None:
    assert {layer_of(p) for p in MODULES} <= set(RANK), (
        f"give these a place in LAYERS: {sorted({layer_of(p) for p in MODULES} - set(RANK))}")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_only_downward(path: Path) -> None:
    own = layer_of(path)
    upward = [f"line {line}: vigil.{name}" for name, line in sorted(imported_layers(path))
              if name in RANK and RANK[name] > RANK[own]]
    assert not upward, f"{path.relative_to(SRC)} ({own}) imports a layer above it: {upward}"
