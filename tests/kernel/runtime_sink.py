"""A Runtime started in the test process, with a sink that keeps every
event and its Tetragon JSON line (tests that drive the runtime directly)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vigil.encode.tetragon import JsonEncoder, RenderOptions
from vigil.events.model import Event
from vigil.runtime import Runtime, RuntimeConfig


class Collect:
    """Encoder and writer at once: events and their JSON lines, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lines: list[bytes] = []
        self.json = JsonEncoder(RenderOptions(node_name="test"))

    def encode(self, ev: Event) -> bytes:
        self.events.append(ev)
        line = self.json.encode(ev)
        self.lines.append(line)
        return line

    def write(self, line: bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    def reopen(self) -> None: ...
    def loss_counts(self) -> dict[str, int]:
        return {}


@pytest.fixture
def runtime() -> Iterator[tuple[Runtime, Collect]]:
    sink = Collect()
    rt = Runtime(RuntimeConfig(node_name="test"), sink, sink.encode)
    rt.start()
    with rt:
        yield rt, sink
