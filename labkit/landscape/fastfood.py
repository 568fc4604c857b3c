"""Random projections ``R^d -> R^D`` for training in a subspace: dense, sparse and Fastfood.

Each projection ``P`` is scaled so that ``E ||P x||^2 = ||x||^2``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from labkit._checks import check_choice, check_int

__all__ = [
    "DenseProjection",
    "FastfoodProjection",
    "SparseProjection",
    "fastfood_projection",
    "fwht",
    "make_projection",
]


def _hadamard(m: int, dtype: torch.dtype, device) -> torch.Tensor:
    H = torch.ones(1, 1, dtype=dtype, device=device)
    while H.shape[0] < m:
        H = torch.cat([torch.cat([H, H], 1), torch.cat([H, -H], 1)], 0)
    return H


def _butterflies(x: torch.Tensor, block: int = 32) -> torch.Tensor:
    """The first ``log2(block)`` levels as one small matrix product, then in-place-style
    butterflies between two buffers (no per-level allocation)."""
    L = x.shape[-1]
    m = min(block, L)
    y = (x.reshape(-1, m) @ _hadamard(m, x.dtype, x.device)).reshape(-1, L)
    buf = torch.empty_like(y)
    h = m
    while h < L:
        v, w = y.view(-1, L // (2 * h), 2, h), buf.view(-1, L // (2 * h), 2, h)
        torch.add(v[:, :, 0], v[:, :, 1], out=w[:, :, 0])
        torch.sub(v[:, :, 0], v[:, :, 1], out=w[:, :, 1])
        y, buf = buf, y
        h *= 2
    return y.reshape(x.shape)


class _FWHT(torch.autograd.Function):
    """``H`` is symmetric, so the backward pass is the same transform."""

    @staticmethod
    def forward(ctx, x):
        return _butterflies(x)

    @staticmethod
    def backward(ctx, grad):
        return _butterflies(grad)


class _Permute(torch.autograd.Function):
    """``x[..., perm]`` whose backward gathers with the inverse permutation (no scatter)."""

    @staticmethod
    def forward(ctx, x, perm, inverse):
        ctx.save_for_backward(inverse)
        return torch.index_select(x, -1, perm)

    @staticmethod
    def backward(ctx, grad):
        (inverse,) = ctx.saved_tensors
        return torch.index_select(grad, -1, inverse), None, None


def fwht(x: torch.Tensor) -> torch.Tensor:
    """Unnormalised fast Walsh–Hadamard transform along the last dimension.

    The length must be a power of two; the result is ``x @ H`` with the Sylvester-ordered
    Hadamard matrix ``H`` (entries +-1, ``H H = L I``). Time ``O(L log L)``, memory ``O(L)``
    (two buffers); differentiable.

    Examples
    --------
    >>> import torch
    >>> fwht(torch.tensor([1.0, 0.0, 0.0, 0.0]))
    tensor([1., 1., 1., 1.])
    >>> fwht(fwht(torch.tensor([1.0, 2.0, 3.0, 4.0]))) / 4
    tensor([1., 2., 3., 4.])
    """
    L = x.shape[-1]
    if L & (L - 1) or L == 0:
        raise ValueError(f"x must have a power-of-two length in its last dimension, got {L}")
    return _FWHT.apply(x)


def _sizes(D, d):
    D = check_int("D", D, minimum=1)
    d = check_int("d", d, minimum=1)
    if d > D:
        raise ValueError(f"d must be <= D ({D}), got {d}")
    return D, d


class FastfoodProjection(nn.Module):
    """Fastfood projection ``P x = c (H G Pi H B [x; 0])[:D]`` (Le, Sarlos & Smola 2013).

    ``B`` is a random +-1 diagonal, ``Pi`` a random permutation, ``G`` a Gaussian diagonal and
    ``H`` the Walsh–Hadamard transform of length ``L = 2^ceil(log2 D)``. With
    ``c = 1 / sqrt(D sum(G^2))`` every output entry has ``E[(P x)_i^2] = ||x||^2 / D``, so
    ``E ||P x||^2 = ||x||^2`` exactly, for the drawn ``G``. Memory ``O(D)``, time
    ``O(D log D)``; nothing of size ``d x D`` is ever formed.

    Examples
    --------
    >>> import torch
    >>> P = FastfoodProjection(1000, 10, seed=0)
    >>> P(torch.zeros(10)).abs().max().item(), tuple(P(torch.ones(10)).shape)
    (0.0, (1000,))
    """

    def __init__(self, D: int, d: int, seed: int = 0, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.D, self.d = _sizes(D, d)
        self.L = 1 << max(0, math.ceil(math.log2(self.D)))
        gen = torch.Generator().manual_seed(check_int("seed", seed))
        L = self.L
        self.register_buffer("B", (2 * torch.randint(0, 2, (L,), generator=gen) - 1).to(dtype))
        self.register_buffer("Pi", torch.randperm(L, generator=gen))
        self.register_buffer("Pi_inverse", torch.argsort(self.Pi))
        G = torch.randn(L, generator=gen, dtype=torch.float64)
        self.register_buffer("G", G.to(dtype))
        self.scale = float(1.0 / math.sqrt(self.D * float((G**2).sum())))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.d:
            raise ValueError(f"x must have {self.d} entries in its last dimension, got {x.shape}")
        z = nn.functional.pad(x, (0, self.L - self.d)) * self.B
        z = _Permute.apply(fwht(z), self.Pi, self.Pi_inverse) * self.G
        return fwht(z)[..., : self.D] * self.scale


class DenseProjection(nn.Module):
    """Dense Gaussian projection with entries ``N(0, 1/D)``; memory ``O(d D)``.

    Examples
    --------
    >>> import torch
    >>> DenseProjection(50, 3)(torch.zeros(3)).abs().max().item()
    0.0
    """

    def __init__(self, D: int, d: int, seed: int = 0, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.D, self.d = _sizes(D, d)
        gen = torch.Generator().manual_seed(check_int("seed", seed))
        self.register_buffer("matrix", torch.randn(self.D, self.d, generator=gen, dtype=dtype))
        self.matrix /= math.sqrt(self.D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.matrix.T


class SparseProjection(nn.Module):
    """Very sparse random projection (Li, Hastie & Church 2006): a fraction ``density`` of the
    entries is ``+-1/sqrt(D density)``; default ``density = 1/sqrt(D)``, memory ``O(d sqrt(D))``.

    Examples
    --------
    >>> import torch
    >>> P = SparseProjection(400, 5, seed=1)
    >>> P.rows.numel() == round(400 * 5 / 20)
    True
    """

    def __init__(
        self,
        D: int,
        d: int,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        density: float | None = None,
    ):
        super().__init__()
        self.D, self.d = _sizes(D, d)
        density = 1.0 / math.sqrt(self.D) if density is None else float(density)
        if not 0.0 < density <= 1.0:
            raise ValueError(f"density must be in (0, 1], got {density}")
        gen = torch.Generator().manual_seed(check_int("seed", seed))
        nnz = max(1, round(self.D * self.d * density))
        self.register_buffer("rows", torch.randint(0, self.D, (nnz,), generator=gen))
        self.register_buffer("cols", torch.randint(0, self.d, (nnz,), generator=gen))
        signs = 2 * torch.randint(0, 2, (nnz,), generator=gen) - 1
        self.register_buffer("values", (signs / math.sqrt(self.D * density)).to(dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(self.D, dtype=x.dtype, device=x.device)
        return out.index_add(0, self.rows, self.values * x[self.cols])


PROJECTIONS = {"fastfood": FastfoodProjection, "dense": DenseProjection, "sparse": SparseProjection}


def make_projection(
    kind: str, D: int, d: int, seed: int = 0, dtype: torch.dtype = torch.float32
) -> nn.Module:
    """Build a ``"fastfood"``, ``"dense"`` or ``"sparse"`` projection from ``R^d`` to ``R^D``."""
    check_choice("projection", kind, tuple(PROJECTIONS))
    return PROJECTIONS[kind](D, d, seed=seed, dtype=dtype)


def fastfood_projection(
    D: int, d: int, seed: int = 0, dtype: torch.dtype = torch.float32
) -> FastfoodProjection:
    """A :class:`FastfoodProjection` from ``R^d`` to ``R^D``.

    Examples
    --------
    >>> import torch
    >>> P = fastfood_projection(3000, 20, seed=0)
    >>> sum(b.numel() for b in P.buffers()) <= 4 * P.L
    True
    """
    return FastfoodProjection(D, d, seed=seed, dtype=dtype)
