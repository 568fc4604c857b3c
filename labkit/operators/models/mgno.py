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
from labkit.operators.layers.activations import make_activation
from labkit.operators.layers.channel import ChannelLinear
from labkit.operators.layers.grid import check_field
from labkit.operators.layers.multigrid import VCycle
from labkit.operators.registry import register_model

__all__ = ["MgNO"]


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

    In the paper's notation (He, Liu and Xu 2024) a layer is ``u^{l+1} = sigma(W^l u^l + b^l +
    V^l(u^l))``: ``V^l`` is one V-cycle (:class:`~labkit.operators.layers.VCycle`) for
    ``A u = f`` with ``f = u^l``, its smoothers ``S``, operators ``A``, restrictions ``R`` (of
    ``f``) and ``Pi`` (of ``u``) and prolongations ``P`` all learned 3x3 (``P``: 4x4
    transposed) convolutions; ``J`` levels and ``nu`` smoothing steps per level are
    ``len(smoothing)`` and ``smoothing`` (their ``num_iteration[l] = [nu_down, nu_up]`` is
    ``smoothing[l], post_smoothing[l]``); ``c = width`` channels (``num_channel_u``); ``L =
    n_layers``; ``sigma = activation``; ``W^l, b^l`` are ``skips``; the output map is
    ``projection``.

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
        self.dim = check_int("dim", dim, minimum=1, maximum=3)
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
