"""Deprecated alias of :mod:`labkit.course.exercises` (the exercise checks), kept until 0.2.

``from labkit.check import check_close`` still works and warns once; write
``from labkit.course.exercises import check_close``.
"""

from __future__ import annotations

import warnings

from labkit.course.exercises import (
    ExerciseCheckFailed,
    check_close,
    check_conserved,
    check_shape,
    check_true,
)

__all__ = ["ExerciseCheckFailed", "check_close", "check_conserved", "check_shape", "check_true"]

warnings.warn(
    "labkit.check moved to labkit.course.exercises (labkit.check goes in 0.2): write "
    "`from labkit.course.exercises import check_close`",
    DeprecationWarning,
    stacklevel=2,
)
