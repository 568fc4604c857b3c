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

    Notes
    -----
    Paper symbols (He, Liu and Xu 2024): neuron ``i`` of a layer is ``O_i(u) = sigma(sum_j
    W_ij u_j + B_ij)``, and the linear operators ``W_ij`` of all neuron pairs together are one
    multigrid V-cycle ``W_Mg`` (``VCycle``) for ``A u = f`` with ``f`` the layer's input: on
    every level ``u <- u + S (f - A u)``, then ``f`` goes down by ``R`` and ``u`` by ``Pi``, and
    the coarse ``u`` comes back up by ``P``.

    ========================================  ======================================
    paper (authors' code)                     here
    ========================================  ======================================
    neurons of ``u`` (``num_channel_u``)      ``width``
    input channels (``num_channel_f``)        ``in_channels``
    layers (``num_layer``)                    ``n_layers``
    ``W_Mg`` (``MgConv_DC``)                  ``cycles[l]``
    ``A``, ``S`` (3x3 convolutions)           the stencils of ``cycles[l]``
    ``R``, ``Pi`` (3x3, stride 2)             its restrictions of ``f`` and ``u``
    ``P`` (4x4 transposed, stride 2)          its prolongations
    levels and smoothing steps                ``len(smoothing)``, ``smoothing``,
    (``num_iteration[l] = [nu_1, nu_2]``)     ``post_smoothing``
    pointwise part and bias ``B_ij``          ``skips[l]`` (``W u + b``)
    ``sigma``                                 ``activation``, after every layer
    output map (1x1, bias-free)               ``projection``
    ========================================  ======================================

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
