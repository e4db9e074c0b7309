"""Every lesson is complete: both explanations, its BPF objects built, the
features it needs known to the probe, and the places and names it points to
exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vigil.bpf_objects import object_path
from vigil.kernel.report import FEATURE_NAMES
from vigil.lab.lesson import LANGUAGES, Lesson
from vigil.lab.registry import LessonNotFoundError, all_lessons, get_lesson

REPO = Path(__file__).resolve().parents[2]
LESSONS = all_lessons()


def test_keys_are_unique_and_in_order() -> None:
    keys = [lesson.key for lesson in LESSONS]
    assert len(keys) == len(set(keys))
    demos = [int(k) for k in keys if k.isdigit()]
    assert demos == list(range(1, len(demos) + 1))


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.key)
def test_lesson_is_complete(lesson: Lesson) -> None:
    for obj in lesson.objects:
        assert object_path(obj).is_file()
    assert set(lesson.needs) <= set(FEATURE_NAMES), "needs must name vigil probe features"
    for lang in LANGUAGES:
        text = lesson.explanation(lang)
        assert text.startswith("# "), f"{lesson.text_path(lang)} has no title"
        # Every vigil path an explanation names must exist (Tetragon's are
        # written `tetragon/bpf/...`).
        for path in re.findall(r"`((?:bpf|src|tests|docs)/[\w./-]+)`", text):
            assert (REPO / path).exists(), f"{lesson.text_path(lang)} names missing {path}"


# The heading of the section that points into vigil's code, per language
# (the Chinese texts say 对应位置 or 对应实现).
WHERE_HEADINGS = {"en": "## Where vigil does this", "zh": "## vigil 中的对应"}
# A backticked code name: `vigil_exec`, `match_bits()`, `ProcessSensor.start`.
CODE_NAME = re.compile(r"([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?(?:\(\))?")


def where_section(text: str, lang: str) -> str:
    """The body of the explanation's "Where vigil does this" section."""
    heading = WHERE_HEADINGS[lang]
    found = re.search(rf"^{re.escape(heading)}[^\n]*\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert found, f"no section starting {heading!r}"
    return found.group(1)


def vigil_sources() -> dict[Path, str]:
    """vigil's code: the BPF side and the Python package, not the lesson texts."""
    files = [*REPO.glob("bpf/**/*.[ch]"), *REPO.glob("src/vigil/**/*.py")]
    return {f: f.read_text(encoding="utf-8") for f in files if "include" not in f.parts}


SOURCES = vigil_sources()
WORDS = frozenset(w for text in SOURCES.values() for w in re.findall(r"\w+", text))


def defines_member(owner: str, member: str) -> bool:
    """A file defines `class owner` and, in it, `member` (a method or property)."""
    return any(re.search(rf"^class {owner}\b", text, re.M)
               and re.search(rf"\bdef {member}\(", text) for text in SOURCES.values())


def test_vigil_sources_are_found() -> None:
    # The name check below is only as good as the tree it reads.
    assert {"vigil_exec", "vigil_generic_tp", "compile_selectors"} <= WORDS
    assert defines_member("ProcessSensor", "start")
    assert not defines_member("ProcessSensor", "no_such_method")
    assert "no_such_name_in_vigil" not in WORDS


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.key)
def test_where_vigil_does_this_names_code_that_exists(lesson: Lesson) -> None:
    """Every function, map, struct and constant a lesson points at in vigil's
    code is still there (renamed or removed code fails this, not a reader)."""
    for lang in LANGUAGES:
        section = where_section(lesson.explanation(lang), lang)
        for span in re.findall(r"`([^`]+)`", section):
            name = CODE_NAME.fullmatch(span)
            if name is None:
                continue  # a path (checked above), an expression or a log line
            owner, member = name.groups()
            if member is not None and not owner[0].isupper():
                continue  # a policy path (spec.tracepoints), not Class.member
            if member is None:
                assert owner in WORDS, f"{lesson.text_path(lang)} names missing {span}"
            else:
                assert defines_member(owner, member), \
                    f"{lesson.text_path(lang)} names {span}: no class {owner} defines {member}"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.key)
def test_lesson_has_its_kernel_test(lesson: Lesson) -> None:
    # `vigil lab run` points users without the hook at this file.
    assert (REPO / lesson.kernel_test).is_file()


def test_lookup_by_number_or_name() -> None:
    assert get_lesson("1").slug == "hello"
    assert get_lesson("01").slug == "hello"
    assert get_lesson("hello").key == "1"
    with pytest.raises(LessonNotFoundError, match="lessons are: 1 \\(hello\\)"):
        get_lesson("nope")
