"""Every lesson, in teaching order: the guide's demos 1-10, then the pitfalls.

Lessons are found, not listed: each module in vigil.lab.lessons that defines
LESSON is one, so adding a lesson touches no shared file.
"""

from __future__ import annotations

import importlib
import pkgutil

from vigil.lab import lessons as lessons_package
from vigil.lab.lesson import Lesson

__all__ = ["LessonNotFoundError", "all_lessons", "get_lesson"]


class LessonNotFoundError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def _order(lesson: Lesson) -> tuple[int, int]:
    # "3" -> (0, 3); pitfall "p2" -> (1, 2)
    if lesson.key.isdigit():
        return (0, int(lesson.key))
    return (1, int(lesson.key.lstrip("p") or 0))


def all_lessons() -> list[Lesson]:
    found = []
    for info in pkgutil.iter_modules(lessons_package.__path__):
        module = importlib.import_module(f"{lessons_package.__name__}.{info.name}")
        lesson = getattr(module, "LESSON", None)
        if isinstance(lesson, Lesson):
            found.append(lesson)
    return sorted(found, key=_order)


def get_lesson(key: str) -> Lesson:
    key = key.lower()
    if key.isdigit():
        key = str(int(key))
    for lesson in all_lessons():
        if key in (lesson.key, lesson.slug):
            return lesson
    known = ", ".join(f"{lesson.key} ({lesson.slug})" for lesson in all_lessons())
    raise LessonNotFoundError(f"no lesson {key!r}; lessons are: {known}")
