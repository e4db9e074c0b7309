"""Events -> one human line each, like `tetra getevents -o compact`:

    🚀 process vm /usr/bin/curl https://example.org
    💥 exit    vm /usr/bin/curl https://example.org SIGKILL

Every field is escaped for a terminal: a process controls its arguments, its
binary's path and its working directory, and a newline or an escape sequence
printed raw would let it forge whole lines or rewrite the screen. Anything
that is not printable (controls, format characters such as bidi overrides,
line separators, spaces other than the plain one) becomes a \\xNN, \\uNNNN or
\\UNNNNNNNN escape, and a literal backslash becomes \\\\, so each line is
exactly one event and reads back unambiguously.
"""

from __future__ import annotations

from vigil.encode.compact_kprobe import kprobe_line
from vigil.events.model import (
    PROCESS_EXEC,
    PROCESS_EXIT,
    PROCESS_TRACEPOINT,
    PROCESS_UPROBE,
    Event,
    KprobeEvent,
    SyscallId,
    TracepointEvent,
    UprobeEvent,
)
from vigil.kernel.syscall_table import SYSCALLS
from vigil.kernel.syscalls import default_abi

__all__ = ["CompactEncoder", "escape"]

_RESET = "\x1b[0m"
_COLOURS = {PROCESS_EXEC: "\x1b[32m", PROCESS_EXIT: "\x1b[35m"}  # green, magenta
# As `tetra getevents -o compact` prints them (Tetragon's pkg/encoder).
_LABELS = {PROCESS_EXEC: ("🚀", "process"), PROCESS_EXIT: ("💥", "exit   "),
           PROCESS_TRACEPOINT: ("⁉️", "tracepoint"), PROCESS_UPROBE: ("🕵️", "uprobe ")}


# ABI -> syscall number -> name, for raw_syscalls lines
_NAMES = {abi: {nr: name for name, nr in table.items()} for abi, table in SYSCALLS.items()}


def syscall_label(ev: TracepointEvent) -> str:
    """What Tetragon's compact line names a raw_syscalls/sys_enter event by
    (pkg/encoder/raw_syscall_enter.go): the syscall its first argument names,
    with its ABI when that is not the machine's, or "unknown". (Tetragon adds
    the call's prototype from its own table, which vigil does not have.)"""
    nr, abi = -1, default_abi()
    native = abi
    first = ev.args[0].value if ev.args else None
    if isinstance(first, SyscallId):
        nr, abi = first.id, first.abi
    elif ev.args and ev.args[0].key == "long_arg" and isinstance(first, int):
        nr = first
    name = _NAMES.get(abi, {}).get(nr)
    if name is None:
        return "unknown"
    return name if abi == native else f"{abi}/{name}"


def _escape_char(ch: str) -> str:
    cp = ord(ch)
    if cp < 0x100:
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def escape(text: str, backslash: bool = True) -> str:
    """`text` safe for one terminal line. `backslash=False` for text whose
    backslashes are already escaped (quoted arguments)."""
    if text.isprintable() and not (backslash and "\\" in text):
        return text  # the common case, in one C-speed check
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\" if backslash else ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(_escape_char(ch))
    return "".join(out)


class CompactEncoder:
    def __init__(self, node_name: str, colour: bool = False) -> None:
        self.node_name = escape(node_name)
        self.colour = colour

    def line(self, ev: Event) -> str:
        icon, label = _LABELS.get(ev.kind, ("❓", ev.kind))
        raw_syscall = isinstance(ev, TracepointEvent) and (ev.subsys, ev.event) == (
            "raw_syscalls", "sys_enter")
        if raw_syscall:
            icon, label = "☎ ", "syscall"
        p = ev.process
        binary = escape(p.binary)
        # quote_args already doubled every backslash of an argument (and
        # quoted it): only what is not printable is left to escape.
        command = f"{binary} {escape(p.arguments, backslash=False)}" if p.arguments else binary
        if isinstance(ev, KprobeEvent):
            return kprobe_line(ev, f"{self.node_name} {command}", escape)
        text = f"{icon} {label} {self.node_name} {command}"
        if ev.kind == PROCESS_EXIT:
            text += f" {escape(ev.signal) or ev.status}"
        elif isinstance(ev, TracepointEvent) and raw_syscall:
            text += f" {syscall_label(ev)}"
        elif isinstance(ev, TracepointEvent):
            text += f" {escape(ev.subsys)} {escape(ev.event)}"
        elif isinstance(ev, UprobeEvent):
            # tetra prints the symbol only, empty for an offset
            text += f" {escape(ev.path)} {escape(ev.symbol)}"
        if self.colour and ev.kind in _COLOURS:
            return f"{_COLOURS[ev.kind]}{text}{_RESET}"
        return text

    def encode(self, ev: Event) -> bytes:
        return (self.line(ev) + "\n").encode("utf-8", "backslashreplace")
