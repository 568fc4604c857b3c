"""Exact loss of a multilayer perceptron on a plane of parameters, a grid row at a time.

On a 2-D surface every grid point is ``theta + a d_1 + b d_2``. For a model
``Sequential(Linear, act, Linear, act, ..., Linear)`` these facts make the whole grid cheap:

- the first layer's pre-activations are ``Z_0 + a Z_1 + b Z_2`` (:mod:`.first_layer`), so along
  a grid row (``b`` fixed) ``z_b = Z_0 + b Z_2`` is computed once;
- for SiLU and the sigmoid, ``sigmoid(z_b + a z_1) = e / (e + g)`` with ``e = exp(z_b)`` (one
  exponential per row) and ``g = exp(-a z_1)`` (one per value of ``a``, tabulated): each point
  pays an addition and a division instead of an exponential per hidden unit. This is used
  only where both exponents stay within ``+-40``, so nothing overflows or underflows;
  elsewhere the activation runs as is;
- every later layer's weights ``W + a D_1 + b D_2`` are small; a chunk of grid points runs them
  as one batched matrix product in a feature-major layout (``features x samples``), which
  keeps the samples contiguous;
- cross-entropy is reduced over the few classes of each sample in place, with logits in bits
  (the last layer's weights times ``log2(e)``) because ``exp2`` and ``log2`` are cheaper than
  ``exp`` and ``log``;
- on the CPU in float32 the exponentials, the first activation and the cross-entropy are each
  one numba pass (:mod:`.plane_kernels`) instead of several torch passes, and with
  ``torch.get_num_threads() > 1`` the grid rows are shared among that many threads (each
  running torch single-threaded inside), because one row's products are too small for torch's
  own threads to pay.

Nothing is approximated: the values are the model's loss at each grid point to float rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import plane_kernels
from .first_layer import FirstLayerSplit
from .params import Params

__all__ = ["MLPPlane", "mlp_plane"]

ELEMENTWISE = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Mish,
    nn.Identity,
)
EXP_FACTORED = (nn.SiLU, nn.Sigmoid)
EXP_BOUND = 40.0
CHUNK_BYTES = 2**23
LOG2_E, LN_2 = math.log2(math.e), math.log(2.0)


def is_cross_entropy(loss: Callable) -> bool:
    """Whether ``loss`` is plain mean cross-entropy over class indices (none ignored)."""
    if loss is nn.functional.cross_entropy:
        return True
    return (
        type(loss) is nn.CrossEntropyLoss
        and loss.weight is None
        and loss.reduction == "mean"
        and loss.label_smoothing == 0.0
        and loss.ignore_index < 0
    )


@dataclass
class MLPPlane:
    """A model ``Sequential(Linear, *layers)`` whose later modules are linear or elementwise.

    Attributes
    ----------
    split : FirstLayerSplit
        The first layer and the rest of the model.
    layers : list of (str, nn.Module)
        The later modules with their names in the model.
    loss : callable
        ``loss(output, target)``; plain cross-entropy is reduced in place.
    """

    split: FirstLayerSplit
    layers: list[tuple[str, nn.Module]]
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

    def chunk_size(self, n_samples: int, element_size: int) -> int:
        """Grid points per batched call: about ``CHUNK_BYTES`` of activations per chunk."""
        widths = [m.out_features for _, m in self.layers if isinstance(m, nn.Linear)]
        hidden = self.split.first.out_features
        per_point = element_size * n_samples * (3 * hidden + sum(widths))
        return max(1, CHUNK_BYTES // per_point)

    def _layer_params(self, params: Params, fixed: Params) -> dict[str, list]:
        out = {}
        for name, m in self.layers:
            if isinstance(m, nn.Linear):
                out[name] = [
                    params.get(f"{name}.{k}", fixed.get(f"{name}.{k}")) for k in ("weight", "bias")
                ]
        return out

    def losses(
        self,
        batch: tuple[torch.Tensor, torch.Tensor],
        origin: Params,
        directions: Sequence[Params],
        fixed: Mapping[str, torch.Tensor],
        axes: Sequence[torch.Tensor],
        chunk_size: int,
        memory_budget: float,
    ) -> torch.Tensor:
        """Mean loss on ``batch`` at every point of the grid spanned by ``axes``.

        Returns a tensor of shape ``(len(axes[0]), len(axes[1]))`` (or ``(len(axes[0]),)``).
        On the CPU in float32 with ``torch.get_num_threads() = n > 1``, ``n`` threads share the
        grid rows and torch's own thread count is 1 until they finish.
        """
        x, y = batch
        heads = self.split.outputs(x, origin, list(directions), fixed)
        heads = heads.transpose(1, 2).contiguous()
        zero = {k: torch.zeros_like(v) for k, v in fixed.items()}
        at = self._layer_params(origin, dict(fixed))
        along = [self._layer_params(d, zero) for d in directions]
        a = axes[0].to(heads.dtype)
        rows = axes[1].to(heads.dtype) if len(axes) > 1 else None
        growth = self._growth(a, heads[1], memory_budget)
        labels = _label_index(self.loss, y, self.layers)
        in_bits = labels is not None and isinstance(self.layers[-1][1], nn.Linear)
        if in_bits:  # the last layer gives logits in bits: exp2 is cheaper than exp
            last = self.layers[-1][0]
            for params in (at, *along):
                params[last] = [None if t is None else t * LOG2_E for t in params[last]]
        shape = (len(a), 1 if rows is None else len(rows))
        out = torch.empty(shape, dtype=heads.dtype, device=heads.device)
        job = _PlaneJob(
            min(chunk_size, len(a)), out, heads, a, rows, at, along, growth, labels, y, in_bits
        )
        threads = torch.get_num_threads()
        workers = min(threads, shape[1])
        if workers == 1 or not _fusable(heads):
            self._rows(job, range(shape[1]))
            return out if rows is not None else out[:, 0]
        torch.set_num_threads(1)  # rows in parallel, each on one thread (restored below)
        try:
            with ThreadPoolExecutor(workers) as pool:
                futures = [
                    pool.submit(self._rows, job, range(w, shape[1], workers))
                    for w in range(workers)
                ]
                for future in futures:
                    future.result()
        finally:
            torch.set_num_threads(threads)
        return out

    @torch.no_grad()
    def _rows(self, job: _PlaneJob, js: Iterable[int]) -> None:
        """Fill ``job.out[:, j]`` for the grid rows ``js`` (see :meth:`losses`)."""
        heads, a, rows, size = job.heads, job.a, job.rows, job.chunk_size
        buffers = _Buffers(self.layers, heads[0], size)
        for j in js:
            z_b = heads[0] if rows is None else heads[0] + rows[j] * heads[2]
            factors = None
            if job.growth is not None and float(z_b.abs().max()) <= EXP_BOUND:
                factors = buffers.row_factors(z_b, heads[1])
            row = job.at if rows is None else _moved(job.at, job.along[1], rows[j])
            weights = {k: _along_axis(v, job.along[0][k], a) for k, v in row.items()}
            for i in range(0, len(a), size):
                stop = min(i + size, len(a))
                for shift in (False, True):  # shifted only when the plain sums overflow
                    h = buffers.first(z_b, heads[1], a[i:stop], factors, job.growth, i)
                    h = self._later_layers(h, buffers, weights, i, stop, factors is not None)
                    values = self._chunk_loss(job, buffers, h, shift)
                    if values is not None:
                        break
                job.out[i:stop, j] = values

    def _chunk_loss(self, job: _PlaneJob, buffers: _Buffers, h: torch.Tensor, shift: bool):
        """Losses of one chunk of grid points; ``None`` when the plain sums overflow."""
        if job.labels is None:
            return _generic(self.loss, h, job.y)
        h = h if job.in_bits else h.mul_(LOG2_E)
        fused = None if shift else buffers.cross_entropy(h, job.y)
        return _cross_entropy_bits(h, job.labels, shift) if fused is None else fused

    def _later_layers(self, h, buffers, weights, start: int, stop: int, activated: bool):
        """Run the modules after the first layer (after its activation when ``activated``)."""
        for name, m in self.layers[1 if activated else 0 :]:
            if isinstance(m, nn.Linear):
                h = buffers.linear(name, weights[name], h, start, stop)
            else:
                h = m(h)
        return h

    def _growth(self, a: torch.Tensor, z_1: torch.Tensor, memory_budget: float):
        """``exp(-a z_1)`` for every ``a`` when the first activation uses it and it is safe."""
        first = self.layers[0][1] if self.layers else None
        if not isinstance(first, EXP_FACTORED) or z_1.dtype not in (torch.float32, torch.float64):
            return None
        if len(a) * z_1.numel() * z_1.element_size() > memory_budget / 2:
            return None
        if float(a.abs().max() * z_1.abs().max()) > EXP_BOUND:
            return None
        if _fusable(z_1):
            table = torch.empty(len(a), *z_1.shape, dtype=z_1.dtype)
            plane_kernels.exp_table((-a).numpy(), z_1.numpy(), table.numpy())
            return table
        return torch.exp(-a[:, None, None] * z_1)


@dataclass(frozen=True)
class _PlaneJob:
    """Everything a grid-row worker of :meth:`MLPPlane.losses` reads (``out`` it writes)."""

    chunk_size: int
    out: torch.Tensor
    heads: torch.Tensor
    a: torch.Tensor
    rows: torch.Tensor | None
    at: dict[str, list]
    along: list[dict[str, list]]
    growth: torch.Tensor | None
    labels: torch.Tensor | None
    y: torch.Tensor
    in_bits: bool


def _fusable(t: torch.Tensor) -> bool:
    """Whether the numba kernels (:mod:`.plane_kernels`) apply: float32 on the CPU."""
    return t.device.type == "cpu" and t.dtype == torch.float32


def _moved(params: dict[str, list], direction: dict[str, list], step) -> dict[str, list]:
    return {
        k: [None if t is None else t + step * d for t, d in zip(v, direction[k], strict=True)]
        for k, v in params.items()
    }


def _along_axis(params: list, direction: list, coef: torch.Tensor) -> list:
    """Weights ``[len(coef), out, in]`` and biases ``[len(coef), out, 1]`` at each ``coef``."""
    w, b = params
    dw, db = direction
    weight = torch.addcmul(w, coef[:, None, None], dw)
    bias = None if b is None else torch.addcmul(b, coef[:, None], db)[:, :, None]
    return [weight, bias]


class _Buffers:
    """Preallocated activations of a chunk of grid points, written in place."""

    def __init__(self, layers, z_0: torch.Tensor, chunk: int) -> None:
        self.hidden = torch.empty(chunk, *z_0.shape, dtype=z_0.dtype, device=z_0.device)
        self.fused = _fusable(z_0)
        self.denominator = None if self.fused else torch.empty_like(self.hidden)
        self.silu = bool(layers) and isinstance(layers[0][1], nn.SiLU)
        n = z_0.shape[1]
        self.outputs = {
            name: torch.empty(chunk, m.out_features, n, dtype=z_0.dtype, device=z_0.device)
            for name, m in layers
            if isinstance(m, nn.Linear)
        }

    def row_factors(self, z_b: torch.Tensor, z_1: torch.Tensor) -> tuple:
        """``e = exp(z_b)`` and, for SiLU, ``z_b e`` and ``z_1 e``: a row's shared factors.

        With ``g = exp(-a z_1)``, ``sigmoid(z_b + a z_1) = e / (e + g)`` and
        ``silu(z_b + a z_1) = (z_b e + a z_1 e) / (e + g)``.
        """
        if self.fused and self.silu:
            e, ze, ye = (torch.empty_like(z_b) for _ in range(3))
            plane_kernels.exp_factors(z_b.numpy(), z_1.numpy(), e.numpy(), ze.numpy(), ye.numpy())
            return e, ze, ye
        e = torch.exp(z_b)
        return (e, z_b * e, z_1 * e) if self.silu else (e,)

    def first(self, z_b, z_1, coef, factors, growth, start: int) -> torch.Tensor:
        """First-layer outputs at ``z_b + a z_1``: activated when the row's ``factors`` are given.

        Without ``factors`` the pre-activations; with them the SiLU or sigmoid of the
        pre-activations, from ``growth = exp(-a z_1)`` (see :meth:`row_factors`).
        """
        k = len(coef)
        h = self.hidden[:k]
        if factors is None:
            return torch.addcmul(z_b, coef[:, None, None], z_1, out=h)
        if self.fused:
            g = growth[start : start + k].numpy()
            if self.silu:
                e, ze, ye = (t.numpy() for t in factors)
                plane_kernels.silu_rows(ze, ye, e, g, coef.numpy(), h.numpy())
            else:
                plane_kernels.sigmoid_rows(factors[0].numpy(), g, h.numpy())
            return h
        d = torch.add(factors[0], growth[start : start + k], out=self.denominator[:k])
        if not self.silu:
            return torch.div(factors[0], d, out=h)
        return torch.addcmul(factors[1], coef[:, None, None], factors[2], out=h).div_(d)

    def cross_entropy(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """Mean cross-entropy per point of ``logits`` in bits by the numba kernel.

        ``None`` when the kernel does not apply (not float32 on the CPU) or a value is not
        finite (the torch route then gives the same NaN or infinity as the model would).
        """
        if not self.fused:
            return None
        values = np.empty(len(logits))
        plane_kernels.cross_entropy_bits(logits.numpy(), y.numpy(), values)
        if not np.isfinite(values).all():
            return None
        return torch.from_numpy(values).to(logits.dtype)

    def linear(self, name: str, weights: list, h: torch.Tensor, start: int, stop: int):
        w, b = weights[0][start:stop], weights[1]
        out = self.outputs[name][: stop - start]
        if b is None:
            return torch.bmm(w, h, out=out)
        return torch.baddbmm(b[start:stop], w, h, out=out)


def _cross_entropy_bits(logits: torch.Tensor, index: torch.Tensor, shift: bool):
    """Mean cross-entropy (in nats) of ``logits [points, classes, samples]`` given in bits.

    ``logits`` are the model's logits times ``log2(e)``, so that ``exp2`` and ``log2`` (cheaper
    than ``exp`` and ``log`` on a CPU) give each sample's loss; they are overwritten. ``index``
    picks each sample's true-class logit from ``logits[p].ravel()``. Without ``shift`` each
    sample's loss is ``log2(sum(2**(logits - true logit)))``, a sum of terms of which one is 1;
    ``None`` is returned if one overflows. With ``shift`` the logits are shifted by each
    sample's largest, which always works.
    """
    n = logits.shape[2]
    picked = torch.index_select(logits.view(len(logits), -1), 1, index)
    if not shift:
        sums = logits.sub_(picked[:, None]).exp2_().sum(1)
        if not bool(sums.amax().isfinite()):
            return None
        return sums.log2_().sum(1) * (LN_2 / n)
    top = logits.amax(1, keepdim=True)
    lse = logits.sub_(top).exp2_().sum(1).log2_()
    return lse.add_(top[:, 0]).sub_(picked).sum(1) * (LN_2 / n)


def _label_index(loss, y: torch.Tensor, layers) -> torch.Tensor | None:
    """Flat indices ``label * samples + sample`` for plain cross-entropy, else ``None``."""
    linear = [m for _, m in layers if isinstance(m, nn.Linear)]
    if not linear or not is_cross_entropy(loss) or y.ndim != 1 or y.is_floating_point():
        return None
    if bool((y < 0).any()) or bool((y >= linear[-1].out_features).any()):
        return None
    return y * len(y) + torch.arange(len(y), device=y.device)


def _generic(loss, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.stack([loss(out.T, y) for out in logits])


def mlp_plane(split: FirstLayerSplit | None, loss: Callable, x: torch.Tensor) -> MLPPlane | None:
    """An :class:`MLPPlane` for a split model, or ``None`` when the model is not such an MLP.

    The first layer must be ``nn.Linear`` on 2-D inputs ``x`` and every later module
    ``nn.Linear`` or an elementwise activation (without hooks).

    Examples
    --------
    >>> import torch
    >>> from labkit.landscape.first_layer import split_first_layer
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.SiLU(), torch.nn.Linear(8, 3))
    >>> plane = mlp_plane(split_first_layer(net), torch.nn.functional.cross_entropy,
    ...                   torch.randn(5, 4))
    >>> [name for name, _ in plane.layers]
    ['1', '2']
    >>> conv = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten())
    >>> mlp_plane(split_first_layer(conv), torch.nn.functional.mse_loss, torch.randn(2, 1, 5, 5))
    """
    if split is None or not isinstance(split.first, nn.Linear) or x.ndim != 2:
        return None
    layers = list(split.rest.named_children())
    for _, m in layers:
        if not isinstance(m, (nn.Linear, *ELEMENTWISE)) or m._forward_hooks:
            return None
        if m._forward_pre_hooks:
            return None
    return MLPPlane(split=split, layers=layers, loss=loss)
