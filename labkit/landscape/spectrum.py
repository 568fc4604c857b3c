"""Hessian spectra: top/bottom eigenpairs (Lanczos), trace (Hutchinson, Hutch++), spectral
density (stochastic Lanczos quadrature) and per-block spectra."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from labkit._checks import check_choice, check_int, check_positive, to_plain

from .closure import restrict
from .hvp import HessianOperator, check_params
from .lanczos import lanczos, ritz
from .params import Params, unflatten

__all__ = [
    "BlockSpectra",
    "DensityResult",
    "EigenResult",
    "TraceResult",
    "block_spectra",
    "hessian_trace",
    "parameter_blocks",
    "spectral_density",
    "top_eigenvalues",
]


def _generator(seed: int, device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(check_int("seed", seed))
    return g


def _rademacher(shape, like: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    bits = torch.randint(0, 2, shape, generator=gen, device=like.device)
    return (2 * bits - 1).to(like.dtype)


@dataclass
class EigenResult:
    """Extreme eigenpairs of the Hessian.

    Attributes
    ----------
    eigenvalues : ndarray
        The ``k`` eigenvalues, in descending order.
    eigenvectors : list of dict
        Unit eigenvectors (parameter dicts), in the order of ``eigenvalues``.
    residuals : ndarray
        Lanczos residual norms ``||H u - lambda u||``; each bounds its eigenvalue's error.
    """

    eigenvalues: np.ndarray
    eigenvectors: list[Params] = field(repr=False)
    residuals: np.ndarray
    converged: bool
    which: str
    n_hvp: int
    n_iter: int
    seconds: float
    mode: str

    def to_dict(self) -> dict:
        return to_plain(self, omit=("eigenvectors",))


def top_eigenvalues(
    loss_fn: Callable[[Params], torch.Tensor],
    params: Mapping[str, torch.Tensor],
    k: int = 1,
    tol: float = 1e-3,
    which: str = "largest",
    *,
    max_iter: int | None = None,
    mode: str = "auto",
    seed: int = 0,
) -> EigenResult:
    """The ``k`` largest (or smallest) Hessian eigenvalues and eigenvectors, by Lanczos.

    Lanczos with full reorthogonalisation runs until every wanted Ritz pair has a residual
    ``||H u - theta u|| <= tol * max(|theta|, 1e-3 ||T||)``; the eigenvalue error is at most the
    residual (and usually its square over the spectral gap).

    Parameters
    ----------
    loss_fn, params
        The loss closure and the point (see :func:`loss_closure`).
    k : int
        Number of eigenpairs, ``1 <= k <=`` number of parameters.
    tol : float
        Relative residual tolerance.
    which : {"largest", "smallest"}
        Algebraically largest or smallest eigenvalues.
    max_iter : int, optional
        Most Lanczos steps (HVPs); default ``min(D, max(100, 4 k))``. Memory is ``max_iter``
        parameter vectors.
    mode : {"auto", "fwd-rev", "rev-rev"}
        HVP mode (see :func:`hvp`).
    seed : int
        Seed of the random start vector.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    >>> params = {"x": torch.zeros(3, dtype=torch.float64, requires_grad=True)}
    >>> res = top_eigenvalues(lambda p: 0.5 * (w * p["x"] ** 2).sum(), params, k=2, tol=1e-8)
    >>> [round(float(e), 6) for e in res.eigenvalues]
    [3.0, 2.0]
    """
    params = check_params(params)
    D = sum(p.numel() for p in params.values())
    k = check_int("k", k, minimum=1)
    if k > D:
        raise ValueError(f"k must be <= the number of parameters ({D}), got {k}")
    check_positive("tol", tol)
    check_choice("which", which, ("largest", "smallest"))
    max_iter = min(D, max(100, 4 * k)) if max_iter is None else check_int("max_iter", max_iter)
    if max_iter < k:
        raise ValueError(f"max_iter must be >= k ({k}), got {max_iter}")
    t0 = time.perf_counter()
    op = HessianOperator(loss_fn, params, mode)
    first = next(iter(params.values()))
    v0 = torch.randn(
        D, generator=_generator(seed, first.device), dtype=first.dtype, device=first.device
    )
    converged = False
    for state in lanczos(op.matvec, v0, max_iter):
        if state.m < k:
            continue
        theta, S, res = ritz(state)
        idx = np.arange(len(theta))[::-1][:k] if which == "largest" else np.arange(k)[::-1]
        floor = 1e-3 * np.abs(theta).max()
        if state.exhausted or np.all(res[idx] <= tol * np.maximum(np.abs(theta[idx]), floor)):
            converged = True
            break
    U = torch.as_tensor(S[:, idx], dtype=state.Q.dtype, device=state.Q.device).T @ state.Q
    return EigenResult(
        eigenvalues=theta[idx].copy(),
        eigenvectors=[{n: t.clone() for n, t in unflatten(u, params).items()} for u in U],
        residuals=res[idx].copy(),
        converged=converged,
        which=which,
        n_hvp=op.n_hvp,
        n_iter=state.m,
        seconds=time.perf_counter() - t0,
        mode=op.mode,
    )


@dataclass
class TraceResult:
    """Stochastic estimate of the Hessian trace, with its standard error."""

    trace: float
    std_error: float
    method: str
    n_hvp: int
    seconds: float
    samples: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        return {
            "trace": self.trace,
            "std_error": self.std_error,
            "method": self.method,
            "n_hvp": self.n_hvp,
            "seconds": self.seconds,
        }


def hessian_trace(
    loss_fn: Callable[[Params], torch.Tensor],
    params: Mapping[str, torch.Tensor],
    method: str = "hutch++",
    n_probes: int = 30,
    *,
    mode: str = "auto",
    seed: int = 0,
    chunk_size: int | None = 8,
) -> TraceResult:
    """Estimate ``tr(H)`` with Hutchinson's method or Hutch++ from ``n_probes`` HVPs.

    Hutchinson averages ``z^T H z`` over Rademacher vectors ``z``. Hutch++ (Meyer, Musco, Musco
    & Woodruff 2021) spends a third of the products on a sketch ``Q`` of the top range, takes
    ``tr(Q^T H Q)`` exactly and runs Hutchinson on the rest, so its error falls like ``1/m``
    instead of ``1/sqrt(m)`` when the spectrum has a few large eigenvalues. Products run in
    batches of ``chunk_size``.

    Examples
    --------
    >>> import torch
    >>> w = torch.arange(1.0, 7.0, dtype=torch.float64)
    >>> params = {"x": torch.zeros(6, dtype=torch.float64, requires_grad=True)}
    >>> res = hessian_trace(lambda p: 0.5 * (w * p["x"] ** 2).sum(), params, n_probes=18)
    >>> round(res.trace, 6)
    21.0
    """
    params = check_params(params)
    check_choice("method", method, ("hutchinson", "hutch++"))
    n_probes = check_int("n_probes", n_probes, minimum=3 if method == "hutch++" else 1)
    t0 = time.perf_counter()
    op = HessianOperator(loss_fn, params, mode)
    D = op.numel
    first = next(iter(params.values()))
    gen = _generator(seed, first.device)
    if method == "hutchinson":
        Z = _rademacher((n_probes, D), first, gen)
        samples = (op.matmat(Z, chunk_size) * Z).sum(1)
        base = 0.0
    else:
        s = min(n_probes // 3, D)
        S = _rademacher((s, D), first, gen)
        Qm, _ = torch.linalg.qr(op.matmat(S, chunk_size).T)
        base = float((op.matmat(Qm.T, chunk_size) * Qm.T).sum())
        G = _rademacher((max(n_probes - 2 * s, 1), D), first, gen)
        G = G - (G @ Qm) @ Qm.T
        samples = (op.matmat(G, chunk_size) * G).sum(1)
    samples = samples.detach().cpu().double().numpy()
    std = float(samples.std(ddof=1) / math.sqrt(len(samples))) if len(samples) > 1 else math.inf
    return TraceResult(
        trace=base + float(samples.mean()),
        std_error=std,
        method=method,
        n_hvp=op.n_hvp,
        seconds=time.perf_counter() - t0,
        samples=samples,
    )


@dataclass
class DensityResult:
    """Spectral density of the Hessian from stochastic Lanczos quadrature.

    Attributes
    ----------
    grid, density : ndarray
        The Gaussian-smoothed density on an even grid; ``np.trapezoid(density, grid) == 1``.
    nodes, weights : ndarray
        Quadrature nodes (Ritz values of every probe) and weights (summing to 1): the density
        is ``sum_j weights[j] * N(nodes[j], sigma^2)``.
    """

    grid: np.ndarray
    density: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    sigma: float
    n_probes: int
    n_iter: int
    n_hvp: int
    seconds: float
    probe: np.ndarray = field(default=None, repr=False)

    def mass(self, low: float = -np.inf, high: float = np.inf) -> float:
        """Estimated fraction of eigenvalues in ``[low, high]`` (sum of the node weights)."""
        inside = (self.nodes >= low) & (self.nodes <= high)
        return float(self.weights[inside].sum())

    def smoothed(self, sigma: float, grid_size: int | None = None) -> DensityResult:
        """The same quadrature smoothed with another ``sigma`` (no new HVPs)."""
        grid, density = _smooth(self.nodes, self.weights, sigma, grid_size or len(self.grid))
        return replace(self, grid=grid, density=density, sigma=float(sigma))

    def first_probes(self, n_probes: int) -> DensityResult:
        """The density from only the first ``n_probes`` probe vectors (no new HVPs)."""
        n_probes = check_int("n_probes", n_probes, minimum=1)
        if n_probes > self.n_probes:
            raise ValueError(f"n_probes must be <= {self.n_probes}, got {n_probes}")
        keep = self.probe < n_probes
        weights = self.weights[keep] * self.n_probes / n_probes
        grid, density = _smooth(self.nodes[keep], weights, self.sigma, len(self.grid))
        return replace(
            self,
            grid=grid,
            density=density,
            nodes=self.nodes[keep],
            weights=weights,
            n_probes=n_probes,
            n_hvp=self.n_hvp * n_probes // self.n_probes,
            probe=self.probe[keep],
        )

    def to_dict(self) -> dict:
        return {
            "sigma": self.sigma,
            "n_probes": self.n_probes,
            "n_iter": self.n_iter,
            "n_hvp": self.n_hvp,
            "seconds": self.seconds,
            "lambda_min": float(self.nodes.min()),
            "lambda_max": float(self.nodes.max()),
        }


def _smooth(nodes, weights, sigma, grid_size):
    lo, hi = nodes.min() - 5 * sigma, nodes.max() + 5 * sigma
    grid = np.linspace(lo, hi, grid_size)
    z = (grid[:, None] - nodes[None, :]) / sigma
    density = (np.exp(-0.5 * z**2) * weights).sum(1)
    return grid, density / np.trapezoid(density, grid)


def spectral_density(
    loss_fn: Callable[[Params], torch.Tensor],
    params: Mapping[str, torch.Tensor],
    n_iter: int = 80,
    n_probes: int = 4,
    *,
    sigma: float | None = None,
    grid_size: int = 2000,
    mode: str = "auto",
    seed: int = 0,
) -> DensityResult:
    """Hessian spectral density by stochastic Lanczos quadrature (Ghorbani et al. 2019).

    Each of ``n_probes`` Rademacher vectors starts ``n_iter`` Lanczos steps (full
    reorthogonalisation); the Ritz values of ``T`` are quadrature nodes and the squared first
    components of its eigenvectors their weights. The density is the average over probes,
    smoothed with Gaussians of width ``sigma`` (default: 1 % of the spectral range) and
    normalised to integrate to 1 on its grid.

    Examples
    --------
    >>> import numpy as np, torch
    >>> w = torch.tensor([1.0] * 50 + [10.0] * 50, dtype=torch.float64)
    >>> params = {"x": torch.zeros(100, dtype=torch.float64, requires_grad=True)}
    >>> res = spectral_density(lambda p: 0.5 * (w * p["x"] ** 2).sum(), params, n_iter=10)
    >>> round(float(np.trapezoid(res.density, res.grid)), 6), round(res.mass(5, 11), 1)
    (1.0, 0.5)
    """
    params = check_params(params)
    n_iter = check_int("n_iter", n_iter, minimum=1)
    n_probes = check_int("n_probes", n_probes, minimum=1)
    grid_size = check_int("grid_size", grid_size, minimum=2)
    if sigma is not None:
        check_positive("sigma", sigma)
    t0 = time.perf_counter()
    op = HessianOperator(loss_fn, params, mode)
    first = next(iter(params.values()))
    gen = _generator(seed, first.device)
    nodes, weights = [], []
    for _ in range(n_probes):
        *_, state = lanczos(op.matvec, _rademacher((op.numel,), first, gen), n_iter)
        theta, S, _ = ritz(state)
        nodes.append(theta)
        weights.append(S[0] ** 2 / n_probes)
    probe = np.concatenate([np.full(len(t), i) for i, t in enumerate(nodes)])
    nodes, weights = np.concatenate(nodes), np.concatenate(weights)
    if sigma is None:
        sigma = 0.01 * max(nodes.max() - nodes.min(), 1e-12 * max(1.0, abs(nodes).max()))
    grid, density = _smooth(nodes, weights, sigma, grid_size)
    return DensityResult(
        grid,
        density,
        nodes,
        weights,
        float(sigma),
        n_probes,
        n_iter,
        op.n_hvp,
        time.perf_counter() - t0,
        probe,
    )


def parameter_blocks(params: Mapping[str, torch.Tensor]) -> dict[str, list[str]]:
    """Group parameter names by the module that owns them (``"0.weight" -> "0"``).

    Examples
    --------
    >>> import torch
    >>> parameter_blocks(dict(torch.nn.Sequential(torch.nn.Linear(2, 2)).named_parameters()))
    {'0': ['0.weight', '0.bias']}
    """
    blocks: dict[str, list[str]] = {}
    for name in params:
        blocks.setdefault(name.rsplit(".", 1)[0] if "." in name else name, []).append(name)
    return blocks


@dataclass
class BlockSpectra:
    """Top eigenvalues and spectral density of each diagonal Hessian block."""

    blocks: dict[str, list[str]]
    eigenvalues: dict[str, np.ndarray]
    densities: dict[str, DensityResult] = field(repr=False)
    n_hvp: int
    seconds: float

    def to_dict(self) -> dict:
        return to_plain(self, omit=("densities",))


def block_spectra(
    loss_fn: Callable[[Params], torch.Tensor],
    params: Mapping[str, torch.Tensor],
    blocks: Mapping[str, Iterable[str]] | None = None,
    *,
    k: int = 3,
    n_iter: int = 40,
    n_probes: int = 2,
    tol: float = 1e-3,
    max_iter: int | None = None,
    mode: str = "auto",
    seed: int = 0,
) -> BlockSpectra:
    """Top-``k`` eigenvalues and SLQ density of each diagonal block of the Hessian.

    A block is a group of parameter names (default: one per module, see
    :func:`parameter_blocks`); its Hessian is the second derivative with the other parameters
    held fixed. ``max_iter`` caps the Lanczos steps of each block's top eigenvalues.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([1.0, 2.0, 3.0, 4.0])
    >>> params = {"a": torch.zeros(2, requires_grad=True), "b": torch.zeros(2, requires_grad=True)}
    >>> f = lambda p: 0.5 * (w * torch.cat([p["a"], p["b"]]) ** 2).sum()
    >>> res = block_spectra(f, params, k=1, n_iter=2, n_probes=1)
    >>> {b: round(float(e[0]), 4) for b, e in res.eigenvalues.items()}
    {'a': 2.0, 'b': 4.0}
    """
    params = check_params(params)
    blocks = parameter_blocks(params) if blocks is None else {b: list(n) for b, n in blocks.items()}
    t0 = time.perf_counter()
    eigenvalues, densities, n_hvp = {}, {}, 0
    for block, names in blocks.items():
        f, sub = restrict(loss_fn, params, names)
        size = sum(p.numel() for p in sub.values())
        steps = None if max_iter is None else max(min(max_iter, size), min(k, size))
        top = top_eigenvalues(f, sub, k=min(k, size), tol=tol, max_iter=steps, mode=mode, seed=seed)
        dens = spectral_density(
            f, sub, n_iter=min(n_iter, size), n_probes=n_probes, mode=mode, seed=seed
        )
        eigenvalues[block], densities[block] = top.eigenvalues, dens
        n_hvp += top.n_hvp + dens.n_hvp
    return BlockSpectra(blocks, eigenvalues, densities, n_hvp, time.perf_counter() - t0)
