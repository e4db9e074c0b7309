"""Events as exporters and filters see them."""

from __future__ import annotations

from dataclasses import dataclass, field

from vigil.process.model import Process

__all__ = ["PROCESS_EXEC", "PROCESS_EXIT", "Event"]

PROCESS_EXEC = "process_exec"
PROCESS_EXIT = "process_exit"


@dataclass(slots=True)
class Event:
    kind: str  # Tetragon's event type name, e.g. "process_exec"
    time_ns: int  # wall clock
    process: Process
    parent: Process | None = None
    ancestors: list[Process] = field(default_factory=list)
    status: int = 0  # process_exit: exit code
    signal: str = ""  # process_exit: terminating signal's name, if any
