"""Conjugate gradients: batched and preconditioned, and with subspace recycling over a sequence.

The recycling solver follows the deflated CG of Saad, Yeung, Erhel and Guyomarc'h (2000) with
the recycle space refreshed after every solve by a Rayleigh-Ritz step on the old space and the
first search directions of the new solve (as in recycled CG, Parks et al. 2006). Ordering the
systems so that neighbours are similar ("Sorting Krylov Recycling", Wang et al. 2024) keeps the
recycled space close to the next system's slow eigenvectors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import torch

from labkit._checks import check_int, check_positive

__all__ = ["CGResult", "RecyclingCG", "cg", "greedy_similarity_order"]

MatVec = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class CGResult:
    """Solutions of a batch of systems and how the iteration went.

    Attributes
    ----------
    x
        Solutions, ``[B, N]``.
    iterations
        Iterations each system took, ``[B]``.
    residual
        Final relative residuals ``||b - A x|| / ||b||``, ``[B]``.
    converged
        Whether each system reached the tolerance.
    """

    x: torch.Tensor
    iterations: torch.Tensor
    residual: torch.Tensor
    converged: torch.Tensor

    def to_dict(self) -> dict:
        return {
            "iterations": self.iterations.tolist(),
            "residual": self.residual.tolist(),
            "converged": self.converged.tolist(),
        }


def _dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (u * v).sum(dim=-1)


def cg(
    matvec: MatVec,
    b: torch.Tensor,
    *,
    diagonal: torch.Tensor | None = None,
    x0: torch.Tensor | None = None,
    tol: float = 1e-8,
    maxiter: int | None = None,
) -> CGResult:
    """Solve a batch of symmetric positive definite systems ``A_i x_i = b_i`` by (Jacobi-)PCG.

    Parameters
    ----------
    matvec
        Maps ``[B, N]`` to ``[B, N]`` (row ``i`` multiplied by ``A_i``).
    b
        Right-hand sides, ``[B, N]``.
    diagonal
        Jacobi preconditioner ``diag(A_i)``, ``[B, N]``; ``None`` runs plain CG.
    x0
        Initial guesses (zeros by default).
    tol
        Stop a system when ``||b - A x|| <= tol * ||b||``.
    maxiter
        Largest number of iterations (default ``10 * N``).

    Examples
    --------
    >>> A = torch.tensor([[4.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    >>> b = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    >>> res = cg(lambda x: x @ A, b, tol=1e-12)
    >>> torch.allclose(res.x, torch.linalg.solve(A, b[0]).unsqueeze(0))
    True
    """
    check_positive("tol", tol)
    if b.ndim != 2:
        raise ValueError(f"b must have shape [B, N], got {tuple(b.shape)}")
    maxiter = 10 * b.shape[1] if maxiter is None else check_int("maxiter", maxiter, minimum=1)
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - matvec(x) if x0 is not None else b.clone()
    b_norm = torch.linalg.vector_norm(b, dim=-1).clamp_min(torch.finfo(b.dtype).tiny)
    z = r / diagonal if diagonal is not None else r
    p = z.clone()
    rz = _dot(r, z)
    iterations = torch.zeros(b.shape[0], dtype=torch.long, device=b.device)
    active = torch.linalg.vector_norm(r, dim=-1) > tol * b_norm
    for _ in range(maxiter):
        if not bool(active.any()):
            break
        ap = matvec(p)
        alpha = torch.where(active, rz / _dot(p, ap), torch.zeros_like(rz))
        x = x + alpha[:, None] * p
        r = r - alpha[:, None] * ap
        iterations += active.long()
        active = active & (torch.linalg.vector_norm(r, dim=-1) > tol * b_norm)
        z = r / diagonal if diagonal is not None else r
        rz_new = _dot(r, z)
        beta = torch.where(active, rz_new / rz, torch.zeros_like(rz))
        p = z + beta[:, None] * p
        rz = torch.where(active, rz_new, rz)
    residual = torch.linalg.vector_norm(b - matvec(x), dim=-1) / b_norm
    return CGResult(x, iterations.cpu(), residual.cpu(), (residual <= tol * 1.01).cpu())


@dataclass
class RecyclingCG:
    """Deflated PCG that carries a recycle space from one system to the next.

    Solve a sequence of similar SPD systems one after another with :meth:`solve`. The first
    ``n_directions`` search directions of each solve, together with the current space, give by a
    Rayleigh-Ritz step the ``n_recycle`` approximate slowest eigenvectors of ``M^-1 A`` that
    deflate the next solve.

    Parameters
    ----------
    n_recycle
        Dimension ``k`` of the recycle space.
    n_directions
        Number ``l`` of search directions kept from each solve.
    tol, maxiter
        As in :func:`cg`.
    warm_start
        Start each solve from the previous solution (useful when neighbours are similar).
    recycle
        ``False`` turns the solver into plain independent PCG (the same loop, no deflation),
        the fair baseline.

    Examples
    --------
    >>> A = torch.diag(torch.arange(1.0, 51.0, dtype=torch.float64))
    >>> solver = RecyclingCG(n_recycle=4, n_directions=8, tol=1e-10)
    >>> b = torch.ones(1, 50, dtype=torch.float64)
    >>> first = solver.solve(lambda x: x @ A, b)
    >>> second = solver.solve(lambda x: x @ A, 2 * b)
    >>> torch.allclose(second.x, 2 * first.x)
    True
    """

    n_recycle: int = 10
    n_directions: int = 20
    tol: float = 1e-8
    maxiter: int | None = None
    warm_start: bool = False
    recycle: bool = True
    basis: torch.Tensor | None = field(default=None, repr=False)
    previous: torch.Tensor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_int("n_recycle", self.n_recycle, minimum=1)
        check_int("n_directions", self.n_directions, minimum=1)
        check_positive("tol", self.tol)

    def solve(
        self, matvec: MatVec, b: torch.Tensor, *, diagonal: torch.Tensor | None = None
    ) -> CGResult:
        """Solve one system ``A x = b`` (``b`` of shape ``[1, N]``) and update the space."""
        if b.ndim != 2 or b.shape[0] != 1:
            raise ValueError(f"b must have shape [1, N], got {tuple(b.shape)}")
        n = b.shape[1]
        maxiter = 10 * n if self.maxiter is None else self.maxiter
        u = self.basis
        if u is not None and u.shape[1] != n:
            raise ValueError(f"b has {n} unknowns but the recycle space has {u.shape[1]}")
        b_norm = float(torch.linalg.vector_norm(b)) or 1.0
        warm = self.warm_start and self.previous is not None and self.previous.shape == b.shape
        x = self.previous.clone() if warm else torch.zeros_like(b)
        r = b - matvec(x) if warm else b.clone()
        au = matvec(u) if u is not None else None
        matvecs = 0 if u is None else u.shape[0]
        if u is not None:
            chol, info = torch.linalg.cholesky_ex(0.5 * (u @ au.T + au @ u.T))
            if int(info) != 0:
                u = au = None
        if u is not None:
            x = x + torch.cholesky_solve(u @ r.T, chol).T @ u
            r = b - matvec(x)
            matvecs += 1

            coupling_t = torch.cholesky_solve(au, chol).T.contiguous()

            def deflate(v: torch.Tensor) -> torch.Tensor:
                return torch.addmm(v, v @ coupling_t, u, alpha=-1)
        else:

            def deflate(v: torch.Tensor) -> torch.Tensor:
                return v

        inv_diag = 1.0 / diagonal if diagonal is not None else None
        z = r * inv_diag if inv_diag is not None else r.clone()
        p = deflate(z)
        rz = float(torch.linalg.vecdot(r, z))
        kept_p, kept_ap = [], []
        iterations = 0
        r_norm = float(torch.linalg.vector_norm(r))
        while r_norm > self.tol * b_norm and iterations < maxiter:
            ap = matvec(p)
            if self.recycle and len(kept_p) < self.n_directions:
                kept_p.append(p)
                kept_ap.append(ap)
            alpha = rz / float(torch.linalg.vecdot(p, ap))
            x = x.add(p, alpha=alpha)
            r = r.add(ap, alpha=-alpha)
            iterations += 1
            r_norm = float(torch.linalg.vector_norm(r))
            z = r * inv_diag if inv_diag is not None else r.clone()
            rz_new = float(torch.linalg.vecdot(r, z))
            p = deflate(z.add_(p, alpha=rz_new / rz))
            rz = rz_new
        if self.recycle:
            self._update_basis(u, au, kept_p, kept_ap, diagonal)
        self.previous = x
        residual = torch.linalg.vector_norm(b - matvec(x)) / b_norm
        total = torch.tensor([iterations + matvecs])
        return CGResult(
            x, total, residual.reshape(1).cpu(), (residual <= self.tol * 1.01).reshape(1).cpu()
        )

    def _update_basis(
        self,
        u: torch.Tensor | None,
        au: torch.Tensor | None,
        kept_p: list[torch.Tensor],
        kept_ap: list[torch.Tensor],
        diagonal: torch.Tensor | None,
    ) -> None:
        blocks = ([u] if u is not None else []) + kept_p
        a_blocks = ([au] if au is not None else []) + kept_ap
        if not blocks:
            return
        z = torch.cat(blocks, dim=0)
        az = torch.cat(a_blocks, dim=0)
        t = (z @ az.T).cpu().numpy()
        t = 0.5 * (t + t.T)
        mz = z * diagonal if diagonal is not None else z
        s = (z @ mz.T).cpu().numpy()
        s = 0.5 * (s + s.T)
        evals, evecs = np.linalg.eigh(s)
        keep = evals > 1e-12 * evals.max()
        whiten = evecs[:, keep] / np.sqrt(evals[keep])
        _, y = scipy.linalg.eigh(whiten.T @ t @ whiten)
        coeffs = whiten @ y[:, : min(self.n_recycle, y.shape[1])]
        new = torch.from_numpy(coeffs.T).to(z) @ z
        self.basis = new / torch.linalg.vector_norm(new, dim=1, keepdim=True)


def greedy_similarity_order(features: torch.Tensor, start: int = 0) -> torch.Tensor:
    """Order samples so that each is followed by its nearest unvisited neighbour.

    Parameters
    ----------
    features
        ``[S, F]`` feature vectors (e.g. coarsened coefficient fields).
    start
        Index of the first sample.

    Returns
    -------
    torch.Tensor
        A permutation of ``range(S)``.

    Examples
    --------
    >>> greedy_similarity_order(torch.tensor([[0.0], [10.0], [1.0], [11.0]])).tolist()
    [0, 2, 1, 3]
    """
    if features.ndim != 2:
        raise ValueError(f"features must have shape [S, F], got {tuple(features.shape)}")
    count = features.shape[0]
    start = check_int("start", start, minimum=0)
    if start >= count:
        raise ValueError(f"start must be < {count}, got {start}")
    dist = torch.cdist(features.double(), features.double())
    visited = torch.zeros(count, dtype=torch.bool)
    order = [start]
    visited[start] = True
    for _ in range(count - 1):
        row = dist[order[-1]].masked_fill(visited, float("inf"))
        nxt = int(torch.argmin(row))
        order.append(nxt)
        visited[nxt] = True
    return torch.tensor(order)
