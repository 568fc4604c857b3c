"""Checks for exercises: compare a student's answer with the reference and say what is wrong.

(Not to be confused with ``labkit._checks``, which checks the arguments of labkit's own
functions. Until release 0.2 this module is also importable as ``labkit.check``.)

Each check returns ``True`` and prints one line when the answer is right. When it is wrong it
raises :class:`ExerciseCheckFailed`, whose message is one friendly sentence (wrong shape, off by a
factor, not conserved, ...). In Jupyter the sentence is shown instead of a traceback.

Examples
--------
>>> import numpy as np
>>> check_close(np.ones(3), np.ones(3), name="u")
✓ u is correct.
True
>>> check_close(2 * np.ones(3), np.ones(3), name="u")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
labkit.course.exercises.ExerciseCheckFailed: u is off by a factor of 2 everywhere: ...
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ExerciseCheckFailed", "check_close", "check_conserved", "check_shape", "check_true"]


class ExerciseCheckFailed(AssertionError):
    """An exercise answer is wrong. Jupyter shows only the message, not a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython hook: replaces the traceback
        return [f"\x1b[1;31m✗ {self}\x1b[0m"]


def _as_array(name: str, value: Any) -> np.ndarray:
    if value is None:
        raise ExerciseCheckFailed(f"{name} is None: did the function forget to return its result?")
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ExerciseCheckFailed(
            f"{name} should be numbers (an array or tensor), got {type(value).__name__}."
        ) from None


def _ok(name: str) -> bool:
    print(f"✓ {name} is correct.")
    return True


def check_shape(answer: Any, expected_shape: tuple[int, ...], name: str = "your answer") -> bool:
    """Check that ``answer`` has ``expected_shape``.

    Examples
    --------
    >>> check_shape(np.zeros((2, 3)), (2, 3), name="x")
    ✓ x is correct.
    True
    """
    shape = tuple(_as_array(name, answer).shape)
    if shape != tuple(expected_shape):
        hint = ""
        if sorted(shape) == sorted(expected_shape):
            hint = " (the same sizes in another order: check the axes)"
        raise ExerciseCheckFailed(
            f"{name} has shape {shape}, expected {tuple(expected_shape)}{hint}."
        )
    return _ok(name)


def check_close(
    answer: Any, expected: Any, name: str = "your answer", rtol: float = 1e-6, atol: float = 1e-10
) -> bool:
    """Check that ``answer`` equals ``expected`` within ``atol + rtol * |expected|``.

    When it does not, the message says how: wrong shape, NaNs, the wrong sign, off by a constant
    factor, off by a constant, or simply how far off and where.
    """
    got = _as_array(name, answer)
    want = _as_array("the reference", expected)
    if got.shape != want.shape:
        check_shape(got, want.shape, name)
    if not np.all(np.isfinite(got)):
        raise ExerciseCheckFailed(f"{name} contains NaN or infinite values.")
    err = np.abs(got - want)
    tol = atol + rtol * np.abs(want)
    if np.all(err <= tol):
        return _ok(name)
    mask = np.abs(want) > atol
    if mask.any():
        ratios = got[mask] / want[mask]
        ratio = float(np.median(ratios))
        if np.allclose(ratios, ratio, rtol=max(rtol, 1e-6)) and not np.isclose(ratio, 1.0):
            if np.isclose(ratio, -1.0):
                raise ExerciseCheckFailed(f"{name} has the wrong sign everywhere.")
            raise ExerciseCheckFailed(
                f"{name} is off by a factor of {ratio:.4g} everywhere: check a scale factor."
            )
    diff = got - want
    if got.size > 1 and np.allclose(diff, diff.flat[0], rtol=0, atol=float(tol.max())):
        raise ExerciseCheckFailed(f"{name} is off by a constant {diff.flat[0]:.4g}.")
    worst = np.unravel_index(int(np.argmax(err - tol)), err.shape) if err.ndim else ()
    where = f" at index {tuple(int(i) for i in worst)}" if worst else ""
    raise ExerciseCheckFailed(
        f"{name} differs from the reference by up to {float(err.max()):.3g}{where} "
        f"(tolerance {float(tol.max()):.3g})."
    )


def check_conserved(
    before: float, after: float, name: str = "the total", rtol: float = 1e-10
) -> bool:
    """Check that a conserved quantity did not change (relative tolerance ``rtol``).

    Examples
    --------
    >>> check_conserved(1.0, 1.0 + 1e-14, name="total carbon")
    ✓ total carbon is correct.
    True
    """
    b, a = float(before), float(after)
    if abs(a - b) > rtol * max(abs(b), 1e-300):
        raise ExerciseCheckFailed(
            f"{name} is not conserved: it went from {b:.10g} to {a:.10g} "
            f"(relative change {abs(a - b) / max(abs(b), 1e-300):.2g})."
        )
    return _ok(name)


def check_true(condition: bool, message: str, name: str = "your answer") -> bool:
    """Check a condition; ``message`` is the friendly sentence shown when it is false."""
    if not condition:
        raise ExerciseCheckFailed(message)
    return _ok(name)
