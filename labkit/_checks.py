"""Argument checks shared by every room, so that bad input fails early and says what it got.

Every check raises ``ValueError`` or ``TypeError`` whose message names the argument, what was
expected and what came.

Examples
--------
>>> from labkit._checks import check_positive
>>> check_positive("nu", 0.1)
0.1
>>> check_positive("nu", -1.0)
Traceback (most recent call last):
...
ValueError: nu must be positive, got -1.0
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "check_allocation",
    "check_choice",
    "check_finite",
    "check_int",
    "check_positive",
    "check_nonnegative",
    "check_type",
]


def check_type(name: str, value: Any, types: type | tuple[type, ...]) -> Any:
    """Return ``value`` if it is an instance of ``types``, else raise ``TypeError``."""
    if not isinstance(value, types):
        names = (
            " or ".join(t.__name__ for t in types) if isinstance(types, tuple) else types.__name__
        )
        raise TypeError(f"{name} must be {names}, got {type(value).__name__}")
    return value


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, checking it is an integer (not a bool) and ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_positive(name: str, value: Any) -> float:
    """Return ``value`` if it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def check_nonnegative(name: str, value: Any) -> float:
    """Return ``value`` if it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_finite(name: str, array: Any) -> Any:
    """Return ``array`` (numpy array or torch tensor) if every entry is finite."""
    try:
        import torch

        if isinstance(array, torch.Tensor):
            if not bool(torch.isfinite(array).all()):
                raise ValueError(f"{name} must be finite, got NaN or inf entries")
            return array
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    if not np.all(np.isfinite(np.asarray(array))):
        raise ValueError(f"{name} must be finite, got NaN or inf entries")
    return array


def memory_limit() -> int:
    """Bytes that one request may claim: ``$LABKIT_MAX_BYTES`` if set, else the machine's RAM."""
    env = os.environ.get("LABKIT_MAX_BYTES")
    if env:
        return int(float(env))
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):  # pragma: no cover - non-POSIX
        return 64 * 2**30


def _size(n_bytes: float) -> str:
    for unit, scale in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{int(n_bytes)} bytes"


def check_allocation(name: str, value: Any, n_bytes: float, *, what: str = "arrays") -> Any:
    """Refuse, before allocating, a request whose ``n_bytes`` exceed :func:`memory_limit`.

    ``name`` and ``value`` are the argument that sets the size (named in the message), ``what``
    says what would be allocated. Returns ``value``.

    Examples
    --------
    >>> check_allocation("shape", (64, 64), 64 * 64 * 8)
    (64, 64)
    >>> check_allocation("shape", (100_000, 100_000), 1e10 * 16, what="a complex field")
    Traceback (most recent call last):
    ...
    ValueError: shape=(100000, 100000) implies a complex field of 149.0 GB, more than the ...
    """
    limit = memory_limit()
    if not math.isfinite(n_bytes) or n_bytes > limit:
        raise ValueError(
            f"{name}={value!r} implies {what} of {_size(n_bytes)}, more than the "
            f"{_size(limit)} this machine has; use a smaller {name} "
            "(or set LABKIT_MAX_BYTES to allow more)"
        )
    return value


def check_number(
    name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    """Return ``value`` as a float, checking it is a finite real number within the bounds.

    (H-train, issue 16: same messages as H-checks' ``check_number``; keep theirs on merge.)

    Examples
    --------
    >>> check_number("p", 2, minimum=1)
    2.0
    >>> check_number("p", 0.5, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: p must be >= 1, got 0.5
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    low = minimum is not None and value < minimum
    high = maximum is not None and value > maximum
    if (low or high) and minimum is not None and maximum is not None:
        raise ValueError(f"{name} must lie between {minimum} and {maximum}, got {value}")
    if low:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if high:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return float(value)
