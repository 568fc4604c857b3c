"""MgNO (He, Liu and Xu, ICLR 2024): neural operators whose linear maps are multigrid V-cycles.

Each layer is ``u -> act(V(f) + W f + b)`` where ``V`` is one V-cycle for a learned problem
``A u = f`` with ``f`` the layer's input: on the finest grid ``u = S f``, then ``u <- u + S (f -
A u)``; the way down restricts ``f`` and ``u`` with strided convolutions (``R`` and ``Pi``) and
smooths again on every coarser grid; the way up adds the prolongated coarse ``u`` (a transposed
convolution) to the fine one. ``A``, ``S``, ``R``, ``Pi`` and the prolongations are small
learned convolutions, so one layer has a global receptive field at the cost of a few local
stencils. Zero padding in the convolutions encodes a homogeneous Dirichlet boundary (circular
padding a periodic one). After the last layer a pointwise linear map gives the output channels.

This follows ``MgNO_DC`` / ``MgConv_DC`` of the authors' ``models.py`` (xlliu2017/MgNO); see
docs/ZOO.md for the remaining differences.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from labkit._checks import check_int
from labkit.operators.activations import make_activation
from labkit.operators.fno import ChannelLinear
from labkit.operators.registry import register_model
from labkit.operators.spectral import check_field
from labkit.operators.unet import conv_layer

__all__ = ["MgNO", "VCycle"]

_PADDING_MODES = ("zeros", "circular", "reflect", "replicate")


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
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
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


@register_model(
    "mgno",
    removed={
        "levels": "MgNO now follows its authors' MgNO_DC (issue 17): 'smoothing' lists the "
        "smoothing steps per level (its length is the number of levels), every layer maps to "
        "'width' channels and a pointwise map gives the output, so a checkpoint saved with "
        "'levels' holds the old architecture's weights and must be retrained",
    },
)
class MgNO(nn.Module):
    """Multigrid neural operator: ``n_layers`` of ``act(VCycle(u) + W u + b)``, then ``Q u``.

    With the defaults this is the authors' Darcy model (``MgNO_DC`` with ``num_layer=5``,
    ``num_channel_u=24``, ``num_iteration=[[1,0],[1,0],[1,0],[2,0],[2,0]]``, GELU, zero
    padding): 645,828 parameters for one input and one output channel.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input (``num_channel_f``) and output fields.
    width : int
        ``num_channel_u``: channels of ``u`` in every layer.
    n_layers : int
        ``num_layer``: number of V-cycle layers.
    smoothing : tuple of int
        Smoothing steps on the way down per level; its length is the number of grid levels
        (``num_iteration[l][0]``).
    post_smoothing : int or tuple of int
        Smoothing steps on the way up per level but the coarsest (``num_iteration[l][1]``).
    norm : bool
        Normalise after each prolongation (see :class:`VCycle`).
    dim : int
        Number of grid axes (1, 2 or 3).
    activation : str
        Activation name (the authors: GELU), applied after every layer.
    padding_mode : str
        ``"zeros"`` (Dirichlet problems, the default) or ``"circular"`` (periodic, the
        authors' Navier-Stokes set-up), ``"reflect"``, ``"replicate"``.

    Examples
    --------
    >>> import torch
    >>> MgNO(1, 1, width=8, n_layers=2, smoothing=(1, 1, 2))(torch.randn(2, 1, 24, 24)).shape
    torch.Size([2, 1, 24, 24])
    >>> sum(p.numel() for p in MgNO(1, 1).parameters())
    645828
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 24,
        n_layers: int = 5,
        smoothing: Sequence[int] = (1, 1, 1, 2, 2),
        post_smoothing: int | Sequence[int] = 0,
        norm: bool = False,
        dim: int = 2,
        activation: str = "gelu",
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        check_int("out_channels", out_channels, minimum=1)
        check_int("width", width, minimum=1)
        n_layers = check_int("n_layers", n_layers, minimum=1)
        self.dim = check_int("dim", dim, minimum=1)
        if dim > 3:
            raise ValueError(f"dim must be 1, 2 or 3, got {dim}")
        chans = [in_channels] + [width] * n_layers
        pairs = list(zip(chans[:-1], chans[1:], strict=True))
        self.cycles = nn.ModuleList(
            VCycle(dim, a, b, smoothing, post_smoothing, norm, padding_mode) for a, b in pairs
        )
        self.skips = nn.ModuleList(ChannelLinear(a, b) for a, b in pairs)
        self.activations = nn.ModuleList(make_activation(activation) for _ in range(n_layers))
        self.projection = ChannelLinear(width, out_channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field("x", x, self.dim, self.in_channels)
        for cycle, skip, act in zip(self.cycles, self.skips, self.activations, strict=True):
            x = act(cycle(x) + skip(x))
        return self.projection(x)
