"""The Lanczos iteration with full reorthogonalisation, on flat vectors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["LanczosState", "lanczos", "ritz"]


@dataclass
class LanczosState:
    """Lanczos vectors ``Q`` (rows) and the tridiagonal ``T`` after ``m`` steps.

    ``beta[m-1]`` is the norm of the residual that would start step ``m + 1``; it is zero when
    the Krylov space is exhausted (an invariant subspace was found).
    """

    Q: torch.Tensor
    alpha: np.ndarray
    beta: np.ndarray

    @property
    def m(self) -> int:
        return len(self.alpha)

    @property
    def exhausted(self) -> bool:
        return bool(self.beta[-1] == 0.0)

    def tridiagonal(self) -> np.ndarray:
        """The ``m x m`` tridiagonal matrix ``T = Q H Q^T``."""
        m = self.m
        return (
            np.diag(self.alpha) + np.diag(self.beta[: m - 1], 1) + np.diag(self.beta[: m - 1], -1)
        )


def lanczos(
    matvec: Callable[[torch.Tensor], torch.Tensor], v0: torch.Tensor, max_iter: int
) -> Iterator[LanczosState]:
    """Run Lanczos on the symmetric operator ``matvec`` from ``v0``; yield the state each step.

    Every new vector is orthogonalised twice against all earlier ones (full
    reorthogonalisation), so Ritz values do not repeat ("ghosts"). Memory: ``max_iter + 1``
    vectors.

    Examples
    --------
    >>> import torch
    >>> A = torch.diag(torch.arange(1.0, 6.0, dtype=torch.float64))
    >>> *_, state = lanczos(lambda x: A @ x, torch.ones(5, dtype=torch.float64), 5)
    >>> [round(float(t), 6) for t in ritz(state)[0]]
    [1.0, 2.0, 3.0, 4.0, 5.0]
    """
    D = v0.numel()
    max_iter = min(max_iter, D)
    Q = torch.zeros(max_iter + 1, D, dtype=v0.dtype, device=v0.device)
    Q[0] = v0.reshape(-1) / torch.linalg.vector_norm(v0)
    alpha, beta = np.zeros(max_iter), np.zeros(max_iter)
    scale = 0.0
    for j in range(max_iter):
        w = matvec(Q[j])
        alpha[j] = float(Q[j] @ w)
        w = w - alpha[j] * Q[j] - (beta[j - 1] * Q[j - 1] if j > 0 else 0.0)
        for _ in range(2):
            w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        beta[j] = float(torch.linalg.vector_norm(w))
        scale = max(scale, abs(alpha[j]), beta[j])
        if beta[j] <= 1e-12 * max(scale, 1e-300) or j + 1 == D:
            beta[j] = 0.0
        else:
            Q[j + 1] = w / beta[j]
        yield LanczosState(Q[: j + 1], alpha[: j + 1], beta[: j + 1])
        if beta[j] == 0.0:
            return


def ritz(state: LanczosState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ritz values (ascending), their eigenvectors in ``T`` and residual norms ``|beta s_m|``."""
    theta, S = np.linalg.eigh(state.tridiagonal())
    residuals = abs(state.beta[-1]) * np.abs(S[-1])
    return theta, S, residuals
