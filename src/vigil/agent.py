"""The agent's main loop: ring-buffer batches -> decode -> process cache ->
events -> filters -> encoder -> writer.

Nothing here makes a syscall per event: records arrive in batches, output is
flushed once per batch.
"""

from __future__ import annotations

import re
import signal as signal_module
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from vigil.events.model import PROCESS_EXEC, PROCESS_EXIT, Event
from vigil.export.writers import Writer
from vigil.process.cache import ProcessCache
from vigil.process.model import Process
from vigil.wire.decode import CloneMsg, DecodeError, ExecMsg, ExitMsg, decode

__all__ = ["Agent", "EventFilter", "exit_status"]

EVENT_TYPES = (PROCESS_EXEC, PROCESS_EXIT)


def exit_status(code: int) -> tuple[int, str]:
    """task->exit_code -> (exit status, terminating signal's name or "")."""
    signo = code & 0x7F
    if signo:
        try:
            return 0, signal_module.Signals(signo).name
        except ValueError:
            return 0, f"SIG{signo}"
    return (code >> 8) & 0xFF, ""


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Export filters: an event passes when it matches every one given."""

    event_types: frozenset[str] = frozenset(EVENT_TYPES)
    binary_regex: tuple[re.Pattern[str], ...] = ()
    pids: frozenset[int] = frozenset()

    def __call__(self, ev: Event) -> bool:
        if ev.kind not in self.event_types:
            return False
        if self.pids and ev.process.pid not in self.pids:
            return False
        if not self.binary_regex:
            return True
        # The file actually executed, as Tetragon's matchBinaries sees it:
        # no spelling of the path (symlink, "..", /proc/self/fd/N) gets past.
        target = ev.process.exe or ev.process.binary
        return any(r.search(target) for r in self.binary_regex)


@dataclass
class Agent:
    cache: ProcessCache
    writer: Writer
    encode: Callable[[Event], bytes]
    accept: Callable[[Event], bool] = field(default_factory=EventFilter)
    with_ancestors: bool = False
    seen: Counter[str] = field(default_factory=Counter)
    exported: int = 0
    decode_errors: Counter[str] = field(default_factory=Counter)
    first_event_hook: Callable[[], None] | None = None

    def handle_batch(self, records: Iterable[bytes]) -> None:
        for rec in records:
            try:
                msg = decode(rec)
            except DecodeError as err:
                self.decode_errors[err.cause] += 1
                continue
            if isinstance(msg, ExecMsg):
                proc = self.cache.add_exec(msg)
                self._emit(PROCESS_EXEC, proc, msg.ktime)
            elif isinstance(msg, ExitMsg):
                ended = self.cache.exit(msg)
                if ended is not None:
                    status, sig = exit_status(msg.exit_code)
                    self._emit(PROCESS_EXIT, ended, msg.ktime, status, sig)
                    self.cache.release(ended)
            elif isinstance(msg, CloneMsg):
                self.cache.add_clone(msg)
                self.seen["process_clone"] += 1
        self.writer.flush()

    def _emit(self, kind: str, proc: Process, ktime: int, status: int = 0, sig: str = "") -> None:
        self.seen[kind] += 1
        ev = Event(
            kind=kind,
            time_ns=self.cache.clock.from_ktime(ktime),
            process=proc,
            parent=self.cache.parent(proc),
            status=status,
            signal=sig,
        )
        if not self.accept(ev):
            return
        if self.with_ancestors:
            ev.ancestors = list(self.cache.ancestors(proc))
        self.writer.write(self.encode(ev))
        self.exported += 1
        if self.first_event_hook is not None:
            self.first_event_hook()
            self.first_event_hook = None
