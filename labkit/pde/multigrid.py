"""A geometric multigrid V-cycle for batches of Darcy operators (a CG preconditioner).

Every level is the same finite-difference discretisation as :class:`~labkit.pde.darcy.DarcyOperator`
on a grid of about half as many nodes per side (``n -> (n + 1) // 2``), with the coefficient
smoothed by full weighting and sampled at the coarse nodes (rediscretisation, no Galerkin
products). Levels are joined by bilinear interpolation ``P`` between the node positions (nested
when ``n`` is odd, any ``n`` otherwise) and its transpose, scaled by the ratio of cell areas.
Damped Jacobi smooths before and after the coarse correction, the same number of sweeps on both
sides, and the coarsest grid is solved by a dense Cholesky factorisation, so the V-cycle is a
fixed symmetric positive definite operator: a valid preconditioner for conjugate gradients.
Everything is batched torch work, on any device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from labkit._checks import check_int, check_positive

__all__ = [
    "COARSEST_NODES",
    "Multigrid",
    "coarse_coefficient",
    "grid_sizes",
    "interpolation_weights",
]

COARSEST_NODES = 17
"""A grid with at most this many nodes per side is solved directly (dense Cholesky)."""


def interpolation_weights(fine: int, coarse: int, device=None) -> tuple[torch.Tensor, ...]:
    """Linear interpolation from ``coarse`` to ``fine`` nodes on ``[0, 1]`` (boundaries included).

    Fine interior node ``i`` (``1 <= i <= fine - 2``) at ``x = i / (fine - 1)`` lies between the
    coarse nodes ``lo`` and ``lo + 1`` (at ``j / (coarse - 1)``) with weight ``w`` on ``lo + 1``.

    Returns
    -------
    tuple of tensors
        ``lo`` (long) and ``w`` (float64), each of length ``fine - 2``.

    Examples
    --------
    >>> lo, w = interpolation_weights(5, 3)
    >>> lo.tolist(), w.tolist()
    ([0, 1, 1], [0.5, 0.0, 0.5])
    """
    x = torch.arange(1, fine - 1, dtype=torch.float64, device=device) * (coarse - 1) / (fine - 1)
    lo = x.floor().long().clamp(max=coarse - 2)
    return lo, x - lo


@dataclass
class _Transfer:
    """Bilinear interpolation between the interior nodes of two square grids, and its transpose.

    The transpose scatters with ``index_add_``: exact and deterministic on the CPU; on CUDA its
    atomics may change the last bits from run to run unless
    ``torch.use_deterministic_algorithms(True)`` is set (a gather written instead took 2.2 times
    as long on one CPU thread at 421 -> 211).
    """

    coarse: int
    lo: torch.Tensor
    w: torch.Tensor

    @classmethod
    def between(cls, fine: int, coarse: int, device) -> _Transfer:
        return cls(coarse, *interpolation_weights(fine, coarse, device))

    def prolong(self, u: torch.Tensor) -> torch.Tensor:
        """Coarse interior values ``[B, mc, mc]`` to fine interior values ``[B, mf, mf]``."""
        full = F.pad(u, (1, 1, 1, 1))  # coarse boundary nodes are zero
        return self._along(self._along(full, -1), -2)

    def restrict(self, r: torch.Tensor) -> torch.Tensor:
        """The transpose of :meth:`prolong`: fine ``[B, mf, mf]`` to coarse ``[B, mc, mc]``."""
        return self._gather_back(self._gather_back(r, -2), -1)[:, 1:-1, 1:-1]

    def _weights(self, like: torch.Tensor, dim: int) -> torch.Tensor:
        """``w`` shaped to broadcast along ``dim`` of a ``[B, rows, cols]`` tensor."""
        shape = [1, 1, 1]
        shape[dim] = -1
        return self.w.to(like.dtype).view(shape)

    def _along(self, u: torch.Tensor, dim: int) -> torch.Tensor:
        low = u.index_select(dim, self.lo)
        high = u.index_select(dim, self.lo + 1)
        return torch.lerp(low, high, self._weights(u, dim))

    def _gather_back(self, r: torch.Tensor, dim: int) -> torch.Tensor:
        w = self._weights(r, dim)
        shape = list(r.shape)
        shape[dim] = self.coarse
        out = r.new_zeros(shape)
        out.index_add_(dim, self.lo, r * (1 - w))
        out.index_add_(dim, self.lo + 1, r * w)
        return out


def grid_sizes(nodes: int) -> list[int]:
    """Nodes per side of every level: ``n -> (n + 1) // 2`` until at most ``COARSEST_NODES``.

    Examples
    --------
    >>> grid_sizes(65), grid_sizes(421)
    ([65, 33, 17], [421, 211, 106, 53, 27, 14])
    """
    sizes = [check_int("nodes", nodes, minimum=3)]
    while sizes[-1] > COARSEST_NODES:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def coarse_coefficient(a: torch.Tensor, nodes: int) -> torch.Tensor:
    """Coefficient ``[B, n, n]`` on ``nodes`` nodes per side: full weighting, then sampling.

    Examples
    --------
    >>> a = torch.ones(1, 9, 9, dtype=torch.float64)
    >>> coarse = coarse_coefficient(a, 5)
    >>> coarse.shape, bool(torch.allclose(coarse, a[:, ::2, ::2]))
    (torch.Size([1, 5, 5]), True)
    """
    padded = F.pad(a.unsqueeze(1), (1, 1, 1, 1), mode="replicate")[:, 0]
    rows = 0.25 * (padded[:, :-2] + padded[:, 2:]) + 0.5 * padded[:, 1:-1]
    smooth = 0.25 * (rows[:, :, :-2] + rows[:, :, 2:]) + 0.5 * rows[:, :, 1:-1]
    return F.interpolate(
        smooth.unsqueeze(1), size=(nodes, nodes), mode="bilinear", align_corners=True
    )[:, 0]


class Multigrid:
    """Symmetric V-cycle preconditioner for a batch of Darcy-type operators.

    Parameters
    ----------
    operators
        One batch of operators per level, finest first (:func:`labkit.pde.darcy.multigrid`
        builds them from a coefficient): each has ``m`` interior nodes per side, ``matvec`` and
        ``diagonal()`` as :class:`~labkit.pde.darcy.DarcyOperator`, on the grids of
        :func:`grid_sizes`.
    sweeps
        Damped Jacobi sweeps before and after each coarse correction.
    omega
        Jacobi damping in ``(0, 1)`` (``4 / 5`` smooths the five-point stencil best).

    Examples
    --------
    >>> from labkit.pde import darcy
    >>> from labkit.pde.fields import darcy_coefficient
    >>> from labkit.pde.krylov import cg
    >>> a = darcy_coefficient(65, batch=2, seed=0, dtype=torch.float64)
    >>> mg = darcy.multigrid(a)
    >>> op = mg.operators[0]
    >>> res = cg(op.matvec, torch.ones(2, 63 * 63, dtype=torch.float64), preconditioner=mg)
    >>> bool(res.converged.all()), int(res.iterations.max()) < 15
    (True, True)
    """

    def __init__(self, operators: list, *, sweeps: int = 2, omega: float = 0.8) -> None:
        self.sweeps = check_int("sweeps", sweeps, minimum=1)
        self.omega = check_positive("omega", omega)
        if omega >= 1.0:
            raise ValueError(f"omega must be in (0, 1) for a smoothing Jacobi, got {omega}")
        if not operators:
            raise ValueError("operators must hold at least the finest level")
        self.operators = list(operators)
        nodes = [op.m + 2 for op in self.operators]
        if nodes != grid_sizes(nodes[0]):  # the last one is small enough to factorise densely
            raise ValueError(f"operators must be on the grids {grid_sizes(nodes[0])}, got {nodes}")
        device = self.operators[0].ax.device
        self.inverse_diagonals = [1.0 / op.diagonal() for op in self.operators]
        pairs = list(zip(nodes[:-1], nodes[1:], strict=True))
        self.transfers = [_Transfer.between(fine, coarse, device) for fine, coarse in pairs]
        self.scales = [((coarse - 1) / (fine - 1)) ** 2 for fine, coarse in pairs]
        self.coarsest = torch.linalg.cholesky(_dense(self.operators[-1]))

    @property
    def levels(self) -> int:
        """Number of grids, the finest included."""
        return len(self.operators)

    def __call__(self, r: torch.Tensor) -> torch.Tensor:
        """Apply one V-cycle to residuals ``[B, m * m]`` of the finest grid."""
        return self._cycle(0, r)

    def _cycle(self, level: int, r: torch.Tensor) -> torch.Tensor:
        if level == self.levels - 1:
            return torch.cholesky_solve(r.unsqueeze(-1), self.coarsest).squeeze(-1)
        op, inv = self.operators[level], self.inverse_diagonals[level]
        x = self.omega * inv * r
        for _ in range(self.sweeps - 1):
            x.addcmul_(inv, r - op.matvec(x), value=self.omega)
        batch, transfer = r.shape[0], self.transfers[level]
        residual = (r - op.matvec(x)).view(batch, op.m, op.m)
        coarse_r = transfer.restrict(residual).reshape(batch, -1) * self.scales[level]
        coarse_x = self._cycle(level + 1, coarse_r).view(batch, transfer.coarse - 2, -1)
        x += transfer.prolong(coarse_x).reshape(batch, -1)
        for _ in range(self.sweeps):
            x.addcmul_(inv, r - op.matvec(x), value=self.omega)
        return x


def _dense(op) -> torch.Tensor:
    """The matrices ``[B, q, q]`` of a batch of operators (``q = m^2``, small grids only)."""
    q = op.m**2
    eye = torch.eye(q, dtype=op.ax.dtype, device=op.ax.device)
    columns = [op.select(b).matvec(eye) for b in range(op.ax.shape[0])]
    dense = torch.stack(columns)
    return 0.5 * (dense + dense.transpose(1, 2))
