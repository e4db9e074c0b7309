"""Compact output is one line per event whatever bytes a process chose for
its arguments or its binary's path, and the escapes read back exactly."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from vigil.encode.compact import CompactEncoder, escape
from vigil.events.model import PROCESS_EXEC, PROCESS_EXIT, Event
from vigil.process.model import Process, quote_args

_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: "\\" if m.group(1) == "\\" else chr(int(m.group(1)[1:], 16)),
                       text)


def proc(binary: str, argv: list[str]) -> Process:
    return Process(key=(1, 1), exec_id="x", pid=1, tid=1, binary=binary,
                   arguments=quote_args(argv), cwd="/", flags=1, start_time="t")


def test_the_reported_forgery_stays_on_its_line() -> None:
    enc = CompactEncoder("vm")
    line = enc.line(Event(PROCESS_EXEC, 0, proc("/usr/bin/true",
                                                  ["x\n🚀 process vm /usr/bin/sshd FORGED"])))
    assert line == '🚀 process vm /usr/bin/true "x\\x0a🚀 process vm /usr/bin/sshd FORGED"'


def test_escape_sequences_and_bidi_overrides_are_shown_not_obeyed() -> None:
    assert escape("/tmp/\x1b[2J\x1b[Hx") == "/tmp/\\x1b[2J\\x1b[Hx"
    assert escape("a\u202eb\u2028c\xa0d") == "a\\u202eb\\u2028c\\xa0d"
    assert escape("\x7f\x9b") == "\\x7f\\x9b"
    assert escape("C:\\path") == "C:\\\\path"
    assert escape("plain /usr/bin/x ünïcode 🚀") == "plain /usr/bin/x ünïcode 🚀"


texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(texts, st.lists(texts.filter(lambda a: "\0" not in a), max_size=4), texts)
def test_any_binary_and_arguments_give_one_printable_line(binary: str, argv: list[str],
                                                          signal: str) -> None:
    enc = CompactEncoder("node\n2", colour=False)
    for ev in (Event(PROCESS_EXEC, 0, proc(binary, argv)),
               Event(PROCESS_EXIT, 0, proc(binary, argv), signal=signal)):
        raw = enc.encode(ev)
        assert raw.endswith(b"\n") and raw.count(b"\n") == 1
        line = raw[:-1].decode()
        assert line.isprintable(), line


@given(texts)
def test_escaping_reads_back_exactly(text: str) -> None:
    assert unescape(escape(text)) == text
    assert escape(text).isprintable()
