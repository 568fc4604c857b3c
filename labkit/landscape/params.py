"""Helpers over parameter dicts (``dict[str, Tensor]``): flatten, unflatten, combine, check."""

from __future__ import annotations

from collections.abc import Mapping

import torch

Params = dict[str, torch.Tensor]


def numel(params: Mapping[str, torch.Tensor]) -> int:
    """Total number of entries in a parameter dict."""
    return sum(int(p.numel()) for p in params.values())


def flatten(params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Concatenate the tensors of ``params`` (in dict order) into one flat vector."""
    return torch.cat([p.reshape(-1) for p in params.values()])


def unflatten(vector: torch.Tensor, like: Mapping[str, torch.Tensor]) -> Params:
    """Split a flat ``vector`` into a dict shaped like ``like`` (fresh, contiguous tensors).

    Copies rather than views keep every tensor's storage offset at zero, which operations such
    as ``torch.view_as_complex`` require.
    """
    out, start = {}, 0
    for name, p in like.items():
        n = p.numel()
        out[name] = vector[start : start + n].reshape(p.shape).clone()
        start += n
    return out


def axpy(a: float, x: Mapping[str, torch.Tensor], y: Mapping[str, torch.Tensor]) -> Params:
    """Return ``a * x + y`` entry by entry."""
    return {k: a * x[k] + y[k] for k in y}


def dot(x: Mapping[str, torch.Tensor], y: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Inner product of two parameter dicts."""
    return sum((x[k] * y[k]).sum() for k in x)


def check_like(name: str, value: Mapping[str, torch.Tensor], like: Mapping[str, torch.Tensor]):
    """Raise ``ValueError`` unless ``value`` has the names and shapes of ``like``."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict of tensors, got {type(value).__name__}")
    missing, extra = set(like) - set(value), set(value) - set(like)
    if missing or extra:
        raise ValueError(
            f"{name} does not match the parameters: missing {sorted(missing)}, "
            f"unexpected {sorted(extra)}"
        )
    for k, p in like.items():
        if tuple(value[k].shape) != tuple(p.shape):
            raise ValueError(
                f"{name}[{k!r}] must have shape {tuple(p.shape)}, got {tuple(value[k].shape)}"
            )
    return value
