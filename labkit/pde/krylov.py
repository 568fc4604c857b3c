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

import torch

from labkit._checks import check_int, check_positive, to_plain

__all__ = [
    "CGResult",
    "CoarseSpace",
    "RecyclingCG",
    "cg",
    "greedy_similarity_order",
    "linear_interpolation",
]

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
        return to_plain(self, omit=("x",))


def _dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (u * v).sum(dim=-1)


def cg(
    matvec: MatVec,
    b: torch.Tensor,
    *,
    diagonal: torch.Tensor | None = None,
    preconditioner: MatVec | None = None,
    x0: torch.Tensor | None = None,
    tol: float = 1e-8,
    maxiter: int | None = None,
) -> CGResult:
    """Solve a batch of symmetric positive definite systems ``A_i x_i = b_i`` by PCG.

    Parameters
    ----------
    matvec
        Maps ``[B, N]`` to ``[B, N]`` (row ``i`` multiplied by ``A_i``).
    b
        Right-hand sides, ``[B, N]``.
    diagonal
        Jacobi preconditioner ``diag(A_i)``, ``[B, N]``.
    preconditioner
        Any symmetric positive definite ``M^-1``, mapping ``[B, N]`` to ``[B, N]`` (e.g. a
        :class:`~labkit.pde.multigrid.Multigrid`); give ``diagonal`` or this, or neither for
        plain CG.
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
    if diagonal is not None and preconditioner is not None:
        raise ValueError("give diagonal or preconditioner, not both")
    if diagonal is not None:
        inverse = 1.0 / diagonal

        def preconditioner(v: torch.Tensor) -> torch.Tensor:
            return v * inverse

    maxiter = 10 * b.shape[1] if maxiter is None else check_int("maxiter", maxiter, minimum=1)
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - matvec(x) if x0 is not None else b.clone()
    b_norm = torch.linalg.vector_norm(b, dim=-1).clamp_min(torch.finfo(b.dtype).tiny)
    z = preconditioner(r) if preconditioner is not None else r
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
        z = preconditioner(r) if preconditioner is not None else r
        rz_new = _dot(r, z)
        beta = torch.where(active, rz_new / rz, torch.zeros_like(rz))
        p = z + beta[:, None] * p
        rz = torch.where(active, rz_new, rz)
    residual = torch.linalg.vector_norm(b - matvec(x), dim=-1) / b_norm
    return CGResult(x, iterations.cpu(), residual.cpu(), (residual <= tol * 1.01).cpu())


def linear_interpolation(
    fine: int,
    coarse: int,
    *,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Piecewise-linear interpolation from ``coarse`` to ``fine`` equispaced interior nodes.

    Both grids cover the open interval ``(0, 1)`` with zero boundary values: fine node ``i`` sits
    at ``(i + 1) / (fine + 1)`` and coarse node ``j`` at ``(j + 1) / (coarse + 1)``. Column ``j``
    is the hat function of coarse node ``j`` sampled on the fine nodes.

    Parameters
    ----------
    fine, coarse
        Numbers of interior nodes, ``1 <= coarse <= fine``.
    dtype, device
        Of the returned matrix.

    Returns
    -------
    torch.Tensor
        ``[fine, coarse]``.

    Examples
    --------
    >>> linear_interpolation(3, 1).flatten().tolist()
    [0.5, 1.0, 0.5]
    """
    fine = check_int("fine", fine, minimum=1)
    coarse = check_int("coarse", coarse, minimum=1)
    if coarse > fine:
        raise ValueError(f"coarse must be <= fine = {fine}, got {coarse}")
    x = torch.arange(1, fine + 1, dtype=torch.float64) / (fine + 1)
    nodes = torch.arange(1, coarse + 1, dtype=torch.float64) / (coarse + 1)
    hats = (1 - (x[:, None] - nodes[None, :]).abs() * (coarse + 1)).clamp_min(0)
    return hats.to(dtype=dtype, device=device)


@dataclass
class CoarseSpace:
    """A tensor-product coarse space ``W = P_0 (x) P_1`` on a grid of ``m0 x m1`` unknowns.

    Fine vectors are ``[B, m0 * m1]`` (row-major grids), coarse vectors ``[B, c0 * c1]``.
    :meth:`restrict` applies ``W^T`` and :meth:`prolong` applies ``W``, each as two small
    matrix products, so a coarse correction costs far less than a dense ``W``.

    Parameters
    ----------
    rows, cols
        ``P_0`` (``[m0, c0]``) and ``P_1`` (``[m1, c1]``), both of full column rank.

    Examples
    --------
    >>> space = CoarseSpace.linear((7, 7), 3)
    >>> space.size, space.fine_size
    (9, 49)
    >>> w = space.prolong(torch.eye(9, dtype=torch.float64))
    >>> torch.allclose(space.restrict(w), w @ w.T)
    True
    """

    rows: torch.Tensor
    cols: torch.Tensor

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor) or value.ndim != 2:
                raise ValueError(
                    f"{name} must be a 2-D tensor, got {getattr(value, 'shape', value)}"
                )
        self._rows_t = self.rows.T.contiguous()
        self._cols_t = self.cols.T.contiguous()

    @classmethod
    def linear(
        cls,
        shape: tuple[int, int],
        coarse: int,
        *,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device | None = None,
    ) -> CoarseSpace:
        """Bilinear hat functions of a ``coarse x coarse`` grid (:func:`linear_interpolation`)."""
        rows = linear_interpolation(shape[0], coarse, dtype=dtype, device=device)
        cols = linear_interpolation(shape[1], coarse, dtype=dtype, device=device)
        return cls(rows, cols)

    @property
    def size(self) -> int:
        """Dimension ``c0 * c1`` of the coarse space."""
        return self.rows.shape[1] * self.cols.shape[1]

    @property
    def fine_size(self) -> int:
        """Number ``m0 * m1`` of fine unknowns."""
        return self.rows.shape[0] * self.cols.shape[0]

    def restrict(self, v: torch.Tensor) -> torch.Tensor:
        """``W^T v`` for fine vectors ``[B, m0 * m1]``."""
        if v.shape[0] == 1:
            grid = v.view(self.rows.shape[0], self.cols.shape[0])
            return torch.mm(torch.mm(self._rows_t, grid), self.cols).view(1, -1)
        grid = v.reshape(-1, self.rows.shape[0], self.cols.shape[0])
        return (self._rows_t @ grid @ self.cols).reshape(v.shape[0], -1)

    def prolong(self, y: torch.Tensor) -> torch.Tensor:
        """``W y`` for coarse vectors ``[B, c0 * c1]``."""
        if y.shape[0] == 1:
            grid = y.reshape(self.rows.shape[1], self.cols.shape[1])
            return torch.mm(torch.mm(self.rows, grid), self._cols_t).view(1, -1)
        grid = y.reshape(-1, self.rows.shape[1], self.cols.shape[1])
        return (self.rows @ grid @ self._cols_t).reshape(y.shape[0], -1)

    def galerkin(self, matvec: MatVec) -> torch.Tensor:
        """The Galerkin matrix ``W^T A W`` (``[q, q]``) from ``q = c0 c1`` products with ``A``."""
        eye = torch.eye(self.size, dtype=self.rows.dtype, device=self.rows.device)
        product = self.restrict(matvec(self.prolong(eye)))
        return 0.5 * (product + product.T)


class _CoarseCorrection:
    """``r -> W E^-1 W^T r`` for ``W = [coarse space, recycled rows]`` and ``E = W^T A W``."""

    def __init__(
        self,
        coarse: CoarseSpace | None,
        coarse_matrix: torch.Tensor | None,
        u: torch.Tensor | None,
        au: torch.Tensor | None,
    ) -> None:
        self.coarse, self.u = coarse, u
        self.q = coarse.size if coarse is not None else 0
        blocks = []
        if coarse is not None:
            blocks.append(coarse_matrix)
        if u is not None:
            uau = 0.5 * (u @ au.T + au @ u.T)
            if coarse is not None:
                cross = coarse.restrict(au)
                blocks = [torch.cat([coarse_matrix, cross.T], 1), torch.cat([cross, uau], 1)]
            else:
                blocks.append(uau)
        self.matrix = torch.cat(blocks, 0)
        self.chol, info = torch.linalg.cholesky_ex(self.matrix)
        self.ok = int(info) == 0
        self.inverse = torch.cholesky_inverse(self.chol) if self.ok else None

    def __call__(self, r: torch.Tensor) -> torch.Tensor:
        if self.coarse is not None and self.u is not None:
            y = torch.cat([self.coarse.restrict(r), r @ self.u.T], 1) @ self.inverse
            return torch.addmm(self.coarse.prolong(y[:, : self.q]), y[:, self.q :], self.u)
        if self.coarse is not None:
            return self.coarse.prolong(self.coarse.restrict(r) @ self.inverse)
        return (r @ self.u.T) @ self.inverse @ self.u


def _ritz_coefficients(t: torch.Tensor, s: torch.Tensor, count: int) -> torch.Tensor:
    """Coefficients of the ``count`` smallest Ritz pairs of the pencil ``(t, s)``, dropping
    directions in which ``s`` is numerically singular."""
    evals, evecs = torch.linalg.eigh(0.5 * (s + s.T))
    keep = evals > 1e-12 * evals.max()
    whiten = evecs[:, keep] / evals[keep].sqrt()
    _, y = torch.linalg.eigh(whiten.T @ (0.5 * (t + t.T)) @ whiten)
    return whiten @ y[:, : min(count, y.shape[1])]


def _pencil(
    u: torch.Tensor | None,
    e: torch.Tensor | None,
    diagonal: torch.Tensor | None,
    history: _History,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``Z^T A Z``, ``Z^T D Z`` and ``Z`` for ``Z = [U, z_0 / sqrt(rho_0), ...]`` (rows).

    In deflated PCG the preconditioned residuals ``z_j`` span, with ``U``, the same space as
    the search directions, and ``z_j = p_j - beta_j p_(j-1) + U mu_j``. The directions are
    ``A``-conjugate and ``A``-orthogonal to ``U``; the residuals are orthogonal to ``U`` and
    ``D^-1``-orthogonal to each other. So, with ``E = U^T A U``, ``d_j = p_j^T A p_j`` and
    ``rho_j = r_j^T z_j`` (before the scaling by ``rho_j^-1/2``)::

        Z^T A Z = T + M^T E M   (T tridiagonal: d_j + beta_j^2 d_(j-1); -beta_(j+1) d_j)
        U^T A Z = E M,          Z^T D Z = diag(rho),   U^T D Z = 0

    and only ``U^T D U`` costs products of ``N``-long vectors. Small matrices are float64 on
    the CPU.
    """
    count = len(history.curvatures)
    d = torch.tensor(history.curvatures, dtype=torch.float64)
    beta = torch.tensor(history.betas[:count], dtype=torch.float64)
    scale = torch.tensor(history.rhos[:count], dtype=torch.float64).rsqrt()
    off = -beta[1:] * d[:-1]
    t = torch.diag(d) + torch.diag(off, 1) + torch.diag(off, -1)
    t[1:, 1:] += torch.diag(beta[1:] ** 2 * d[:-1])
    z = torch.cat(history.z[:count], dim=0)
    z = z * scale.to(z)[:, None]
    if u is None:
        return t * scale[:, None] * scale, torch.eye(count, dtype=torch.float64), z
    k = u.shape[0]
    e = e.to(torch.float64).cpu()
    mu = torch.cat(history.mus[:count], dim=0).to(torch.float64).cpu() * scale[:, None]
    em = e @ mu.T
    full = torch.empty(k + count, k + count, dtype=torch.float64)
    full[:k, :k] = e
    full[:k, k:] = em
    full[k:, :k] = em.T
    full[k:, k:] = t * scale[:, None] * scale + mu @ em
    weighted = u * diagonal if diagonal is not None else u
    gram = torch.eye(k + count, dtype=torch.float64)
    gram[:k, :k] = (u @ weighted.T).to(torch.float64).cpu()
    return full, gram, torch.cat([u, z], dim=0)


class _History:
    """What a recycled solve keeps of its first ``size`` iterations for the Rayleigh-Ritz step.

    Always the scalars ``rho_j = r_j^T z_j``, ``beta_j``, ``d_j = p_j^T A p_j`` and the
    deflation coefficients ``mu_j``; with ``products`` the directions ``p_j`` and ``A p_j``
    (the coarse-space variant's explicit products), otherwise the preconditioned residuals
    ``z_j``.
    """

    def __init__(self, size: int, products: bool) -> None:
        self.size, self.products = size, products
        self.p, self.ap, self.z = [], [], []
        self.curvatures, self.rhos, self.betas, self.mus = [], [], [], []

    def direction(self, z: torch.Tensor, rho: float, beta: float) -> None:
        if len(self.rhos) < self.size:
            if not self.products:
                self.z.append(z.clone())  # the caller updates z in place
            self.rhos.append(rho)
            self.betas.append(beta)

    def mu(self, mu: torch.Tensor) -> None:
        if len(self.mus) < self.size:
            self.mus.append(mu)

    def product(self, p: torch.Tensor, ap: torch.Tensor, curvature: float) -> None:
        if len(self.curvatures) < self.size:
            if self.products:
                self.p.append(p)
                self.ap.append(ap)
            self.curvatures.append(curvature)


@dataclass
class RecyclingCG:
    """Deflated or two-level PCG that carries a recycle space from one system to the next.

    Solve a sequence of similar SPD systems one after another with :meth:`solve`. The first
    ``n_directions`` search directions of each solve, together with the current space, give by a
    Rayleigh-Ritz step the ``n_recycle`` approximate slowest eigenvectors of ``D^-1 A`` that
    deflate the next solve (deflated CG, Saad et al. 2000, with recycled CG's update).

    With a :class:`CoarseSpace` (its Galerkin matrix given for every system), ``W`` = [coarse
    space, recycled vectors] enters instead as the additive correction ``W E^-1 W^T``,
    ``E = W^T A W``, of the Jacobi preconditioner ("AD" in Tang, Nabben, Vuik and Erlangga
    2009): on Jacobi-scaled problems as effective as deflation with the same ``W`` and, unlike
    it, with no extra product with ``A`` per iteration. The Rayleigh-Ritz step then works in the
    ``A``-orthogonal complement of the coarse space.

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
        ``False`` carries nothing between solves: with no coarse space this is plain
        independent PCG (the same loop), the fair baseline.

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
        self,
        matvec: MatVec,
        b: torch.Tensor,
        *,
        diagonal: torch.Tensor | None = None,
        coarse: CoarseSpace | None = None,
        coarse_matrix: torch.Tensor | None = None,
    ) -> CGResult:
        """Solve one system ``A x = b`` (``b`` of shape ``[1, N]``) and update the space.

        Parameters
        ----------
        matvec
            Maps ``[B, N]`` to ``[B, N]`` (each row multiplied by ``A``).
        b
            Right-hand side, ``[1, N]``.
        diagonal
            ``diag(A)`` for the Jacobi preconditioner, ``[1, N]``; ``None``: none.
        coarse
            A coarse space of ``N`` fine unknowns added to the recycled vectors.
        coarse_matrix
            Its Galerkin matrix ``W^T A W`` for this ``A``; computed with ``matvec`` if omitted.
        """
        if b.ndim != 2 or b.shape[0] != 1:
            raise ValueError(f"b must have shape [1, N], got {tuple(b.shape)}")
        n = b.shape[1]
        if coarse is not None and diagonal is None:
            raise ValueError("diagonal is required with a coarse space (Jacobi scaling)")
        if coarse is not None and coarse.fine_size != n:
            raise ValueError(f"coarse must act on {n} unknowns, got {coarse.fine_size}")
        if coarse is not None and coarse_matrix is None:
            coarse_matrix = coarse.galerkin(matvec)
        if coarse_matrix is not None and coarse_matrix.shape != (coarse.size,) * 2:
            raise ValueError(
                f"coarse_matrix must have shape {(coarse.size,) * 2}, "
                f"got {tuple(coarse_matrix.shape)}"
            )
        maxiter = 10 * n if self.maxiter is None else self.maxiter
        u = self.basis
        if u is not None and u.shape[1] != n:
            raise ValueError(f"b has {n} unknowns but the recycle space has {u.shape[1]}")
        b_norm = float(torch.linalg.vector_norm(b)) or 1.0
        au = matvec(u) if u is not None else None
        matvecs = 0 if u is None else u.shape[0]
        correction = None
        if coarse is not None or u is not None:
            correction = _CoarseCorrection(coarse, coarse_matrix, u, au)
            if not correction.ok and u is not None:  # a degenerate recycle space: drop it
                u = au = None
                correction = None
                if coarse is not None:
                    correction = _CoarseCorrection(coarse, coarse_matrix, None, None)
            if correction is not None and not correction.ok:
                raise ValueError("coarse_matrix is not positive definite")
        warm = self.warm_start and self.previous is not None and self.previous.shape == b.shape
        x = self.previous.clone() if warm else torch.zeros_like(b)
        if correction is not None:
            x = x + correction(b - matvec(x) if warm else b)
            matvecs += 1
        r = b - matvec(x) if warm or correction is not None else b.clone()
        matvecs += int(warm)
        inv_diag = 1.0 / diagonal if diagonal is not None else torch.ones_like(b)

        def deflate(v: torch.Tensor) -> torch.Tensor:
            return v

        if coarse is not None:

            def precondition(v: torch.Tensor) -> torch.Tensor:
                return torch.addcmul(correction(v), v, inv_diag)
        else:

            def precondition(v: torch.Tensor) -> torch.Tensor:
                return v * inv_diag

        history = _History(self.n_directions if self.recycle else 0, coarse is not None)
        if coarse is None and u is not None:
            coupling_t = au.T @ correction.inverse

            def deflate(v: torch.Tensor) -> torch.Tensor:
                mu = v @ coupling_t  # E^-1 (AU)^T v, kept for the Rayleigh-Ritz step
                history.mu(mu)
                return torch.addmm(v, mu, u, alpha=-1)

        z = precondition(r)
        rz = float(torch.linalg.vecdot(r, z))
        history.direction(z, rz, 0.0)
        p = deflate(z)
        iterations = 0
        r_norm = float(torch.linalg.vector_norm(r))
        while r_norm > self.tol * b_norm and iterations < maxiter:
            ap = matvec(p)
            curvature = float(torch.linalg.vecdot(p, ap))
            history.product(p, ap, curvature)
            alpha = rz / curvature
            x = x.add(p, alpha=alpha)
            r = r.add(ap, alpha=-alpha)
            iterations += 1
            r_norm = float(torch.linalg.vector_norm(r))
            z = precondition(r)
            rz_new = float(torch.linalg.vecdot(r, z))
            beta = rz_new / rz
            history.direction(z, rz_new, beta)
            p = deflate(z.add_(p, alpha=beta))
            rz = rz_new
        if self.recycle:
            if coarse is None:
                self._ritz_from_history(u, correction, diagonal, history)
            else:
                self._update_basis(u, au, history.p, history.ap, diagonal, correction)
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
        correction: _CoarseCorrection,
    ) -> None:
        """Rayleigh-Ritz with a coarse space: explicit products, in its A-orthogonal complement."""
        blocks = ([u] if u is not None else []) + kept_p
        a_blocks = ([au] if au is not None else []) + kept_ap
        if not blocks:
            return
        z = torch.cat(blocks, dim=0)
        az = torch.cat(a_blocks, dim=0)
        coarse_az = correction.coarse.restrict(az)
        coarse_chol = correction.chol[: correction.q, : correction.q]
        coefficients = torch.cholesky_solve(coarse_az.T, coarse_chol).T
        z = z - correction.coarse.prolong(coefficients)
        t = z @ az.T - coefficients @ coarse_az.T
        mz = z * diagonal
        self._set_basis(_ritz_coefficients(t, z @ mz.T, self.n_recycle), z)

    def _ritz_from_history(
        self,
        u: torch.Tensor | None,
        correction: _CoarseCorrection | None,
        diagonal: torch.Tensor | None,
        history: _History,
    ) -> None:
        """Rayleigh-Ritz for the pencil ``(A, D)`` from deflated CG's scalars (:func:`_pencil`)."""
        if not history.curvatures:
            return
        e = correction.matrix if u is not None else None
        t, s, z = _pencil(u, e, diagonal, history)
        self._set_basis(_ritz_coefficients(t, s, self.n_recycle), z)

    def _set_basis(self, coefficients: torch.Tensor, z: torch.Tensor) -> None:
        new = coefficients.to(z).T @ z
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
