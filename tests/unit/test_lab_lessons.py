"""Every lesson is complete: both explanations, its BPF objects built, the
features it needs known to the probe, and the places it points to exist."""

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
