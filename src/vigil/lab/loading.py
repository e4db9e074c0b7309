"""Load an object with only some of its programs, as the pitfall lessons do.

A pitfall lesson loads its programs one at a time, because the verifier
refusing one of them is the lesson. libbpf would print each refusal on
stderr as well; that copy is kept quiet here, and the lesson shows the
refusal from LoadError.verifier_log instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from vigil.bpf_objects import object_path
from vigil.libbpf import Object, open_object

__all__ = ["load_only", "quiet_libbpf"]


@contextmanager
def quiet_libbpf() -> Iterator[None]:
    """Keep libbpf's warnings (a refused program's log) off stderr."""
    logger = logging.getLogger("vigil.libbpf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def load_only(object_rel: str, *programs: str, **rodata: int) -> Object:
    """Load the object (e.g. "lab/p1_stack.bpf.o") with just these programs,
    after setting its `const volatile` knobs; LoadError if the verifier refuses."""
    with open_object(object_path(object_rel)) as spec:
        for name, value in rodata.items():
            spec.set_rodata(name, value)
        for prog in spec.programs.values():
            prog.autoload = prog.name in programs
        with quiet_libbpf():
            return spec.load()
