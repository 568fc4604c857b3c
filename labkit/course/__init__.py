"""The course kit: exercises in notebooks, student and instructor versions, and the book.

An exercise is a code cell tagged ``exercise`` whose metadata names it
(``{"exercise": {"id": "mode_truncation", "hint": "keep the lowest modes"}}``) and whose
solution sits between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines. The student version
replaces each block by ``raise NotImplementedError(hint)``; the instructor version keeps it.
"""

from labkit.course.config import CourseConfig, CourseError, CourseNotebook, load_course
from labkit.course.markers import Exercise, find_exercises, student_source
from labkit.course.versions import build_course

__all__ = [
    "CourseConfig",
    "CourseError",
    "CourseNotebook",
    "Exercise",
    "build_course",
    "find_exercises",
    "load_course",
    "student_source",
]
