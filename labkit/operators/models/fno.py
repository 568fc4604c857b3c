"""The Fourier Neural Operator (Li et al. 2021) in 1-D, 2-D and 3-D.

``lift -> [spectral conv + pointwise skip -> activation] x n_layers -> project``, with grid
coordinates appended to the input and optional padding for non-periodic problems. The weights
act on Fourier modes and channels only, so a model trained on one grid runs on any finer one.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from labkit._checks import check_int, check_nonnegative
from labkit.operators.layers.activations import make_activation
from labkit.operators.layers.channel import ChannelLinear, ChannelMLP
from labkit.operators.layers.grid import (
    PAD_SIDES,
    check_field,
    crop_grid,
    grid_coordinates,
    pad_grid,
)
from labkit.operators.layers.spectral import SpectralConv, as_modes
from labkit.operators.registry import register_model

__all__ = ["FNO"]

_SPECTRAL_INITS = ("paper", "neuraloperator")


@register_model("fno")
class FNO(nn.Module):
    r"""Fourier Neural Operator on a ``d``-dimensional grid, ``d = len(modes)``.

    ``u = Q(v_L)``, ``v_{l+1} = sigma(K_l v_l + W_l v_l + b_l)``, ``v_0 = P(a, x)`` in the
    notation of Li et al. (2021): ``P`` lifts the input and the grid coordinates ``x`` to
    ``d_v = width`` channels, each Fourier layer ``K_l`` keeps ``k_max = modes`` frequencies
    per axis (a complex ``d_v x d_v`` matrix ``R_l`` per frequency), ``W_l`` is a pointwise
    linear map, and ``Q`` projects back through a hidden layer. ``sigma`` is not applied after
    the last layer. With the defaults and ``modes=(12, 12), width=32, n_layers=4`` this is the
    architecture of the paper's ``fourier_2d.py`` (2,368,001 real parameters); its initial
    distributions are the paper's for every linear map (uniform in ``+-1/sqrt(fan_in)``) and
    neuraloperator's for the spectral weights, which learned better on labkit's Darcy data
    (``spectral_init="paper"`` restores the paper's; docs/ZOO.md has the measurement).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input ``a`` and output ``u``.
    modes : int or tuple of int
        ``k_max`` per axis: kept Fourier modes (frequencies ``-k..k-1`` on every axis but the
        last, ``0..k-1`` on the last); a tuple's length sets the dimension (an int means 2-D).
    width : int
        ``d_v``, channels inside the Fourier layers.
    n_layers : int
        ``L``, the number of Fourier layers.
    activation : str
        ``sigma``: ``"gelu"`` (the paper's), ``"relu"``, ``"silu"``, ``"tanh"``,
        ``"polyrelu"`` or ``"polynorm"``.
    padding : float
        Fraction of each axis appended as zeros before the Fourier layers (0 for periodic
        problems; about 1/8 for Dirichlet problems such as Darcy flow, where the paper pads 9
        of 85 points).
    endpoints : bool
        The grid includes both boundaries (``n`` nodes span ``n - 1`` cells), as Darcy data
        does; sets the coordinates (``i / (n - 1)``, the paper's ``linspace(0, 1, n)``) and the
        padding length. ``False``: periodic coordinates ``i / n``.
    positional_embedding : bool
        Append the grid coordinates as ``d`` extra input channels (the paper does).
    lifting_ratio : int
        ``P``: ``0`` (default) is the paper's single linear map; ``k > 0`` is neuraloperator's
        two-layer channel MLP with ``k * width`` hidden channels and ``sigma`` between (its
        ``lifting_channel_ratio``). On labkit's Darcy data the single map learned better (see
        ``benchmarks/zoo_fidelity.py`` and docs/ZOO.md).
    projection_ratio : int
        ``Q``'s hidden width as a multiple of ``width``; the paper's 128 hidden channels at
        ``width=32`` are ``4`` (neuraloperator's default is 2).
    spectral_init : str
        Initial ``R_l`` and ``b_l``: ``"neuraloperator"`` (default; complex normal with
        standard deviation ``1/sqrt(width)``, its ``init_std="auto"``, and ``b_l`` normal with
        the same deviation) or ``"paper"`` (``fourier_2d.py``: real and imaginary parts uniform
        in ``[0, 1/width^2)``, ``b_l`` uniform in ``+-1/sqrt(width)`` as its convolution bias).
    padding_sides : str
        ``"end"`` (default, as the paper's ``F.pad(x, [0, p, 0, p])``) appends the padding at
        the end of each axis; ``"both"`` puts half of it on each side, as neuraloperator's
        ``DomainPadding(padding / 2)``.
    double_activation : bool
        Apply ``sigma`` twice between Fourier layers, ``sigma(sigma(K v + W v))``, as
        neuraloperator 2.0's ``FNOBlocks`` does when its blocks have no channel MLP
        (``use_channel_mlp=False``, the paper's block): it applies the non-linearity once after
        the skip sum and once more after the (absent) channel MLP. ``False`` (default): once,
        as the paper. With ``lifting_ratio=2, projection_ratio=2, padding_sides="both",
        double_activation=True`` this is neuraloperator's ``FNO(use_channel_mlp=False,
        fno_skip="linear")`` function for function on grids whose padded size is even
        (docs/ZOO.md: on odd ones neuraloperator 2.0 misplaces output frequencies by one).

    Notes
    -----
    Paper symbols (Li et al. 2021: ``v_0 = P(a)``, ``v_{t+1} = sigma(W v_t + K v_t)`` with
    ``K v = F^-1(R_phi . F v)``, ``u = Q(v_T)``) and what holds them here:

    ===========================  =========================================================
    paper                        here
    ===========================  =========================================================
    ``a``, ``u``                 the input field (``in_channels``) and the output
                                 (``out_channels``)
    ``P``                        ``lifting``, set by ``lifting_ratio`` (0: one linear map)
    ``d_v``                      ``width``
    ``T`` (Fourier layers)       ``n_layers``
    ``k_max``                    ``modes``, per axis
    ``R_phi``                    ``spectral[l].weight``, a ``d_v x d_v`` complex matrix per
                                 kept frequency; its initial law is ``spectral_init``
    ``W``                        ``skips[l]``, pointwise ``d_v x d_v``, bias-free (the bias
                                 ``b`` sits on ``spectral[l]``)
    ``sigma``                    ``activation``
    ``Q``                        ``projection``, hidden width ``projection_ratio * d_v``
    ===========================  =========================================================

    Examples
    --------
    >>> import torch
    >>> model = FNO(1, 1, modes=(8, 8), width=16, n_layers=2)
    >>> model(torch.randn(4, 1, 32, 32)).shape
    torch.Size([4, 1, 32, 32])
    >>> model(torch.randn(1, 1, 64, 64)).shape  # same weights, finer grid
    torch.Size([1, 1, 64, 64])
    >>> paper = FNO(1, 1, modes=(12, 12), width=32, n_layers=4)
    >>> sum(p.numel() for p in paper.parameters())  # as fourier_2d.py, complex counted twice
    2368001
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: int | tuple[int, ...],
        width: int = 32,
        n_layers: int = 4,
        activation: str = "gelu",
        padding: float = 0.0,
        endpoints: bool = False,
        positional_embedding: bool = True,
        lifting_ratio: int = 0,
        projection_ratio: int = 4,
        spectral_init: str = "neuraloperator",
        padding_sides: str = "end",
        double_activation: bool = False,
    ) -> None:
        super().__init__()
        self.modes = as_modes(modes, None if isinstance(modes, (tuple, list)) else 2)
        self.dim = len(self.modes)
        if self.dim > 3:
            raise ValueError(f"modes must have 1, 2 or 3 entries, got {len(self.modes)}")
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        width = check_int("width", width, minimum=1)
        n_layers = check_int("n_layers", n_layers, minimum=1)
        lifting_ratio = check_int("lifting_ratio", lifting_ratio, minimum=0)
        projection_ratio = check_int("projection_ratio", projection_ratio, minimum=1)
        self.padding = check_nonnegative("padding", padding)
        if padding_sides not in PAD_SIDES:
            raise ValueError(f"padding_sides must be one of {PAD_SIDES}, got {padding_sides!r}")
        self.padding_sides = padding_sides
        self.double_activation = bool(double_activation)
        self.endpoints = bool(endpoints)
        self.positional_embedding = bool(positional_embedding)
        lifted = in_channels + (self.dim if positional_embedding else 0)
        if lifting_ratio:
            self.lifting = ChannelMLP(lifted, lifting_ratio * width, width, activation)
        else:
            self.lifting = ChannelLinear(lifted, width)
        self.spectral = nn.ModuleList(
            SpectralConv(width, width, self.modes) for _ in range(n_layers)
        )
        if spectral_init not in _SPECTRAL_INITS:
            raise ValueError(
                f"spectral_init must be one of {_SPECTRAL_INITS}, got {spectral_init!r}"
            )
        std = 1.0 / math.sqrt(width)  # neuraloperator's sqrt(2 / (in + out)) with in = out
        for conv in self.spectral:
            if spectral_init == "neuraloperator":  # complex normal: std^2 / 2 per part
                nn.init.normal_(conv.weight, 0.0, std / math.sqrt(2))
                nn.init.normal_(conv.bias, 0.0, std)
            else:  # b_l drawn as the paper's pointwise-convolution bias
                nn.init.uniform_(conv.bias, -std, std)
        self.skips = nn.ModuleList(ChannelLinear(width, width, bias=False) for _ in range(n_layers))
        self.activations = nn.ModuleList(make_activation(activation) for _ in range(n_layers - 1))
        self.projection = ChannelMLP(width, projection_ratio * width, out_channels, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field("x", x, self.dim, self.in_channels)
        if self.positional_embedding:
            x = torch.cat([x, grid_coordinates(x, self.endpoints)], dim=1)
        x = self.lifting(x)
        x, pads = pad_grid(x, self.padding, self.endpoints, self.padding_sides)
        for i, (conv, skip) in enumerate(zip(self.spectral, self.skips, strict=True)):
            x = conv(x) + skip(x)
            if i < len(self.activations):
                x = self.activations[i](x)
                if self.double_activation:
                    x = self.activations[i](x)
        x = crop_grid(x, pads, self.padding_sides)
        return self.projection(x)
