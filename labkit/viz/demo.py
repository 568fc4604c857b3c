"""Small results computed on the spot by the rooms' own functions, so every explorer runs
without data.

Each generator calls the room it stands for, at a size that takes about a second, and returns
that room's own result type: a small network trained by :func:`labkit.train.fit` (its
``History``), the Hessian spectrum of that network by :mod:`labkit.landscape` (``DensityResult``,
``EigenResult``, ``BlockSpectra``), a loss surface along two filter-normalised directions
(``SurfaceResult``), a random-subspace sweep (``IntrinsicDimensionResult``) and a pore volume
split into one region per skeleton branch by :mod:`labkit.pores` (a label array). Only the
field demo (a heat equation solved by finite differences against its exact Fourier solution)
is computed here, as no room solves the heat equation.

Examples
--------
>>> from labkit.viz.demo import demo_fields
>>> f = demo_fields(nx=32, n_times=5)
>>> f.truth.shape == f.prediction.shape == (5, 32)
True
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from labkit._checks import check_int, to_plain

__all__ = [
    "DemoFields",
    "demo_fields",
    "demo_history",
    "demo_intrinsic",
    "demo_pores",
    "demo_spectrum",
    "demo_surface",
]


def _sine_data(n: int, seed: int, *, outputs: int = 2):
    """``n`` points ``x`` in [-2, 2], targets ``sin((k + 2) x)`` for k < ``outputs``, plus noise."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = 4 * torch.rand(n, 1, generator=gen, dtype=torch.float64) - 2
    freq = torch.arange(2, 2 + outputs, dtype=torch.float64)
    y = torch.sin(x * freq) + 0.05 * torch.randn(n, outputs, generator=gen, dtype=torch.float64)
    return x, y


def _mlp(seed: int, *, hidden: int = 16, outputs: int = 2):
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(1, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, outputs)
    ).double()


def _trained(epochs: int, seed: int, *, batch_size: int = 32):
    """A small MLP trained by ``labkit.train.fit`` on :func:`_sine_data`: (model, data, History).

    A fresh copy of a run kept per arguments (the demos of one process share their training).
    """
    return copy.deepcopy(_trained_once(epochs, seed, batch_size))


@lru_cache(maxsize=4)
def _trained_once(epochs: int, seed: int, batch_size: int):
    import torch
    from torch.utils.data import TensorDataset

    from labkit.train import TrainConfig, fit

    x, y = _sine_data(256, seed)
    x_val, y_val = _sine_data(128, seed + 1)
    model = _mlp(seed)
    history = fit(
        model,
        TensorDataset(x, y),
        TensorDataset(x_val, y_val),
        loss=torch.nn.functional.mse_loss,
        config=TrainConfig(
            epochs=epochs,
            lr=1e-2,
            batch_size=batch_size,
            optimizer="adam",
            weight_decay=0.0,
            schedule="cosine",
            device="cpu",
            seed=seed,
        ),
    )
    return model, (x, y), history


def demo_history(epochs: int = 25, *, batch_size: int = 32, seed: int = 0):
    """Train a small MLP on ``sin(2x), sin(3x)`` with :func:`labkit.train.fit`; its ``History``.

    256 training points in batches of ``batch_size`` (8 steps per epoch by default), a cosine
    learning-rate schedule and a validation loss at each epoch end.

    Examples
    --------
    >>> h = demo_history(epochs=2)
    >>> len(h.train_loss) == len(h.lr) == len(h.step) == 16, h.val_step
    (True, [8, 16])
    """
    epochs = check_int("epochs", epochs, minimum=1)
    return _trained(epochs, seed, batch_size=batch_size)[2]


@dataclass
class DemoFields:
    """Truth and prediction ``[n_times, *grid]`` at ``times``."""

    truth: np.ndarray
    prediction: np.ndarray
    times: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain lists (JSON-able)."""
        return to_plain(asdict(self), "fields")


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


def demo_spectrum(
    *, epochs: int = 10, k: int = 20, n_iter: int = 20, n_probes: int = 3, seed: int = 0
) -> dict[str, tuple[Any, Any, Any]]:
    """Hessian spectra of the demo MLP before and after training, by :mod:`labkit.landscape`.

    Returns ``{model name: (DensityResult, EigenResult, BlockSpectra)}`` with the SLQ density
    (``n_iter`` Lanczos steps, ``n_probes`` probes), the top ``k`` eigenvalues and the spectra of
    each layer's diagonal block: what :func:`labkit.viz.spectrum_explorer` takes.

    Examples
    --------
    >>> spectra = demo_spectrum(epochs=1, k=3, n_iter=8, n_probes=2)
    >>> list(spectra), [len(top.eigenvalues) for _, top, _ in spectra.values()]
    (['MLP, trained', 'MLP, at initialisation'], [3, 3])
    """
    import torch

    from labkit.landscape import block_spectra, loss_closure, spectral_density, top_eigenvalues

    trained, data, _ = _trained(check_int("epochs", epochs, minimum=1), seed)
    out = {}
    for name, model in (("MLP, trained", trained), ("MLP, at initialisation", _mlp(seed))):
        loss_fn, params = loss_closure(model, torch.nn.functional.mse_loss, data)
        density = spectral_density(
            loss_fn, params, n_iter, n_probes, grid_size=400, mode="rev-rev", seed=seed
        )
        top = top_eigenvalues(loss_fn, params, k=k, tol=1e-4, mode="rev-rev", seed=seed)
        blocks = block_spectra(
            loss_fn,
            params,
            k=3,
            n_iter=max(n_iter // 2, 3),
            n_probes=n_probes,
            tol=1e-3,
            mode="rev-rev",
            seed=seed,
        )
        out[name] = (density, top, blocks)
    return out


def demo_surface(n: int = 31, *, span: float = 1.0, epochs: int = 10, seed: int = 0):
    """Loss of the demo MLP on an ``n x n`` grid along two filter-normalised directions.

    :func:`labkit.landscape.loss_surface` of the network trained by :func:`demo_history`'s
    loop; a ``SurfaceResult`` (``loss[i, j]`` at ``coords[0][i], coords[1][j]``).

    Examples
    --------
    >>> s = demo_surface(n=5, epochs=1)
    >>> s.loss.shape, bool(abs(s.loss[2, 2] - s.origin_loss) < 1e-12)
    ((5, 5), True)
    """
    import torch

    from labkit.landscape import loss_surface

    model, data, _ = _trained(check_int("epochs", epochs, minimum=1), seed)
    grid = np.linspace(-span, span, check_int("n", n, minimum=2))
    return loss_surface(
        model, torch.nn.functional.mse_loss, data, directions=2, grid=grid, seed=seed
    )


def demo_intrinsic(
    n_params: int = 200,
    *,
    n_samples: int = 40,
    dims: tuple[int, ...] = (1, 2, 4, 8, 16, 24, 32, 40, 64, 128, 200),
    seeds: tuple[int, ...] = (0, 1, 2),
    seed: int = 0,
):
    """Least squares in random subspaces, swept by :func:`labkit.landscape.intrinsic_dimension`.

    A linear model with ``n_params`` weights fits ``n_samples`` < ``n_params`` points; in the
    subspace ``w = P z`` spanned by a ``labkit.landscape.DenseProjection`` ``P`` of dimension
    ``d`` it is solved exactly by least squares, and scored by the training R². A subspace of
    dimension about ``n_samples`` already reaches the full-space baseline: the intrinsic
    dimension is set by the task, not by the parameter count. Returns an
    ``IntrinsicDimensionResult``.

    Examples
    --------
    >>> r = demo_intrinsic(dims=(4, 40), seeds=(0,))
    >>> r.dims.tolist(), r.d_int90, round(r.baseline, 6)
    ([4, 40], 40, 1.0)
    """
    from concurrent.futures import ThreadPoolExecutor

    from labkit.landscape import intrinsic_dimension

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_samples, n_params))
    y = x @ rng.normal(size=n_params) / np.sqrt(n_params) + 0.1 * rng.normal(size=n_samples)
    with ThreadPoolExecutor(1) as pool:
        return intrinsic_dimension(
            _SubspaceLeastSquares(x, y), dims, seeds=seeds, executor=pool, progress=False
        )


@dataclass
class _SubspaceLeastSquares:
    """``task(d, seed)``: training R² of least squares in a random ``d``-dimensional subspace."""

    x: np.ndarray
    y: np.ndarray

    def r2(self, features: np.ndarray) -> float:
        pred = features @ np.linalg.lstsq(features, self.y, rcond=None)[0]
        return float(1 - np.sum((self.y - pred) ** 2) / np.sum((self.y - self.y.mean()) ** 2))

    def __call__(self, d: int | None, seed: int) -> float:
        from labkit.landscape import DenseProjection

        if d is None:
            return self.r2(self.x)
        basis = DenseProjection(self.x.shape[1], d, seed=seed).matrix.double().numpy()
        return self.r2(self.x @ basis)


def demo_pores(
    n: int = 32,
    *,
    porosity: float = 0.4,
    blobiness: float = 0.5,
    prune_length: float = 3.0,
    seed: int = 0,
) -> np.ndarray:
    """A blobs pore volume split into one region per skeleton branch, by :mod:`labkit.pores`.

    ``lp.blobs`` makes the volume, ``lp.skeletonize`` and ``lp.prune`` its skeleton,
    ``lp.partition`` gives each pore voxel the label of its nearest branch. Returns the integer
    label volume ``[n, n, n]`` (0 on solid). (The first call in a process compiles skan's
    graph code, a few seconds.)

    Examples
    --------
    >>> labels = demo_pores(16)
    >>> labels.shape, int(labels.min()), bool(labels.max() > 1)
    ((16, 16, 16), 0, True)
    """
    import labkit.pores as lp

    volume = lp.blobs(
        check_int("n", n, minimum=8), porosity=porosity, blobiness=blobiness, seed=seed
    )
    skeleton = lp.prune(lp.skeletonize(volume), min_length=prune_length)
    return lp.partition(volume, skeleton, graph=lp.skeleton_graph(skeleton))
