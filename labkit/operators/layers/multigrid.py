"""A learned multigrid V-cycle (MgNO's linear map, He, Liu and Xu, ICLR 2024).

One V-cycle for a learned problem ``A u = f``: on the finest grid ``u = S f``, then ``u <- u + S
(f - A u)``; the way down restricts ``f`` and ``u`` with strided convolutions (``R`` and ``Pi``)
and smooths again on every coarser grid; the way up adds the prolongated coarse ``u`` (a
transposed convolution) to the fine one. This follows ``MgConv_DC`` of the authors' ``models.py``
(xlliu2017/MgNO).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from labkit._checks import check_int
from labkit.operators.layers.conv import conv_layer

__all__ = ["PADDING_MODES", "VCycle"]

PADDING_MODES = ("zeros", "circular", "reflect", "replicate")


def _stencil(dim: int, cin: int, cout: int, padding_mode: str, stride: int = 1) -> nn.Module:
    return conv_layer(dim, cin, cout, kernel_size=3, bias=False, stride=stride,
                      padding_mode=padding_mode)


def _prolongation(dim: int, channels: int) -> nn.Module:
    cls = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[dim - 1]
    return cls(channels, channels, kernel_size=4, stride=2, padding=1, bias=False)


def _steps(name: str, steps: int | Sequence[int], levels: int | None) -> tuple[int, ...]:
    if isinstance(steps, Sequence):
        out = tuple(check_int(name, s, minimum=0) for s in steps)
        if not out or (levels is not None and len(out) != levels):
            need = "at least one level" if levels is None else f"{levels} levels"
            raise ValueError(f"{name} must have one entry per level ({need}), got {steps!r}")
        return out
    if levels is None:
        raise TypeError(f"{name} must be a tuple of steps per level, got {steps!r}")
    return (check_int(name, steps, minimum=0),) * levels


class VCycle(nn.Module):
    """One learned multigrid V-cycle from ``in_channels`` (``f``) to ``out_channels`` (``u``).

    Parameters
    ----------
    dim : int
        Number of grid axes.
    in_channels, out_channels : int
        Channels of ``f`` (the authors' ``num_channel_f``) and ``u`` (``num_channel_u``).
    smoothing : tuple of int
        Smoothing steps on the way down, one entry per level (its length is the number of
        levels; the authors' ``num_iteration[l][0]``). The first level needs at least one.
    post_smoothing : int or tuple of int
        Smoothing steps on the way up, per level but the coarsest (``num_iteration[l][1]``).
    norm : bool
        Normalise ``u`` over channels and grid after each prolongation (GroupNorm with one
        group: the authors' Navier-Stokes ``MgConv`` uses a LayerNorm of fixed grid size there;
        their Darcy ``MgConv_DC``, the default here, none). The cycle is then not linear.
    padding_mode : str
        Padding of the stencils: ``"zeros"`` (Dirichlet), ``"circular"`` (periodic), ...

    Examples
    --------
    >>> import torch
    >>> cycle = VCycle(2, 3, 5, smoothing=(1, 1, 2))
    >>> cycle(torch.randn(1, 3, 17, 20)).shape
    torch.Size([1, 5, 17, 20])
    """

    def __init__(
        self,
        dim: int,
        in_channels: int,
        out_channels: int,
        smoothing: Sequence[int] = (1, 1, 1, 2, 2),
        post_smoothing: int | Sequence[int] = 0,
        norm: bool = False,
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        self.smoothing = _steps("smoothing", smoothing, None)
        if self.smoothing[0] < 1:
            raise ValueError(f"smoothing must have at least 1 step on the finest level, got "
                             f"{smoothing!r}")
        self.levels = len(self.smoothing)
        self.post_smoothing = _steps("post_smoothing", post_smoothing, self.levels - 1)
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        f, u, pm = in_channels, out_channels, padding_mode
        self.S = nn.ModuleList(
            nn.ModuleList(_stencil(dim, f, u, pm) for _ in range(n)) for n in self.smoothing
        )
        self.A = nn.ModuleList(  # the finest level's first step, u = S f, has no A
            nn.ModuleList(_stencil(dim, u, f, pm) for _ in range(n - (level == 0)))
            for level, n in enumerate(self.smoothing)
        )
        self.R = nn.ModuleList(_stencil(dim, f, f, pm, stride=2) for _ in range(self.levels - 1))
        self.Pi = nn.ModuleList(_stencil(dim, u, u, pm, stride=2) for _ in range(self.levels - 1))
        self.P = nn.ModuleList(_prolongation(dim, u) for _ in range(self.levels - 1))
        self.post_S = nn.ModuleList(
            nn.ModuleList(_stencil(dim, f, u, pm) for _ in range(n)) for n in self.post_smoothing
        )
        self.post_A = nn.ModuleList(
            nn.ModuleList(_stencil(dim, u, f, pm) for _ in range(n)) for n in self.post_smoothing
        )
        self.norms = nn.ModuleList(
            nn.GroupNorm(1, u) if norm else nn.Identity() for _ in range(self.levels - 1)
        )

    @staticmethod
    def _smooth(u, f, smoothers, operators):
        if len(smoothers) > len(operators):  # the first step on the finest grid
            u = smoothers[0](f)
            smoothers = smoothers[1:]
        for S, A in zip(smoothers, operators, strict=True):
            u = u + S(f - A(u))
        return u

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        rhs, sols, u = [], [], None
        for level in range(self.levels):
            if level:
                f, u = self.R[level - 1](f), self.Pi[level - 1](u)
            u = self._smooth(u, f, self.S[level], self.A[level])
            rhs.append(f)
            sols.append(u)
        u = sols.pop()
        for level in reversed(range(self.levels - 1)):
            fine = sols[level]
            coarse = self.P[level](u)  # 2n points: cropped where the fine grid is odd
            coarse = coarse[(slice(None), slice(None), *(slice(0, n) for n in fine.shape[2:]))]
            u = self.norms[level](fine + coarse)
            u = self._smooth(u, rhs[level], self.post_S[level], self.post_A[level])
        return u
