"""Directions in parameter space for loss surfaces: random Gaussian with filter normalisation
(Li et al. 2018), the line between two solutions, and PCA of a training trajectory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from labkit._checks import check_choice, check_int, to_plain

from .params import Params, check_like, flatten, unflatten

__all__ = [
    "PCADirections",
    "check_direction",
    "filter_normalize",
    "interpolation_direction",
    "pca_directions",
    "random_direction",
]

NORMALIZATIONS = ("filter", "layer", None)


def check_direction(name: str, direction, params: Mapping[str, torch.Tensor]) -> Params:
    """Raise unless ``direction`` has exactly the names and shapes of ``params``."""
    return dict(check_like(name, direction, params))


def filter_normalize(
    direction: Mapping[str, torch.Tensor],
    params: Mapping[str, torch.Tensor],
    *,
    normalization: str | None = "filter",
    bias: str = "zero",
) -> Params:
    """Rescale ``direction`` so each filter has the norm of the matching filter of ``params``.

    A filter is one slice along the first dimension (an output channel of a convolution, one
    neuron's incoming weights of a linear layer), as in Li et al. (2018). Bias-like parameters
    (those with one dimension or none, such as norm scales and shifts, and any parameter named
    ``*.bias``) are zeroed (``bias="zero"``) or rescaled as a whole to the norm of the parameter
    (``bias="keep"``).

    Parameters
    ----------
    direction, params : dict of tensors
        Same names and shapes.
    normalization : {"filter", "layer", None}
        Per filter, per parameter tensor, or not at all.
    bias : {"zero", "keep"}
        What to do with 0-D and 1-D parameters.

    Examples
    --------
    >>> import torch
    >>> params = {"w": torch.tensor([[3.0, 4.0], [0.0, 1.0]]), "b": torch.ones(2)}
    >>> d = filter_normalize({"w": torch.ones(2, 2), "b": torch.ones(2)}, params)
    >>> d["w"].norm(dim=1), d["b"]
    (tensor([5.0000, 1.0000]), tensor([0., 0.]))
    """
    check_direction("direction", direction, params)
    check_choice("normalization", normalization, NORMALIZATIONS)
    check_choice("bias", bias, ("zero", "keep"))
    out = {}
    for name, p in params.items():
        d, p = direction[name].detach(), p.detach()
        bias_like = p.ndim <= 1 or name.rsplit(".", 1)[-1] == "bias"
        if bias_like and bias == "zero":
            out[name] = torch.zeros_like(d)
        elif normalization is None:
            out[name] = d.clone()
        elif normalization == "filter" and not bias_like:
            dn = d.reshape(d.shape[0], -1).norm(dim=1)
            pn = p.reshape(p.shape[0], -1).norm(dim=1)
            scale = pn / dn.clamp_min(1e-12)
            out[name] = d * scale.reshape(-1, *([1] * (d.ndim - 1)))
        else:
            out[name] = d * (p.norm() / d.norm().clamp_min(1e-12))
    return out


def random_direction(
    params: Mapping[str, torch.Tensor],
    *,
    seed: int = 0,
    normalization: str | None = "filter",
    bias: str = "zero",
) -> Params:
    """A Gaussian random direction, filter-normalised to ``params`` by default.

    Examples
    --------
    >>> import torch
    >>> params = {"w": torch.full((3, 4), 2.0), "b": torch.ones(3)}
    >>> d = random_direction(params, seed=1)
    >>> torch.allclose(d["w"].norm(dim=1), params["w"].norm(dim=1)), float(d["b"].abs().sum())
    (True, 0.0)
    """
    gen = torch.Generator().manual_seed(check_int("seed", seed))
    raw = {
        name: torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device)
        for name, p in params.items()
    }
    return filter_normalize(raw, params, normalization=normalization, bias=bias)


def interpolation_direction(
    start: Mapping[str, torch.Tensor], end: Mapping[str, torch.Tensor]
) -> Params:
    """The direction ``end - start``: coordinate 0 is ``start``, 1 is ``end``.

    Examples
    --------
    >>> import torch
    >>> interpolation_direction({"w": torch.zeros(2)}, {"w": torch.tensor([1.0, 2.0])})["w"]
    tensor([1., 2.])
    """
    check_direction("end", end, start)
    return {k: (end[k].detach() - start[k].detach()) for k in start}


@dataclass
class PCADirections:
    """Principal directions of a trajectory around ``origin``, and the path in their plane.

    ``directions`` are unit vectors (parameter dicts); ``path[t]`` holds the coordinates of
    trajectory point ``t`` along them.
    """

    directions: list[Params] = field(repr=False)
    explained_variance_ratio: np.ndarray
    path: np.ndarray

    def to_dict(self) -> dict:
        return to_plain(self, omit=("directions",))


def pca_directions(
    trajectory: Sequence[Mapping[str, torch.Tensor]],
    n_components: int = 2,
    *,
    origin: Mapping[str, torch.Tensor] | None = None,
) -> PCADirections:
    """PCA directions of a training trajectory (Li et al. 2018, section 7).

    The rows ``theta_t - origin`` (``origin`` defaults to the last point) are decomposed by
    SVD; the leading right singular vectors are the directions.

    Examples
    --------
    >>> import torch
    >>> traj = [{"w": torch.tensor([float(t), 0.5 * t, 0.0])} for t in range(5)]
    >>> res = pca_directions(traj, 1)
    >>> round(float(res.explained_variance_ratio[0]), 6)
    1.0
    """
    if len(trajectory) < 2:
        raise ValueError(f"trajectory must hold at least 2 points, got {len(trajectory)}")
    origin = trajectory[-1] if origin is None else origin
    for i, point in enumerate(trajectory):
        check_direction(f"trajectory[{i}]", point, origin)
    n_components = check_int("n_components", n_components, minimum=1)
    if n_components > len(trajectory):
        raise ValueError(
            f"n_components must be <= the number of trajectory points ({len(trajectory)}), "
            f"got {n_components}"
        )
    center = flatten({k: v.detach() for k, v in origin.items()})
    M = torch.stack([flatten({k: v.detach() for k, v in p.items()}) - center for p in trajectory])
    _, s, Vh = torch.linalg.svd(M.double(), full_matrices=False)
    Vh = Vh[:n_components].to(center.dtype)
    ratio = (s**2 / (s**2).sum()).cpu().numpy()[:n_components]
    directions = [{k: t.clone() for k, t in unflatten(v, origin).items()} for v in Vh]
    return PCADirections(directions, ratio, (M @ Vh.T).cpu().double().numpy())
