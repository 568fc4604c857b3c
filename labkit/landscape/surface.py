"""Loss surfaces on 1-D and 2-D grids, evaluated many grid points per call.

Multilayer perceptrons run a grid row at a time (:mod:`.mlp_plane`); other models run chunks
of grid points with ``vmap`` or point by point, after their first layer (:mod:`.first_layer`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from labkit._checks import check_choice, check_int, check_positive, to_plain

from .closure import Batch, checked_loss, loss_closure
from .directions import NORMALIZATIONS, check_direction, random_direction
from .first_layer import split_first_layer
from .mlp_plane import MLPPlane, mlp_plane
from .params import Params, numel

__all__ = ["SurfaceResult", "loss_surface"]


@dataclass
class SurfaceResult:
    """Loss values on a grid around ``origin``: ``loss[i, j]`` at ``coords[0][i], coords[1][j]``.

    Attributes
    ----------
    coords : list of ndarray
        Grid coordinates along each direction.
    loss : ndarray
        Shape ``(len(coords[0]),)`` or ``(len(coords[0]), len(coords[1]))``.
    origin_loss : float
        Loss at the origin, evaluated on its own (not on the grid).
    method : str
        How the grid was evaluated: ``"vmap"`` (one ``vmap`` call per chunk), ``"loop"`` (one
        model call per point) or ``"mlp rows"`` (:mod:`labkit.landscape.mlp_plane`).
    directions : list of dict
        The directions (parameter dicts) the grid is spanned by.
    """

    coords: list[np.ndarray]
    loss: np.ndarray
    origin_loss: float
    normalization: str | None
    n_evals: int
    chunk_size: int
    vectorized: bool
    seconds: float
    directions: list[Params] = field(repr=False)
    first_layer_factored: bool = False
    method: str = "vmap"

    def curvature(self) -> np.ndarray:
        """Second derivative of the loss along each direction at the origin.

        A central finite difference on the three grid points around coordinate 0 (which must
        lie on the grid, with the neighbours equally spaced); along direction ``d`` it
        approximates ``d^T H d``.
        """
        out = []
        for axis, c in enumerate(self.coords):
            i = int(np.argmin(np.abs(c)))
            if not np.isclose(c[i], 0.0, atol=1e-12 * np.abs(c).max()) or not 0 < i < len(c) - 1:
                raise ValueError("curvature needs coordinate 0 inside the grid of every axis")
            h = c[i + 1] - c[i]
            if not np.isclose(c[i] - c[i - 1], h):
                raise ValueError("curvature needs an evenly spaced grid around 0")
            line = self.loss if self.loss.ndim == 1 else np.moveaxis(self.loss, axis, 0)
            if line.ndim == 2:
                j = int(np.argmin(np.abs(self.coords[1 - axis])))
                line = line[:, j]
            out.append((line[i + 1] - 2 * line[i] + line[i - 1]) / h**2)
        return np.asarray(out)

    def to_dict(self) -> dict:
        return to_plain(self, omit=("directions",))


def _axes(grid, n_dirs: int) -> list[np.ndarray]:
    try:
        if isinstance(grid, (tuple, list)) and grid and np.ndim(grid[0]) == 1:
            axes = [np.asarray(g, dtype=np.float64) for g in grid]
        else:
            axes = [np.asarray(grid, dtype=np.float64)] * n_dirs
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"grid must be an array of coordinates (numbers), got {type(grid).__name__}"
        ) from err
    if len(axes) != n_dirs or any(a.ndim != 1 or a.size == 0 for a in axes):
        raise ValueError(
            f"grid must be a 1-D array of coordinates or one per direction ({n_dirs}), "
            f"got {len(axes)} axes"
        )
    if not all(np.isfinite(a).all() for a in axes):
        raise ValueError("grid must be finite")
    return axes


def _activation_numel(model: nn.Module, params: Params, buffers: Params, x: torch.Tensor) -> int:
    sizes = []

    def hook(_module, _inputs, output):
        if isinstance(output, torch.Tensor):
            sizes.append(output.numel())

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            functional_call(model, {**buffers, **params}, (x,))
    finally:
        for h in handles:
            h.remove()
    return x.numel() + sum(sizes)


def _stack(origin: Params, dirs: list[Params], coef: torch.Tensor) -> Params:
    return {
        k: v.unsqueeze(0)
        + sum(coef[:, j].reshape(-1, *([1] * v.ndim)) * d[k] for j, d in enumerate(dirs))
        for k, v in origin.items()
    }


class _ChunkLoss:
    """Loss at a chunk of grid points, by ``vmap`` over stacked parameter sets or by a loop.

    With ``split`` (a model whose first layer is linear in its parameters, see
    :mod:`.first_layer`) the first layer runs once per direction and batch, and each grid point
    evaluates only the rest of the model on its combination of those outputs.
    """

    def __init__(self, loss_fn, origin: Params, dirs: list[Params], split) -> None:
        self.loss, self.split = loss_fn.loss, split
        self.model = loss_fn.model if split is None else split.rest
        buffers = loss_fn.buffers if split is None else split.others(loss_fn.buffers)
        self.buffers, self.origin, self.dirs = buffers, origin, dirs
        if split is not None:
            self.origin = split.others(origin)
            self.dirs = [split.others(d) for d in dirs]
            self.first_origin, self.first_dirs = origin, dirs
            self.first_fixed = loss_fn.buffers
        self._heads = None
        self.vmapped = {
            False: vmap(self.point_loss, in_dims=(0, None, None)),
            True: vmap(self.point_loss, in_dims=(0, 0, None)),
        }

    def point_loss(self, params: Params, inputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = functional_call(self.model, {**self.buffers, **params}, (inputs,))
        return self.loss(out, y)

    def start_batch(self, batch) -> None:
        """Evaluate the first layer at the origin and along each direction for ``batch``."""
        if self.split is not None:
            self._heads = self.split.outputs(
                batch[0], self.first_origin, self.first_dirs, self.first_fixed
            )

    def __call__(self, coef: torch.Tensor, batch, vectorized: bool) -> torch.Tensor:
        stacked = _stack(self.origin, self.dirs, coef)
        per_point = self.split is not None
        inputs = self.split.combine(self._heads, coef) if per_point else batch[0]
        y = batch[1]
        if vectorized:
            return self.vmapped[per_point](stacked, inputs, y)
        return torch.stack(
            [
                self.point_loss(
                    {k: v[i] for k, v in stacked.items()}, inputs[i] if per_point else inputs, y
                )
                for i in range(len(coef))
            ]
        )


def _faster(chunk_loss: _ChunkLoss, coef: torch.Tensor, batch) -> tuple[bool, torch.Tensor]:
    """Evaluate one chunk both ways; return the faster way and the values."""
    seconds, values = {}, None
    for way in (True, False):
        t0 = time.perf_counter()
        values = chunk_loss(coef, batch, way)
        seconds[way] = time.perf_counter() - t0
    return min(seconds, key=seconds.get), values


def _mlp_surface(
    plane: MLPPlane, loss_fn, origin, dirs, axes, chunk_size, memory_budget
) -> tuple[np.ndarray, int]:
    """The grid by rows of an MLP (:mod:`.mlp_plane`): sample-weighted mean over batches."""
    first = next(iter(origin.values()))
    coords = [torch.as_tensor(a, dtype=first.dtype, device=first.device) for a in axes]
    total, count = 0.0, 0
    for x, y in loss_fn.batches():
        if chunk_size is None:
            chunk_size = min(plane.chunk_size(len(x), first.element_size()), len(axes[0]))
        with torch.no_grad():
            part = plane.losses(
                (x, y), origin, dirs, loss_fn.buffers, coords, chunk_size, memory_budget
            )
        total = total + len(x) * part.double().cpu()
        count += len(x)
    return (total / count).numpy(), chunk_size


def _chunked_surface(
    loss_fn, origin, dirs, axes, split, chunk_size, memory_budget, vectorize
) -> tuple[np.ndarray, int, bool]:
    """The grid in chunks of points, each by one ``vmap`` call or point by point."""
    mesh = np.stack([m.ravel() for m in np.meshgrid(*axes, indexing="ij")], axis=1)
    n_points = len(mesh)
    first = next(iter(origin.values()))
    coef = torch.as_tensor(mesh, dtype=first.dtype, device=first.device)
    if chunk_size is None:
        x0 = next(loss_fn.batches())[0]
        per_point = numel(origin) + _activation_numel(loss_fn.model, origin, loss_fn.buffers, x0)
        chunk_size = int(
            max(1, min(n_points, memory_budget // (2 * first.element_size() * per_point)))
        )
    chunk_loss = _ChunkLoss(loss_fn, origin, dirs, split)
    values = torch.zeros(n_points, dtype=torch.float64)
    count = 0
    with torch.no_grad():
        for batch in loss_fn.batches():
            nb = len(batch[0])
            chunk_loss.start_batch(batch)
            for i in range(0, n_points, chunk_size):
                chunk = coef[i : i + chunk_size]
                if vectorize is None:
                    vectorize, chunk_values = _faster(chunk_loss, chunk, batch)
                else:
                    chunk_values = chunk_loss(chunk, batch, vectorize)
                values[i : i + chunk_size] += nb * chunk_values.double().cpu()
            count += nb
    return (values / count).numpy().reshape([len(a) for a in axes]), chunk_size, bool(vectorize)


def loss_surface(
    model: nn.Module,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    data: Batch | Iterable[Batch],
    *,
    directions: int | Sequence[Mapping[str, torch.Tensor]] = 2,
    grid=None,
    params: Mapping[str, torch.Tensor] | None = None,
    normalization: str | None = "filter",
    bias: str = "zero",
    seed: int = 0,
    train: bool = False,
    chunk_size: int | None = None,
    memory_budget: float = 2**28,
    vectorize: bool | None = None,
    factor_first_layer: bool = True,
) -> SurfaceResult:
    """Loss of ``model`` on a 1-D or 2-D grid ``params + a d_1 (+ b d_2)``.

    Grid points are evaluated in chunks. A multilayer perceptron (``nn.Sequential`` of
    ``nn.Linear`` layers and elementwise activations, on 2-D inputs) runs one grid row at a
    time in a layout made for it (:mod:`labkit.landscape.mlp_plane`, ``method="mlp rows"``).
    For any other model the parameter sets of a chunk are stacked and the model runs once over
    all of them with ``torch.func.vmap`` (or point by point, whichever is faster for this
    model, see ``vectorize``). Either way every value is the model's loss at its grid point.

    Parameters
    ----------
    model : torch.nn.Module
        The model (not modified); the origin defaults to its parameters.
    loss : callable
        ``loss(output, target) -> scalar``.
    data : tuple ``(x, y)`` or iterable of such tuples
        A fixed batch, or a loader over which the sample-weighted mean loss is taken.
    directions : int or list of dict
        ``1`` or ``2`` for random Gaussian directions (seeds ``seed``, ``seed + 1``),
        normalised with ``normalization``; or explicit directions, used as given (e.g. from
        :func:`interpolation_direction` or :func:`pca_directions`).
    grid : array or tuple of arrays
        Coordinates along each direction; default ``np.linspace(-1, 1, 21)``.
    params : dict of tensors, optional
        The origin; default the model's trainable parameters.
    normalization : {"filter", "layer", None}
        Normalisation of random directions (see :func:`filter_normalize`).
    bias : {"zero", "keep"}
        Whether random directions move biases and norm parameters.
    train : bool
        Evaluate in training mode (BatchNorm with batch statistics) instead of eval mode.
    chunk_size : int, optional
        Grid points per ``vmap`` call; default: as many as fit in ``memory_budget`` bytes of
        stacked parameters and activations (measured on one forward pass). For a multilayer
        perceptron: points of a grid row per batched call; default about 8 MB of activations.
    vectorize : bool, optional
        ``True``: one ``vmap`` call per chunk; ``False``: one model call per grid point (the
        chunk's parameter sets are still built at once). ``None`` (default) times both on the
        first chunk and keeps the faster: ``vmap`` wins when a single evaluation is small
        (overhead-bound, or on a GPU), a plain loop can win for compute-bound models on a CPU.
        Not used for multilayer perceptrons.
    factor_first_layer : bool
        When the model is an ``nn.Sequential`` starting with a layer that is linear in its
        parameters (``nn.Linear``, a convolution), evaluate that layer once at the origin and
        once along each direction, and give each grid point the exact linear combination of
        those outputs (see :mod:`labkit.landscape.first_layer`); multilayer perceptrons then
        run by rows. ``False`` runs the whole model at every point.

    Returns
    -------
    SurfaceResult

    Examples
    --------
    >>> import numpy as np, torch
    >>> net = torch.nn.Linear(2, 1)
    >>> x, y = torch.randn(16, 2), torch.randn(16, 1)
    >>> res = loss_surface(net, torch.nn.functional.mse_loss, (x, y), grid=np.linspace(-1, 1, 5))
    >>> res.loss.shape, bool(np.isclose(res.loss[2, 2], res.origin_loss, rtol=1e-5))
    ((5, 5), True)
    """
    loss_fn, start = loss_closure(model, loss, data, train=train)
    origin = start if params is None else check_direction("params", params, start)
    origin = {k: v.detach() for k, v in origin.items()}
    check_choice("normalization", normalization, NORMALIZATIONS)
    if isinstance(directions, int) and not isinstance(directions, bool):
        n = check_int("directions", directions, minimum=1)
        if n > 2:
            raise ValueError(f"directions must be 1 or 2 (or a list of dicts), got {n}")
        dirs = [
            random_direction(origin, seed=seed + i, normalization=normalization, bias=bias)
            for i in range(n)
        ]
    elif isinstance(directions, Sequence) and 1 <= len(directions) <= 2:
        dirs = [
            {k: t.detach() for k, t in check_direction(f"directions[{i}]", d, origin).items()}
            for i, d in enumerate(directions)
        ]
    else:
        raise TypeError("directions must be 1, 2 or a list of one or two direction dicts")
    axes = _axes(np.linspace(-1.0, 1.0, 21) if grid is None else grid, len(dirs))
    check_positive("memory_budget", memory_budget)
    if vectorize not in (None, True, False):
        raise TypeError(f"vectorize must be None, True or False, got {vectorize!r}")
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, minimum=1)
    t0 = time.perf_counter()
    origin_loss = checked_loss(loss_fn, origin)
    split = split_first_layer(loss_fn.model) if factor_first_layer else None
    plane = mlp_plane(split, loss_fn.loss, next(loss_fn.batches())[0])
    if plane is not None:
        values, chunk_size = _mlp_surface(
            plane, loss_fn, origin, dirs, axes, chunk_size, memory_budget
        )
        method = "mlp rows"
    else:
        values, chunk_size, vectorize = _chunked_surface(
            loss_fn, origin, dirs, axes, split, chunk_size, memory_budget, vectorize
        )
        method = "vmap" if vectorize else "loop"
    bad = ~np.isfinite(values)
    if bad.any():
        reach = max(float(np.max(np.abs(a))) for a in axes)
        raise ValueError(
            f"the loss is NaN or inf at {int(bad.sum())} of {values.size} grid points (the grid "
            f"reaches |coordinate| = {reach:.3g}, the loss at the origin is {origin_loss:.3g}); "
            "use a smaller grid"
        )
    return SurfaceResult(
        coords=axes,
        loss=values,
        origin_loss=origin_loss,
        normalization=normalization if isinstance(directions, int) else None,
        n_evals=values.size,
        chunk_size=chunk_size,
        vectorized=method != "loop",
        seconds=time.perf_counter() - t0,
        first_layer_factored=split is not None,
        method=method,
        directions=dirs,
    )
