"""Darcy flow ``-div(a grad u) = f`` on the unit square with ``u = 0`` on the boundary.

The grid is ``n x n`` nodes ``x_i = i / (n - 1)`` with the boundary nodes included (as in the
421-point FNO benchmark files). Second-order finite differences with face-averaged coefficients
give one symmetric positive definite system per sample on the ``(n - 2)^2`` interior nodes.
Solvers: a sparse direct factorisation per sample (scipy); batched CG (torch, any device)
preconditioned by Jacobi or by a geometric multigrid V-cycle (:mod:`labkit.pde.multigrid`, the
fastest here, about a dozen iterations at any resolution); and, one system after another, CG with
Krylov recycling over a similarity-sorted sequence or with a two-level coarse space.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import torch

from labkit._checks import (
    Batch,
    as_batch,
    check_choice,
    check_finite,
    check_int,
    check_positive,
    to_plain,
)
from labkit.pde.krylov import CoarseSpace, RecyclingCG, cg, greedy_similarity_order
from labkit.pde.multigrid import Multigrid, coarse_coefficient, grid_sizes

__all__ = [
    "COARSE_NODES",
    "DarcyOperator",
    "SequenceResult",
    "multigrid",
    "solve",
    "solve_sequence",
]

COARSE_NODES = 15
"""Coarse nodes per side of the two-level solver's bilinear coarse space (suits ``n = 65``)."""


@dataclass
class DarcyOperator:
    """The finite-difference operator of a batch of coefficient fields.

    Attributes
    ----------
    ax, ay
        Face coefficients, ``[B, m + 1, m]`` and ``[B, m, m + 1]`` with ``m = n - 2``:
        ``ax[b, i, j]`` is the face between interior nodes ``(i - 1, j)`` and ``(i, j)``
        (``i = 0`` and ``i = m`` are the boundary faces); ``ay`` likewise along the second axis.
    h
        Grid spacing ``1 / (n - 1)``.
    """

    ax: torch.Tensor
    ay: torch.Tensor
    h: float

    @classmethod
    def from_coefficient(cls, a: torch.Tensor, mean: str = "arithmetic") -> DarcyOperator:
        """Build the operator of ``a`` (``[B, n, n]`` nodal values) with face means."""
        check_choice("mean", mean, ["arithmetic", "harmonic"])
        n = a.shape[-1]

        def average(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
            if mean == "arithmetic":
                return 0.5 * (left + right)
            return 2.0 * left * right / (left + right)

        ax = average(a[:, :-1, 1:-1], a[:, 1:, 1:-1])
        ay = average(a[:, 1:-1, :-1], a[:, 1:-1, 1:])
        return cls(ax, ay, 1.0 / (n - 1))

    def __post_init__(self) -> None:
        scale = 1.0 / self.h**2
        self._diag = (
            self.ax[:, 1:] + self.ax[:, :-1] + self.ay[:, :, 1:] + self.ay[:, :, :-1]
        ) * scale
        # interior faces, scaled: _couple_x[b, i, j] joins nodes (i, j) and (i + 1, j)
        self._couple_x = (self.ax[:, 1:-1] * scale).contiguous()
        self._couple_y = (self.ay[:, :, 1:-1] * scale).contiguous()

    @property
    def m(self) -> int:
        """Number of interior nodes per side."""
        return self.ay.shape[1]

    def diagonal(self) -> torch.Tensor:
        """``diag(A)`` as ``[B, m * m]``."""
        return self._diag.reshape(self._diag.shape[0], -1)

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """Apply ``A`` to interior vectors ``[B', m * m]``; a batch-1 operator broadcasts."""
        u = v.reshape(-1, self.m, self.m)
        out = self._diag * u  # boundary neighbours are zero: no padding needed
        out[:, :-1].addcmul_(self._couple_x, u[:, 1:], value=-1)
        out[:, 1:].addcmul_(self._couple_x, u[:, :-1], value=-1)
        out[:, :, :-1].addcmul_(self._couple_y, u[:, :, 1:], value=-1)
        out[:, :, 1:].addcmul_(self._couple_y, u[:, :, :-1], value=-1)
        return out.view(v.shape)

    def galerkin(self, space: CoarseSpace) -> torch.Tensor:
        """Galerkin matrices ``W^T A_b W`` of a tensor-product coarse space, ``[B, q, q]``.

        Computed from the face coefficients (``A = (D_x^T a_x D_x + D_y^T a_y D_y) / h^2``) with
        no product with ``A``: a coarse function pairs only with its neighbours up to two coarse
        nodes away (local factors, as for hat functions), so only those 25 bands are summed.
        Equal to ``space.galerkin(matvec)`` for such factors.
        """
        if space.rows.shape[0] != self.m or space.cols.shape[0] != self.m:
            raise ValueError(f"space must act on a {self.m} x {self.m} grid, got {space.fine_size}")
        rows = space.rows.to(self.ax)
        cols = space.cols.to(self.ax)
        c0, c1 = rows.shape[1], cols.shape[1]
        along_x = _band_pairs(_differences(rows)).T @ (self.ax @ _band_pairs(cols))
        along_y = (_band_pairs(rows).T @ self.ay) @ _band_pairs(_differences(cols))
        bands = (along_x + along_y).reshape(-1, c0, _BANDS, c1, _BANDS) / self.h**2
        i, di, j, dj = torch.meshgrid(
            *(torch.arange(size, device=bands.device) for size in (c0, _BANDS, c1, _BANDS)),
            indexing="ij",
        )
        k, ell = i + di - _BANDS // 2, j + dj - _BANDS // 2
        valid = (k >= 0) & (k < c0) & (ell >= 0) & (ell < c1)
        flat = ((i * c1 + j) * (c0 * c1) + k * c1 + ell)[valid]
        matrices = bands.new_zeros(bands.shape[0], (c0 * c1) ** 2)
        matrices[:, flat] = bands[:, valid]
        return matrices.reshape(-1, c0 * c1, c0 * c1)

    def select(self, index: int) -> DarcyOperator:
        """The batch-1 operator of sample ``index``."""
        return DarcyOperator(self.ax[index : index + 1], self.ay[index : index + 1], self.h)

    def to_scipy(self, index: int = 0) -> scipy.sparse.csc_matrix:
        """Sample ``index`` as a scipy sparse matrix (CSC) of size ``m^2``."""
        m = self.m
        ax = self.ax[index].detach().cpu().double().numpy()
        ay = self.ay[index].detach().cpu().double().numpy()
        ids = np.arange(m * m).reshape(m, m)
        diag = (ax[:-1] + ax[1:] + ay[:, :-1] + ay[:, 1:]).ravel()
        rows = [ids.ravel(), ids[:-1].ravel(), ids[1:].ravel(), ids[:, :-1].ravel()]
        cols = [ids.ravel(), ids[1:].ravel(), ids[:-1].ravel(), ids[:, 1:].ravel()]
        vals = [diag, -ax[1:-1].ravel(), -ax[1:-1].ravel(), -ay[:, 1:-1].ravel()]
        rows.append(ids[:, 1:].ravel())
        cols.append(ids[:, :-1].ravel())
        vals.append(-ay[:, 1:-1].ravel())
        mat = scipy.sparse.coo_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * m,) * 2
        )
        return (mat / self.h**2).tocsc()


_BANDS = 5


def _differences(p: torch.Tensor) -> torch.Tensor:
    """``D p`` with ``(D u)_i = u_i - u_(i-1)`` on the ``m + 1`` faces (zero boundary values)."""
    padded = torch.nn.functional.pad(p, (0, 0, 1, 1))
    return padded[1:] - padded[:-1]


def _band_pairs(p: torch.Tensor) -> torch.Tensor:
    """``[rows, c * 5]``: ``p[:, j] * p[:, j + d]`` for ``d = -2..2`` (zero outside)."""
    half = _BANDS // 2
    shifted = torch.nn.functional.pad(p, (half, half))
    cols = p.shape[1]
    return torch.stack([p * shifted[:, d : d + cols] for d in range(_BANDS)], dim=-1).reshape(
        p.shape[0], -1
    )


def _check_coefficient(a: Any) -> Batch:
    batch = as_batch("a", a, field_ndim=2, square=True, min_size=3, item="coefficient")
    if bool((batch.tensor <= 0).any()):
        raise ValueError(f"a must be positive everywhere, got minimum {float(batch.tensor.min())}")
    return batch


def _rhs(f: Any, a: torch.Tensor) -> torch.Tensor:
    """Interior right-hand sides ``[B, m * m]`` in float64 on ``a``'s device."""
    batch, n = a.shape[0], a.shape[-1]
    if isinstance(f, (int, float, np.integer, np.floating)) and not isinstance(f, bool):
        if not np.isfinite(f):
            raise ValueError(f"f must be finite, got {f}")
        return torch.full((batch, (n - 2) ** 2), float(f), dtype=torch.float64, device=a.device)
    if not isinstance(f, (torch.Tensor, np.ndarray)):
        raise TypeError(
            f"f must be a number, torch.Tensor or numpy.ndarray, got {type(f).__name__}"
        )
    tensor = torch.from_numpy(f) if isinstance(f, np.ndarray) else f
    if tensor.shape not in ((n, n), (batch, n, n)):
        raise ValueError(
            f"f must be a number or have shape {(batch, n, n)} like a, got {tuple(tensor.shape)}"
        )
    check_finite("f", tensor)
    tensor = tensor.to(device=a.device, dtype=torch.float64).expand(batch, n, n)
    return tensor[:, 1:-1, 1:-1].reshape(batch, -1)


def _embed(interior: torch.Tensor, n: int) -> torch.Tensor:
    return torch.nn.functional.pad(interior.reshape(-1, n - 2, n - 2), (1, 1, 1, 1))


def _factorise(matrix: scipy.sparse.csc_matrix) -> scipy.sparse.linalg.SuperLU:
    """Sparse LU of an SPD matrix: symmetric minimum-degree ordering, no pivoting."""
    return scipy.sparse.linalg.splu(
        matrix,
        permc_spec="MMD_AT_PLUS_A",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )


def multigrid(a: torch.Tensor, mean: str = "arithmetic", **options: Any) -> Multigrid:
    """The V-cycle preconditioner (:class:`~labkit.pde.multigrid.Multigrid`) of ``a`` ``[B, n, n]``.

    Every coarser grid of :func:`~labkit.pde.multigrid.grid_sizes` gets the operator of the
    next finer grid's coefficient smoothed and sampled there
    (:func:`~labkit.pde.multigrid.coarse_coefficient`);
    ``options`` go to :class:`~labkit.pde.multigrid.Multigrid`.
    """
    coefficients = [a]
    for nodes in grid_sizes(a.shape[-1])[1:]:
        coefficients.append(coarse_coefficient(coefficients[-1], nodes))
    operators = [DarcyOperator.from_coefficient(c, mean) for c in coefficients]
    return Multigrid(operators, **options)


def solve(
    a: Any,
    f: Any = 1.0,
    *,
    method: str = "direct",
    tol: float = 1e-10,
    maxiter: int | None = None,
    mean: str = "arithmetic",
) -> Any:
    """Solve ``-div(a grad u) = f`` with ``u = 0`` on the boundary for a batch of coefficients.

    Parameters
    ----------
    a
        Coefficients on the ``n x n`` nodes ``x_i = i / (n - 1)``, ``[B, n, n]`` (or ``[n, n]``),
        torch tensor or numpy array, finite and positive.
    f
        Source: a number or a ``[B, n, n]`` (or ``[n, n]``) field on the same nodes.
    method
        ``"direct"`` (sparse LU per sample, scipy, CPU), ``"multigrid"`` (batched CG
        preconditioned by a V-cycle, :func:`multigrid`, on ``a``'s device; the fastest from
        ``n`` of about 65 up), ``"cg"`` (batched Jacobi-PCG on ``a``'s device), ``"recycled"``
        (sorted recycled CG, see :func:`solve_sequence`) or ``"two-level"`` (Jacobi-PCG with a
        bilinear coarse space of ``COARSE_NODES`` per side, rebuilt for every sample).
    tol, maxiter
        Relative residual tolerance and iteration cap of the iterative methods.
    mean
        Face coefficient: ``"arithmetic"`` or ``"harmonic"`` mean of the two nodal values.

    Returns
    -------
    Tensor or ndarray
        ``u`` with the shape, type, dtype and device of ``a``; zero on the boundary nodes.

    Examples
    --------
    >>> a = torch.ones(1, 33, 33, dtype=torch.float64)
    >>> u = solve(a)
    >>> u.shape, float(u[0, 16, 16]) > 0.07
    (torch.Size([1, 33, 33]), True)
    >>> torch.allclose(solve(a, method="cg"), u, atol=1e-8)
    True
    >>> torch.allclose(solve(a, method="two-level"), u, atol=1e-8)
    True
    >>> torch.allclose(solve(a, method="multigrid"), u, atol=1e-8)
    True
    """
    check_choice("method", method, ["direct", "multigrid", "cg", "recycled", "two-level"])
    batch = _check_coefficient(a)
    coeff = batch.tensor
    if method in ("recycled", "two-level"):
        options = (
            dict(sort=True)
            if method == "recycled"
            else dict(sort=False, recycle=False, coarse=COARSE_NODES)
        )
        u = solve_sequence(coeff, f, tol=tol, maxiter=maxiter, mean=mean, **options).u
        return batch.restore(u.to(coeff.dtype))
    check_positive("tol", tol)
    a64 = coeff.to(torch.float64)
    rhs = _rhs(f, a64)
    mg = multigrid(a64, mean) if method == "multigrid" else None
    op = mg.operators[0] if mg is not None else DarcyOperator.from_coefficient(a64, mean)
    n = coeff.shape[-1]
    if method == "direct":
        b = rhs.cpu().numpy()
        sols = [_factorise(op.to_scipy(i)).solve(b[i]) for i in range(b.shape[0])]
        interior = torch.from_numpy(np.stack(sols)).to(coeff.device)
    else:
        options = dict(preconditioner=mg) if mg is not None else dict(diagonal=op.diagonal())
        res = cg(op.matvec, rhs, tol=tol, maxiter=maxiter, **options)
        if not bool(res.converged.all()):
            raise RuntimeError(
                f"CG did not reach tol={tol} in {int(res.iterations.max())} iterations; "
                "raise maxiter"
            )
        interior = res.x
    return batch.restore(_embed(interior, n).to(coeff.dtype))


@dataclass
class SequenceResult:
    """Solutions of a sequence of Darcy problems and the cost of solving them.

    Attributes
    ----------
    u
        Solutions in the input order, ``[S, n, n]`` (float64).
    iterations
        Krylov iterations per system in the input order (recycled: including the matrix-vector
        products spent on the recycle space).
    order
        The order in which the systems were solved.
    seconds
        Wall time of the solves (ordering included).
    """

    u: torch.Tensor
    iterations: torch.Tensor
    order: torch.Tensor
    seconds: float

    def to_dict(self) -> dict:
        return to_plain(
            {
                "iterations": self.iterations,
                "total_iterations": self.iterations.sum(),
                "order": self.order,
                "seconds": self.seconds,
            }
        )


def similarity_features(a: torch.Tensor, size: int = 16) -> torch.Tensor:
    """Coarse features ``[S, size^2]`` of coefficient fields (area averages) for ordering."""
    size = min(check_int("size", size, minimum=1), a.shape[-1])
    pooled = torch.nn.functional.adaptive_avg_pool2d(a.double().unsqueeze(1), size)
    return pooled.reshape(a.shape[0], -1).cpu()


def solve_sequence(
    a: Any,
    f: Any = 1.0,
    *,
    recycle: bool = True,
    sort: bool = True,
    n_recycle: int = 10,
    n_directions: int = 30,
    warm_start: bool = False,
    coarse: int = 0,
    tol: float = 1e-8,
    maxiter: int | None = None,
    mean: str = "arithmetic",
) -> SequenceResult:
    """Solve many Darcy problems one after another, recycling Krylov information.

    With ``recycle=False`` (and ``warm_start=False``, ``coarse=0``) each system is solved by
    independent Jacobi-PCG in the same loop, the baseline at the same tolerance. ``coarse > 0``
    adds a bilinear coarse space whose Galerkin matrix is rebuilt for every system (cheap, from
    the face coefficients); on the benchmark coefficient it removes far more iterations than the
    recycled vectors do (``benchmarks/pde_darcy_recycling.py``).

    Parameters
    ----------
    a
        ``[S, n, n]`` coefficients (tensor or array).
    f
        A number or a ``[S, n, n]`` field.
    recycle
        Deflate each solve with the recycle space of the previous ones.
    sort
        Solve in greedy nearest-neighbour order of the coarsened coefficients.
    n_recycle, n_directions
        Recycle space dimension and search directions kept per solve.
    warm_start
        Start each recycled solve from the previous solution.
    coarse
        Coarse nodes per side of the bilinear coarse space (at most ``(n - 3) // 2`` are used);
        ``0``: none. ``COARSE_NODES`` (15) suits ``n = 65``.
    tol, maxiter
        Relative residual tolerance and iteration cap.

    Examples
    --------
    >>> from labkit.pde.fields import darcy_coefficient
    >>> a = darcy_coefficient(17, batch=4, seed=0, dtype=torch.float64)
    >>> res = solve_sequence(a, tol=1e-10)
    >>> torch.allclose(res.u, solve(a), atol=1e-8)
    True
    >>> two_level = solve_sequence(a, tol=1e-10, coarse=COARSE_NODES)
    >>> torch.allclose(two_level.u, res.u, atol=1e-8)
    True
    >>> bool(two_level.iterations.sum() < res.iterations.sum())
    True
    """
    check_positive("tol", tol)
    coarse = check_int("coarse", coarse, minimum=0)
    batch = _check_coefficient(a)
    if batch.single:
        raise ValueError(f"a must have shape [S, n, n], got {tuple(a.shape)}")
    coeff = batch.tensor
    a64 = coeff.to(torch.float64)
    rhs = _rhs(f, a64)
    op = DarcyOperator.from_coefficient(a64, mean)
    diag = op.diagonal()
    start = time.perf_counter()
    count = a64.shape[0]
    order = greedy_similarity_order(similarity_features(a64)) if sort else torch.arange(count)
    space = matrices = None
    if coarse:
        m = a64.shape[-1] - 2
        space = CoarseSpace.linear((m, m), max(1, min(coarse, (m - 1) // 2)), device=a64.device)
        matrices = op.galerkin(space)
    solver = RecyclingCG(
        n_recycle,
        n_directions,
        tol=tol,
        maxiter=maxiter,
        warm_start=warm_start,
        recycle=recycle,
    )
    solutions = torch.empty_like(rhs)
    iterations = torch.zeros(count, dtype=torch.long)
    for idx in order.tolist():
        res = solver.solve(
            op.select(idx).matvec,
            rhs[idx : idx + 1],
            diagonal=diag[idx : idx + 1],
            coarse=space,
            coarse_matrix=None if matrices is None else matrices[idx],
        )
        if not bool(res.converged.all()):
            raise RuntimeError(f"system {idx} did not reach tol={tol}; raise maxiter")
        solutions[idx] = res.x[0]
        iterations[idx] = int(res.iterations[0])
    seconds = time.perf_counter() - start
    return SequenceResult(_embed(solutions, a64.shape[-1]), iterations, order, seconds)
