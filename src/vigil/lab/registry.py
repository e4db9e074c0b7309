"""Every lesson, in teaching order."""

from __future__ import annotations

import importlib

from vigil.lab.lesson import Lesson

__all__ = ["LessonNotFoundError", "all_lessons", "get_lesson"]

# Module names under vigil.lab.lessons; a lesson module holds LESSON.
LESSON_MODULES = (
    "l01_hello",
)


class LessonNotFoundError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def all_lessons() -> list[Lesson]:
    return [importlib.import_module(f"vigil.lab.lessons.{m}").LESSON for m in LESSON_MODULES]


def get_lesson(key: str) -> Lesson:
    key = key.lower().lstrip("0") or key
    for lesson in all_lessons():
        if key in (lesson.key, lesson.slug):
            return lesson
    known = ", ".join(f"{lesson.key} ({lesson.slug})" for lesson in all_lessons())
    raise LessonNotFoundError(f"no lesson {key!r}; lessons are: {known}")
