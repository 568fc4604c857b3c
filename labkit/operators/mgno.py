"""MgNO (He, Liu and Xu, ICLR 2024): neural operators whose linear maps are multigrid V-cycles.

Each layer is ``u -> act(V(u) + W u + b)`` where ``V`` is one V-cycle for a learned problem
``A u = f``: smooth with ``u <- u + S (f - A u)``, restrict the residual with a strided
convolution, recurse, prolong the coarse correction with a transposed convolution, smooth again.
``A``, ``S``, the restrictions and prolongations are small learned convolutions, so one layer has
a global receptive field at the cost of a few local stencils. Zero padding in the convolutions
encodes a homogeneous Dirichlet boundary. There is no lifting or projection: the first V-cycle
maps the input channels to ``width`` and the last maps ``width`` to the output channels.
"""

from __future__ import annotations

import torch
from torch import nn

from labkit._checks import check_int
from labkit.operators.activations import make_activation
from labkit.operators.fno import ChannelLinear
from labkit.operators.registry import register_model
from labkit.operators.spectral import check_field
from labkit.operators.unet import conv_layer

__all__ = ["MgNO", "VCycle"]


def _stencil(dim: int, cin: int, cout: int, **kw) -> nn.Module:
    return conv_layer(dim, cin, cout, kernel_size=3, bias=False, **kw)


def _prolongation(dim: int, channels: int) -> nn.Module:
    cls = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[dim - 1]
    return cls(channels, channels, kernel_size=3, stride=2, padding=1, bias=False)


class VCycle(nn.Module):
    """One learned multigrid V-cycle: a linear operator from ``in_channels`` to ``out_channels``.

    The unknown ``u`` has ``out_channels``, the right-hand side ``f`` has ``in_channels``; ``A``
    maps ``u`` to ``f``-space and the smoother ``S`` maps residuals back. With ``norm=True``
    (as the layer norm of the MgNO reference code) the corrected iterate is normalised over
    channels and grid after each prolongation: the cycle is then no longer linear, but training
    stays stable at learning rates where the plain cycle diverges.

    Examples
    --------
    >>> import torch
    >>> cycle = VCycle(2, 3, 5, levels=3)
    >>> cycle(torch.randn(1, 3, 17, 20)).shape
    torch.Size([1, 5, 17, 20])
    """

    def __init__(
        self,
        dim: int,
        in_channels: int,
        out_channels: int,
        levels: int = 4,
        smoothing: int = 2,
        norm: bool = True,
    ) -> None:
        super().__init__()
        self.levels = check_int("levels", levels, minimum=1)
        self.smoothing = check_int("smoothing", smoothing, minimum=1)
        self.A = nn.ModuleList(_stencil(dim, out_channels, in_channels) for _ in range(levels))
        self.S = nn.ModuleList(_stencil(dim, in_channels, out_channels) for _ in range(levels))
        self.R = nn.ModuleList(
            _stencil(dim, in_channels, in_channels, stride=2) for _ in range(levels - 1)
        )
        self.P = nn.ModuleList(_prolongation(dim, out_channels) for _ in range(levels - 1))
        self.norms = nn.ModuleList(
            nn.GroupNorm(1, out_channels) if norm else nn.Identity() for _ in range(levels - 1)
        )

    def _smooth(self, level: int, u: torch.Tensor | None, f: torch.Tensor, steps: int):
        for _ in range(steps):
            u = self.S[level](f) if u is None else u + self.S[level](f - self.A[level](u))
        return u

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        rhs, sols = [], []
        for level in range(self.levels):
            u = self._smooth(level, None, f, self.smoothing)
            rhs.append(f)
            sols.append(u)
            if level < self.levels - 1:
                f = self.R[level](f - self.A[level](u))
        u = sols.pop()
        for level in reversed(range(self.levels - 1)):
            fine = sols[level]
            u = self.norms[level](fine + self.P[level](u, output_size=fine.shape[2:]))
            u = self._smooth(level, u, rhs[level], 1)
        return u


@register_model("mgno")
class MgNO(nn.Module):
    """Multigrid neural operator: ``n_layers`` of ``act(VCycle(u) + W u + b)``, no lifting.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output fields.
    width : int
        Channels of the hidden layers.
    n_layers : int
        Number of V-cycle layers (at least 2: in -> width, ..., width -> out).
    levels : int
        Grid levels per V-cycle (each halves the grid).
    smoothing : int
        Smoothing steps on the way down.
    norm : bool
        Normalise after each prolongation (see :class:`VCycle`).
    dim : int
        Number of grid axes (1, 2 or 3).
    activation : str
        Activation name.

    Examples
    --------
    >>> import torch
    >>> MgNO(1, 1, width=8, n_layers=2, levels=3)(torch.randn(2, 1, 24, 24)).shape
    torch.Size([2, 1, 24, 24])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 32,
        n_layers: int = 4,
        levels: int = 4,
        smoothing: int = 2,
        norm: bool = True,
        dim: int = 2,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        check_int("out_channels", out_channels, minimum=1)
        check_int("width", width, minimum=1)
        n_layers = check_int("n_layers", n_layers, minimum=2)
        self.dim = check_int("dim", dim, minimum=1)
        chans = [in_channels] + [width] * (n_layers - 1) + [out_channels]
        pairs = list(zip(chans[:-1], chans[1:], strict=True))
        self.cycles = nn.ModuleList(VCycle(dim, a, b, levels, smoothing, norm) for a, b in pairs)
        self.skips = nn.ModuleList(ChannelLinear(a, b) for a, b in pairs)
        self.activations = nn.ModuleList(make_activation(activation) for _ in range(n_layers - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field("x", x, self.dim, self.in_channels)
        for i, (cycle, skip) in enumerate(zip(self.cycles, self.skips, strict=True)):
            x = cycle(x) + skip(x)
            if i < len(self.activations):
                x = self.activations[i](x)
        return x
