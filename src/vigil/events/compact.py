"""Events -> one human line each, like `tetra getevents -o compact`:

    🚀 process vm /usr/bin/curl https://example.org
    💥 exit    vm /usr/bin/curl https://example.org SIGKILL
"""

from __future__ import annotations

from vigil.events.model import PROCESS_EXEC, PROCESS_EXIT, Event

__all__ = ["CompactEncoder"]

_RESET = "\x1b[0m"
_COLOURS = {PROCESS_EXEC: "\x1b[32m", PROCESS_EXIT: "\x1b[35m"}  # green, magenta
_LABELS = {PROCESS_EXEC: ("🚀", "process"), PROCESS_EXIT: ("💥", "exit   ")}


class CompactEncoder:
    def __init__(self, node_name: str, colour: bool = False) -> None:
        self.node_name = node_name
        self.colour = colour

    def line(self, ev: Event) -> str:
        icon, label = _LABELS.get(ev.kind, ("❓", ev.kind))
        p = ev.process
        command = f"{p.binary} {p.arguments}" if p.arguments else p.binary
        text = f"{icon} {label} {self.node_name} {command}"
        if ev.kind == PROCESS_EXIT:
            text += f" {ev.signal or ev.status}"
        if self.colour and ev.kind in _COLOURS:
            return f"{_COLOURS[ev.kind]}{text}{_RESET}"
        return text

    def encode(self, ev: Event) -> bytes:
        return (self.line(ev) + "\n").encode("utf-8", "backslashreplace")
