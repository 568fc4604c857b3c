"""Function-space losses: relative Lp with quadrature weights and Sobolev H^s through the FFT.

Both treat a batch ``[B, C, *grid]`` as ``B`` functions on the box ``[0, L_1] x ... x [0, L_d]``
and return one norm per sample, then reduce over the batch (``"mean"``, ``"sum"`` or
``"none"``). Relative losses divide by the norm of the target, so the grid spacing cancels and
the value means the same on any resolution.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from labkit._checks import (
    check_choice,
    check_int,
    check_nonnegative,
    check_number,
    check_positive,
)

__all__ = ["LpLoss", "SobolevLoss", "quadrature_weights"]

_REDUCTIONS = ("mean", "sum", "none")


def _lengths(domain: float | tuple[float, ...], dim: int) -> tuple[float, ...]:
    if isinstance(domain, (int, float)):
        return (check_positive("domain", float(domain)),) * dim
    if len(domain) != dim:
        raise ValueError(f"domain must have {dim} lengths (one per grid axis), got {domain!r}")
    return tuple(check_positive("domain", float(v)) for v in domain)


def _check_dim(dim: int | None) -> int | None:
    return dim if dim is None else check_int("dim", dim, minimum=1)


def _check_pair(pred: torch.Tensor, target: torch.Tensor, dim: int | None) -> int:
    for name, t in (("pred", pred), ("target", target)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} "
            f"and {tuple(target.shape)}"
        )
    grid_dims = pred.ndim - 2 if dim is None else dim
    if grid_dims < 1 or pred.ndim < grid_dims + 1:
        raise ValueError(f"pred must have shape [batch, channels, *grid], got {tuple(pred.shape)}")
    if pred.numel() == 0:
        raise ValueError(f"pred must not be empty, got shape {tuple(pred.shape)}")
    return grid_dims


def quadrature_weights(
    grid: tuple[int, ...], domain: float | tuple[float, ...] = 1.0, rule: str = "uniform"
) -> torch.Tensor:
    """Tensor-product quadrature weights on ``grid`` over the box of side lengths ``domain``.

    ``"uniform"`` is the periodic rectangle rule (``h = L / n``); ``"trapezoid"`` treats the
    grid as including both end points (``h = L / (n - 1)``, halved at the ends).

    Examples
    --------
    >>> quadrature_weights((5,), rule="trapezoid")
    tensor([0.1250, 0.2500, 0.2500, 0.2500, 0.1250])
    """
    check_choice("rule", rule, ("uniform", "trapezoid"))
    weights = torch.ones(())
    for axis, (n, length) in enumerate(zip(grid, _lengths(domain, len(grid)), strict=True)):
        check_int(f"grid[{axis}]", n, minimum=1 if rule == "uniform" else 2)
        if rule == "uniform":
            w = torch.full((n,), length / n)
        else:
            w = torch.full((n,), length / (n - 1))
            w[0] = w[-1] = length / (2 * (n - 1))
        weights = weights[..., None] * w
    return weights


class LpLoss(nn.Module):
    """Per-sample (relative) Lp norm of ``pred - target`` with quadrature weights.

    Parameters
    ----------
    p : float
        Exponent, ``p >= 1``.
    relative : bool
        Divide by the Lp norm of ``target`` (per sample).
    dim : int, optional
        Number of trailing grid axes; default ``ndim - 2`` (channels-first batches).
    domain : float or tuple of float
        Side lengths of the box the grid covers.
    rule : str
        ``"uniform"`` or ``"trapezoid"``, see :func:`quadrature_weights`.
    reduction : str
        ``"mean"``, ``"sum"`` or ``"none"`` over the batch.

    Examples
    --------
    >>> import torch
    >>> u = torch.ones(2, 1, 16, 16)
    >>> LpLoss()(1.1 * u, u)
    tensor(0.1000)
    """

    def __init__(
        self,
        p: float = 2.0,
        relative: bool = True,
        dim: int | None = None,
        domain: float | tuple[float, ...] = 1.0,
        rule: str = "uniform",
        reduction: str = "mean",
        eps: float = 1e-12,
    ) -> None:
        super().__init__()
        self.p = check_number("p", p, minimum=1)
        self.relative = bool(relative)
        self.dim = _check_dim(dim)
        self.domain = domain
        self.rule = check_choice("rule", rule, ("uniform", "trapezoid"))
        self.reduction = check_choice("reduction", reduction, _REDUCTIONS)
        self.eps = check_nonnegative("eps", eps)

    def norm(self, u: torch.Tensor) -> torch.Tensor:
        """Per-sample Lp norm of ``u`` (all non-batch axes)."""
        dim = self.dim if self.dim is not None else u.ndim - 2
        u = _upcast(u)
        w = quadrature_weights(tuple(u.shape[-dim:]), self.domain, self.rule).to(u.device, u.dtype)
        integrand = u.abs().pow(self.p) * w
        return integrand.flatten(1).sum(dim=1).pow(1.0 / self.p)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(pred, target, self.dim)
        err = self.norm(pred - target)
        if self.relative:
            err = err / (self.norm(target) + self.eps)
        return _reduce(err, self.reduction)


class SobolevLoss(nn.Module):
    r"""Per-sample (relative) Sobolev norm ``||(alpha - Laplacian)^{s/2} (pred - target)||_{L2}``.

    Computed with the FFT on a periodic box, for any real ``s``: ``s = 0`` is the L2 norm,
    ``s = 1`` the H^1 norm, and ``s = -1`` the negative norm that Spectral-Refiner fine-tunes
    with (there with ``alpha = 0.1``). With ``time_axis`` set, the last axis is time: the norm
    is taken over space at each time and then averaged in L2 over time (a Bochner norm).

    Parameters
    ----------
    s : float
        Smoothness order.
    alpha : float
        Shift of the operator, ``alpha > 0`` (makes negative ``s`` well defined on constants).
    relative : bool
        Divide by the same norm of ``target``.
    dim : int, optional
        Number of spatial axes (default: all axes after the channel axis, minus time).
    domain : float or tuple of float
        Side lengths of the periodic box.
    time_axis : bool
        Treat the last axis as time.
    reduction : str
        ``"mean"``, ``"sum"`` or ``"none"`` over the batch.

    Examples
    --------
    >>> import math, torch
    >>> x = torch.arange(64) / 64
    >>> u = torch.sin(2 * math.pi * x).reshape(1, 1, 64)
    >>> loss = SobolevLoss(s=1, alpha=1.0, relative=False)
    >>> round(float(loss(u, 0 * u)) ** 2, 4) == round((1 + 4 * math.pi**2) / 2, 4)
    True
    """

    def __init__(
        self,
        s: float = 1.0,
        alpha: float = 1.0,
        relative: bool = True,
        dim: int | None = None,
        domain: float | tuple[float, ...] = 1.0,
        time_axis: bool = False,
        reduction: str = "mean",
        eps: float = 1e-12,
    ) -> None:
        super().__init__()
        self.s = check_number("s", s)
        self.alpha = check_positive("alpha", alpha)
        self.relative = bool(relative)
        self.dim = _check_dim(dim)
        self.domain = domain
        self.time_axis = bool(time_axis)
        self.reduction = check_choice("reduction", reduction, _REDUCTIONS)
        self.eps = check_nonnegative("eps", eps)

    def _space_dims(self, u: torch.Tensor) -> int:
        return self.dim if self.dim is not None else u.ndim - 2 - int(self.time_axis)

    def _symbol(self, grid: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """``(alpha + 4 pi^2 |k / L|^2)^s`` times the rfft multiplicity, on the rfft grid."""
        lengths = _lengths(self.domain, len(grid))
        k2 = torch.zeros((), device=device, dtype=torch.float64)
        for axis, (n, length) in enumerate(zip(grid, lengths, strict=True)):
            last = axis == len(grid) - 1
            k = torch.fft.rfftfreq(n, d=1.0 / n) if last else torch.fft.fftfreq(n, d=1.0 / n)
            k2 = k2[..., None] + (2 * math.pi * k.to(device, torch.float64) / length) ** 2
        weight = torch.full((grid[-1] // 2 + 1,), 2.0, device=device, dtype=torch.float64)
        weight[0] = 1.0
        if grid[-1] % 2 == 0:
            weight[-1] = 1.0
        return (self.alpha + k2).pow(self.s) * weight

    def norm(self, u: torch.Tensor) -> torch.Tensor:
        """Per-sample Sobolev norm of ``u``."""
        dims = self._space_dims(u)
        if self.time_axis:
            u = u.movedim(-1, 1)
        grid = tuple(u.shape[-dims:])
        axes = tuple(range(-dims, 0))
        coeffs = torch.fft.rfftn(_upcast(u), dim=axes, norm="forward")
        volume = math.prod(_lengths(self.domain, dims))
        power = (coeffs.abs().pow(2).double() * self._symbol(grid, u.device)).flatten(-dims)
        squared = volume * power.sum(dim=-1)  # [B, (T,) C, ...] per sample and leading axis
        if self.time_axis:
            per_time = squared.flatten(2).sum(dim=2)
            return per_time.mean(dim=1).sqrt().to(coeffs.real.dtype)
        return squared.flatten(1).sum(dim=1).sqrt().to(coeffs.real.dtype)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(pred, target, None)
        err = self.norm(pred - target)
        if self.relative:
            err = err / (self.norm(target) + self.eps)
        return _reduce(err, self.reduction)


def _upcast(u: torch.Tensor) -> torch.Tensor:
    return u if u.dtype in (torch.float32, torch.float64) else u.float()


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values
