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

import dataclasses
import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "Batch",
    "as_batch",
    "check_allocation",
    "check_binary_volume",
    "check_callable",
    "check_choice",
    "check_finite",
    "check_int",
    "check_labels",
    "check_number",
    "check_positive",
    "check_nonnegative",
    "check_type",
    "to_plain",
]


def check_type(name: str, value: Any, types: type | tuple[type, ...]) -> Any:
    """Return ``value`` if it is an instance of ``types``, else raise ``TypeError``."""
    if not isinstance(value, types):
        names = (
            " or ".join(t.__name__ for t in types) if isinstance(types, tuple) else types.__name__
        )
        raise TypeError(f"{name} must be {names}, got {type(value).__name__}")
    return value


def check_int(
    name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Return ``value`` as an int, checking it is an integer (not a bool) within the bounds.

    Examples
    --------
    >>> check_int("steps", 3, minimum=1)
    3
    >>> check_int("position", 9, minimum=0, maximum=7)
    Traceback (most recent call last):
    ...
    ValueError: position must be <= 7, got 9
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    inclusive: bool = True,
) -> float:
    """Return ``value`` as a float, checking it is a finite number within the bounds.

    ``inclusive=False`` makes both bounds strict (e.g. a fraction strictly between 0 and 1).

    Examples
    --------
    >>> check_number("porosity", 0.4, minimum=0, maximum=1, inclusive=False)
    0.4
    >>> check_number("porosity", 1, minimum=0, maximum=1, inclusive=False)
    Traceback (most recent call last):
    ...
    ValueError: porosity must lie strictly between 0 and 1, got 1
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    low = minimum is not None and (value < minimum if inclusive else value <= minimum)
    high = maximum is not None and (value > maximum if inclusive else value >= maximum)
    if low or high:
        if minimum is not None and maximum is not None:
            how = "between" if inclusive else "strictly between"
            raise ValueError(f"{name} must lie {how} {minimum} and {maximum}, got {value}")
        if low:
            raise ValueError(f"{name} must be {'>=' if inclusive else '>'} {minimum}, got {value}")
        raise ValueError(f"{name} must be {'<=' if inclusive else '<'} {maximum}, got {value}")
    return float(value)


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


def check_binary_volume(name: str, volume: Any, *, ndim: int = 3) -> np.ndarray:
    """Return ``volume`` as a boolean ``ndim``-D numpy array (True = pore), checking it is binary.

    Accepts boolean arrays and real numeric arrays holding only 0 and 1; empty, all-solid and
    all-pore volumes pass (the caller refuses them where they make no sense).

    Examples
    --------
    >>> check_binary_volume("volume", np.eye(2, dtype=int)[None]).dtype
    dtype('bool')
    >>> check_binary_volume("volume", np.full((2, 2, 2), 0.5))
    Traceback (most recent call last):
    ...
    ValueError: volume must be binary (0/1 or False/True); got values other than 0 and 1 ...
    """
    check_type(name, volume, np.ndarray)
    if volume.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got {volume.ndim} dimensions")
    if volume.dtype == bool:
        return volume
    kind = volume.dtype
    if not np.issubdtype(kind, np.number) or np.issubdtype(kind, np.complexfloating):
        raise TypeError(f"{name} must be boolean or real numeric, got dtype {kind}")
    if not np.isin(volume, (0, 1)).all():
        raise ValueError(
            f"{name} must be binary (0/1 or False/True); got values other than 0 and 1 — "
            "use labkit.pores.binarize on grey-level data"
        )
    return volume.astype(bool)


def check_labels(name: str, labels: Any, *, ndim: int = 3) -> np.ndarray:
    """Return ``labels`` as an ``ndim``-D non-negative integer numpy array with a region in it.

    Torch tensors are moved to numpy. 0 is solid; labels must run 1..n (no label beyond the
    number of voxels, so that per-label tables can be sized safely).

    Examples
    --------
    >>> check_labels("labels", np.array([[[0, 1], [2, 2]]])).shape
    (1, 2, 2)
    >>> check_labels("labels", np.zeros((2, 2, 2), dtype=int))
    Traceback (most recent call last):
    ...
    ValueError: labels has no region: every voxel is 0 (solid)
    """
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    check_type(name, labels, np.ndarray)
    if labels.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got {labels.ndim} dimensions")
    if not np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool:
        raise TypeError(f"{name} must be an integer array, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"{name} must be non-negative (0 = solid), got {labels.min()}")
    if not labels.any():
        raise ValueError(f"{name} has no region: every voxel is 0 (solid)")
    top = int(labels.max())
    if top > labels.size:
        raise ValueError(
            f"{name} must run 1..n without gaps; its largest label {top} exceeds its "
            f"{labels.size} voxels (skimage.segmentation.relabel_sequential fixes this)"
        )
    return labels


@dataclasses.dataclass(frozen=True)
class Batch:
    """A field with a leading batch axis, and how to give a result back in the caller's form.

    Made by :func:`as_batch`; ``restore`` drops the batch axis again when the caller gave one
    field, and returns numpy when the caller gave numpy.
    """

    tensor: Any
    is_torch: bool
    single: bool

    def restore(self, out: Any, *, batch_axis: int = 0) -> Any:
        """Return ``out`` (a batched tensor) as the caller gave the input: numpy or torch, single
        or batched."""
        if self.single:
            out = out.select(batch_axis, 0)
        return out if self.is_torch else out.detach().cpu().numpy()


def as_batch(
    name: str,
    value: Any,
    *,
    field_ndim: int,
    square: bool = False,
    min_size: int = 1,
    item: str = "field",
) -> Batch:
    """Check a field (or a batch of fields) given as a torch tensor or numpy array.

    ``value`` has shape ``[B, *field]`` or ``[*field]`` with ``field_ndim`` axes in a field,
    a floating dtype and finite entries; ``square`` asks for equal last two axes and
    ``min_size`` for at least that many points per axis; ``item`` names one field in the
    message for an empty batch. Returns a :class:`Batch` holding a tensor with a batch axis
    (numpy input shares its memory).

    Examples
    --------
    >>> import numpy as np
    >>> batch = as_batch("u0", np.zeros(8), field_ndim=1)
    >>> tuple(batch.tensor.shape), batch.single
    ((1, 8), True)
    >>> batch.restore(batch.tensor * 2).shape
    (8,)
    """
    import torch

    if isinstance(value, torch.Tensor):
        tensor, is_torch = value, True
    elif isinstance(value, np.ndarray):
        tensor, is_torch = torch.from_numpy(value), False
    else:
        raise TypeError(
            f"{name} must be a torch.Tensor or numpy.ndarray, got {type(value).__name__}"
        )
    axes = ", ".join("n" for _ in range(field_ndim))
    if tensor.ndim not in (field_ndim, field_ndim + 1) or (
        square and field_ndim >= 2 and tensor.shape[-1] != tensor.shape[-2]
    ):
        raise ValueError(
            f"{name} must have shape [B, {axes}] or [{axes}], got {tuple(tensor.shape)}"
        )
    if tensor.ndim == field_ndim + 1 and tensor.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one {item}, got shape {tuple(tensor.shape)}")
    if min(tensor.shape[-field_ndim:]) < min_size:
        raise ValueError(
            f"{name} must have at least {min_size} points per side, got {tuple(tensor.shape)}"
        )
    if not tensor.dtype.is_floating_point:
        raise TypeError(f"{name} must be floating point, got {tensor.dtype}")
    check_finite(name, tensor)
    single = tensor.ndim == field_ndim
    return Batch(tensor.unsqueeze(0) if single else tensor, is_torch, single)


def to_plain(
    value: Any, name: str = "value", *, finite: bool = False, omit: Iterable[str] = ()
) -> Any:
    """Return ``value`` as plain Python (dict, list, str, int, float, bool, None) for JSON.

    Torch tensors and numpy arrays become (nested) lists, numpy scalars Python numbers,
    dataclasses and mappings dicts with string keys (in field order), tuples lists, paths
    strings. ``omit`` names top-level fields or keys to leave out (a result's tensors that do
    not belong in a summary). ``finite=True`` refuses NaN and inf, naming the entry. Anything
    else raises ``TypeError``.

    Examples
    --------
    >>> import numpy as np
    >>> to_plain({"eigenvalues": np.array([2.0, 1.0]), "steps": np.int64(3)})
    {'eigenvalues': [2.0, 1.0], 'steps': 3}
    >>> to_plain({"loss": float("nan")}, "results", finite=True)
    Traceback (most recent call last):
    ...
    ValueError: results.loss is not finite (nan)
    >>> to_plain({"x": np.zeros(3), "iterations": np.array([4, 2])}, omit=("x",))
    {'iterations': [4, 2]}
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if omit:
        check_type(name, value, Mapping)
        skip = set(omit)
        value = {k: v for k, v in value.items() if k not in skip}
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy array/scalar
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(k): to_plain(v, f"{name}.{k}", finite=finite) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v, f"{name}[{i}]", finite=finite) for i, v in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if finite and not math.isfinite(value):
            raise ValueError(f"{name} is not finite ({value})")
        return value
    raise TypeError(f"{name} must be JSON-able, got {type(value).__name__}")


def check_callable(name: str, value: Any) -> Callable:
    """Return ``value`` if it can be called."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")
    return value
