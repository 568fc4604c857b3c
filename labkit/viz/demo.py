"""Small results computed on the spot (numpy/torch only) so every explorer can run without data.

Each generator really computes what it stands for, at a size that takes well under a second:
a tiny network trained for a few hundred steps, a heat equation solved by finite differences
against its exact Fourier solution, the spectrum of a matrix with known outliers, a loss surface
along two filter-normalised directions, random-subspace least squares for intrinsic dimension,
and a labelled pore volume.

Examples
--------
>>> from labkit.viz.demo import demo_fields
>>> f = demo_fields(nx=32, n_times=5)
>>> f.truth.shape == f.prediction.shape == (5, 32)
True
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = [
    "DemoFields",
    "DemoHistory",
    "DemoIntrinsic",
    "DemoPores",
    "DemoSpectrum",
    "DemoSurface",
    "demo_fields",
    "demo_history",
    "demo_intrinsic",
    "demo_pores",
    "demo_spectrum",
    "demo_surface",
]


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _ToDict:
    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain lists and numbers (JSON-able)."""
        return _plain(asdict(self))


@dataclass
class DemoHistory(_ToDict):
    """Per-step training history: loss, learning rate, throughput (samples/s), val loss."""

    steps: np.ndarray
    loss: np.ndarray
    lr: np.ndarray
    throughput: np.ndarray
    val_steps: np.ndarray
    val_loss: np.ndarray


@dataclass
class DemoFields(_ToDict):
    """Truth and prediction ``[n_times, *grid]`` with the times and the grid spacing."""

    truth: np.ndarray
    prediction: np.ndarray
    times: np.ndarray


@dataclass
class DemoSpectrum(_ToDict):
    """A spectral density on ``grid``, the top ``eigenvalues`` and per-block spectra."""

    grid: np.ndarray
    density: np.ndarray
    eigenvalues: np.ndarray
    blocks: dict[str, DemoSpectrum] = field(default_factory=dict)


@dataclass
class DemoSurface(_ToDict):
    """Loss on a 2-D grid; ``loss[i, j]`` is the loss at ``(x[j], y[i])``."""

    x: np.ndarray
    y: np.ndarray
    loss: np.ndarray


@dataclass
class DemoIntrinsic(_ToDict):
    """``(d, accuracy)`` points of a random-subspace sweep and the full-space ``baseline``."""

    points: list[tuple[int, float]]
    baseline: float


@dataclass
class DemoPores(_ToDict):
    """A 3-D label volume: 0 on solid, one positive label per pore region."""

    labels: np.ndarray


def demo_history(n_steps: int = 200, *, batch_size: int = 32, seed: int = 0) -> DemoHistory:
    """Train a small MLP on ``sin(3x)`` with a cosine learning-rate schedule and record it.

    Examples
    --------
    >>> h = demo_history(n_steps=20)
    >>> len(h.loss) == len(h.lr) == len(h.throughput) == 20
    True
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(1, 32),
        torch.nn.Tanh(),
        torch.nn.Linear(32, 1),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_steps)
    x_val = torch.linspace(-2, 2, 128)[:, None]
    y_val = torch.sin(3 * x_val)
    losses, lrs, speeds, val_steps, val_losses = [], [], [], [], []
    for step in range(n_steps):
        start = time.perf_counter()
        x = 4 * torch.rand(batch_size, 1, generator=gen) - 2
        y = torch.sin(3 * x) + 0.05 * torch.randn(batch_size, 1, generator=gen)
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        losses.append(loss.item())
        speeds.append(batch_size / max(time.perf_counter() - start, 1e-9))
        if step % 20 == 19 or step == n_steps - 1:
            with torch.no_grad():
                val_losses.append(torch.nn.functional.mse_loss(model(x_val), y_val).item())
            val_steps.append(step)
    return DemoHistory(
        np.arange(n_steps),
        np.array(losses),
        np.array(lrs),
        np.array(speeds),
        np.array(val_steps),
        np.array(val_losses),
    )


def _heat_exact(u0: np.ndarray, times: np.ndarray, nu: float) -> np.ndarray:
    axes = tuple(range(u0.ndim))
    k2 = sum(
        (2 * np.pi * np.fft.fftfreq(n, d=1.0 / n)).reshape([-1 if a == i else 1 for a in axes]) ** 2
        for i, n in enumerate(u0.shape)
    )
    u0_hat = np.fft.fftn(u0)
    return np.stack([np.fft.ifftn(u0_hat * np.exp(-nu * k2 * t)).real for t in times])


def _heat_fd(u0: np.ndarray, times: np.ndarray, nu: float) -> np.ndarray:
    h = 1.0 / u0.shape[0]
    dt = 0.2 * h**2 / (nu * u0.ndim)
    u, t, out = u0.copy(), 0.0, []
    for target in times:
        while t < target - 1e-15:
            step = min(dt, target - t)
            lap = sum(np.roll(u, 1, a) + np.roll(u, -1, a) - 2 * u for a in range(u.ndim))
            u = u + step * nu * lap / h**2
            t += step
        out.append(u.copy())
    return np.stack(out)


def demo_fields(
    nx: int = 64, *, n_times: int = 20, ndim: int = 1, nu: float = 0.01, seed: int = 0
) -> DemoFields:
    """Heat equation on the periodic unit interval/square: exact (truth) vs finite differences.

    ``truth`` is the exact Fourier solution, ``prediction`` an explicit second-order finite
    difference solution on the same grid ``x_j = j / nx``; both are ``[n_times, nx]`` (1-D) or
    ``[n_times, nx, nx]`` (2-D) at ``times = linspace(0, 0.5, n_times)``.
    """
    rng = np.random.default_rng(seed)
    shape = (nx,) * ndim
    u0_hat = np.zeros(shape, complex)
    index = (slice(1, 6),) * ndim
    u0_hat[index] = rng.normal(size=(5,) * ndim) + 1j * rng.normal(size=(5,) * ndim)
    u0 = np.fft.ifftn(u0_hat).real
    u0 /= np.abs(u0).max()
    times = np.linspace(0.0, 0.5, n_times)
    return DemoFields(_heat_exact(u0, times, nu), _heat_fd(u0, times, nu), times)


def _smoothed_density(eigs: np.ndarray, grid: np.ndarray, width: float) -> np.ndarray:
    kernel = np.exp(-0.5 * ((grid[:, None] - eigs[None, :]) / width) ** 2)
    density = kernel.sum(axis=1) / (len(eigs) * width * np.sqrt(2 * np.pi))
    return density


def _matrix_spectrum(n: int, outliers: np.ndarray, rng: np.random.Generator) -> DemoSpectrum:
    x = rng.normal(size=(n, 2 * n)) / np.sqrt(2 * n)
    eigs = np.linalg.eigvalsh(
        x @ x.T
        + sum(
            o * np.outer(v, v)
            for o, v in zip(
                outliers, np.linalg.qr(rng.normal(size=(n, len(outliers))))[0].T, strict=True
            )
        )
    )
    grid = np.linspace(eigs.min() - 0.5, eigs.max() + 0.5, 400)
    return DemoSpectrum(grid, _smoothed_density(eigs, grid, 0.12), eigs[::-1][:20].copy())


def demo_spectrum(n: int = 200, *, seed: int = 0) -> DemoSpectrum:
    """Spectrum of ``X X^T + sum_i o_i v_i v_i^T``: a Marchenko–Pastur bulk plus outliers.

    Two blocks (halves of the matrix with their own outliers) stand in for layers.
    """
    rng = np.random.default_rng(seed)
    whole = _matrix_spectrum(n, np.array([12.0, 8.0, 5.0]), rng)
    whole.blocks = {
        "layer 1": _matrix_spectrum(n // 2, np.array([10.0, 4.0]), rng),
        "layer 2": _matrix_spectrum(n // 2, np.array([6.0]), rng),
    }
    return whole


def demo_surface(n: int = 31, *, span: float = 1.0, seed: int = 0) -> DemoSurface:
    """Loss of a small trained MLP along two filter-normalised Gaussian directions."""
    import torch
    from torch.func import functional_call

    torch.manual_seed(seed)
    x = torch.linspace(-2, 2, 64)[:, None]
    y = torch.sin(2 * x)
    model = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(150):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    params = {k: v.detach() for k, v in model.named_parameters()}

    def direction() -> dict[str, torch.Tensor]:
        out = {}
        for name, p in params.items():
            d = torch.randn_like(p)
            if p.ndim > 1:
                d = d * p.norm(dim=1, keepdim=True) / d.norm(dim=1, keepdim=True)
            else:
                d = torch.zeros_like(p)
            out[name] = d
        return out

    d1, d2 = direction(), direction()
    coords = np.linspace(-span, span, n)
    loss_grid = np.empty((n, n))
    with torch.no_grad():
        for i, b in enumerate(coords):
            for j, a in enumerate(coords):
                p = {k: params[k] + a * d1[k] + b * d2[k] for k in params}
                loss_grid[i, j] = torch.nn.functional.mse_loss(functional_call(model, p, (x,)), y)
    return DemoSurface(coords, coords.copy(), loss_grid)


def demo_intrinsic(
    n_params: int = 200,
    *,
    n_samples: int = 40,
    dims: tuple[int, ...] = (1, 2, 4, 8, 16, 24, 32, 40, 64, 128, 200),
    n_seeds: int = 3,
    seed: int = 0,
) -> DemoIntrinsic:
    """Least squares trained in random ``d``-dimensional subspaces; accuracy is the training R².

    A model with ``n_params`` parameters fits ``n_samples`` < ``n_params`` points exactly, so a
    random subspace of dimension about ``n_samples`` already reaches the full-space baseline:
    the intrinsic dimension is set by the task, not by the parameter count.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_samples, n_params))
    y = x @ rng.normal(size=n_params) / np.sqrt(n_params) + 0.1 * rng.normal(size=n_samples)

    def r2(pred: np.ndarray) -> float:
        return float(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))

    baseline = r2(x @ np.linalg.lstsq(x, y, rcond=None)[0])
    points = []
    for d in dims:
        for _ in range(n_seeds):
            proj = rng.normal(size=(n_params, d)) / np.sqrt(d)
            z = np.linalg.lstsq(x @ proj, y, rcond=None)[0]
            points.append((int(d), r2(x @ proj @ z)))
    return DemoIntrinsic(points, baseline)


def demo_pores(
    n: int = 40, *, porosity: float = 0.45, n_seeds: int = 12, seed: int = 0
) -> DemoPores:
    """A smooth random pore space split into regions by the nearest of ``n_seeds`` seed voxels.

    The pore space is a Gaussian-filtered noise field thresholded at the requested porosity;
    every pore voxel takes the label of the nearest seed placed in the pore space.
    """
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.normal(size=(n, n, n)), sigma=n / 12, mode="wrap")
    pore = noise > np.quantile(noise, 1 - porosity)
    candidates = np.argwhere(pore)
    chosen = candidates[rng.choice(len(candidates), size=n_seeds, replace=False)]
    markers = np.zeros(pore.shape, dtype=np.int32)
    markers[tuple(chosen.T)] = np.arange(1, n_seeds + 1)
    _, nearest = ndimage.distance_transform_edt(markers == 0, return_indices=True)
    labels = markers[tuple(nearest)] * pore
    return DemoPores(labels.astype(np.int32))
