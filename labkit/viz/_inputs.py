"""Read the duck-typed inputs of the explorers: attributes or mapping keys, arrays or tensors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

_MISSING = object()


def get_field(obj: Any, name: str, default: Any = _MISSING, *, argname: str = "result") -> Any:
    """Return ``obj.name`` or ``obj[name]``; raise ``TypeError`` naming ``argname`` if absent."""
    if isinstance(obj, Mapping):
        if name in obj:
            return obj[name]
    elif hasattr(obj, name):
        return getattr(obj, name)
    if default is _MISSING:
        raise TypeError(
            f"{argname} must have a {name!r} attribute or key, got {type(obj).__name__}"
        )
    return default


def as_array(name: str, value: Any, *, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``value`` (list, numpy array or torch tensor) as a finite float numpy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}") from err
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if array.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got NaN or inf entries")
    return array
