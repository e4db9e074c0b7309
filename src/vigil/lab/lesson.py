"""What a lesson is, and what it gets when it runs.

A lesson is one module in vigil/lab/lessons/ holding `LESSON = Lesson(...)`:
its prebuilt BPF object (bpf/lab/<key>_<slug>.bpf.c), the kernel features it
needs (names from `vigil probe`), and a `run` function. `run` loads the object,
triggers what it observes (unless told not to), shows what it sees through
`ctx.show`, and returns the same observations as data so a test can assert
them. Explanations live beside it in vigil/lab/text/<key>-<slug>.<lang>.md.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.libbpf import RingBuffer

__all__ = ["LANGUAGES", "LabContext", "Lesson", "LessonResult"]

LANGUAGES = ("en", "zh")
TEXT_DIR = Path(__file__).resolve().parent / "text"


@dataclass
class LessonResult:
    """What a run saw. `observations` are plain dicts (one per trace line,
    event or map entry) for tests; `summary` is one line for people."""

    observations: list[dict[str, Any]] = field(default_factory=list)
    summary: str = ""
    triggered: list[int] = field(default_factory=list)  # pids of the trigger processes


@dataclass
class LabContext:
    """Given to a lesson's run(): how long to run, whether to trigger, where
    to print.

    With `until_seen` (what tests use) the run ends as soon as the lesson has
    seen everything its own triggers did (it calls `seen()`), and `duration`
    is only the bound on waiting for that: a slow kernel may need all of it,
    a fast one none. Without it a run lasts `duration`, for a person watching.
    """

    duration: float | None = 5.0  # None: until Ctrl-C
    trigger: bool = True
    show: Callable[[str], None] = print
    stop: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    until_seen: bool = False

    def seen(self) -> None:
        """The lesson has observed all its triggers did: with `until_seen`
        the run ends now."""
        if self.until_seen:
            self.stop.set()

    def running(self) -> bool:
        if self.stop.is_set():
            return False
        return self.duration is None or time.monotonic() - self.started < self.duration

    def remaining(self) -> float:
        if self.duration is None:
            return 3600.0
        return max(0.0, self.duration - (time.monotonic() - self.started))

    def spawn(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a trigger process; its output is discarded unless asked for."""
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        return subprocess.Popen(list(argv), **kwargs)

    def run_trigger(self, argv: Sequence[str], **kwargs: Any) -> int:
        """Run a trigger process to completion; returns its pid."""
        child = self.spawn(argv, **kwargs)
        child.wait()
        return child.pid

    def records(self, ring: RingBuffer) -> Iterator[bytes]:
        """Each record from the ring buffer until the run ends, polled in 0.2 s
        steps. It polls at least once, even after the end: a slow trigger may
        outlast the duration, and its records are read all the same."""
        while True:
            yield from ring.poll(int(min(0.2, self.remaining()) * 1000))
            if not self.running():
                return


@dataclass(frozen=True)
class Lesson:
    key: str  # "1".."10" for the guide's demos, "p1".. for the pitfalls
    slug: str
    title: str
    teaches: str  # one line: the concept
    title_zh: str
    teaches_zh: str
    objects: tuple[str, ...]  # BPF objects under bpf_objects/, e.g. "lab/01_hello.bpf.o"
    run: Callable[[LabContext], LessonResult]
    needs: tuple[str, ...] = ("tracepoint",)  # vigil probe feature names
    guide_section: str = ""  # where the guide has it, e.g. "§3 Demo 1"

    @property
    def kernel_test(self) -> str:
        """The test that proves this lesson on a real kernel (repository path)."""
        return f"tests/kernel/test_lab_{self.key}_{self.slug.replace('-', '_')}.py"

    def text_path(self, lang: str) -> Path:
        return TEXT_DIR / f"{self.key}-{self.slug}.{lang}.md"

    def explanation(self, lang: str = "en") -> str:
        if lang not in LANGUAGES:
            raise ValueError(f"no explanations in {lang!r}; available: {', '.join(LANGUAGES)}")
        return self.text_path(lang).read_text(encoding="utf-8")

