"""Spatio-temporal FNO and the Spectral-Refiner fine-tuning step (Cao et al., ICLR 2025).

The model maps ``steps_in`` snapshots of a field to ``steps_out`` later snapshots with spectral
convolutions over space *and* time (space periodic, time padded). Spectral-Refiner trains it for
a few epochs, then freezes everything but the last spectral layer and fine-tunes that layer with
no frequency truncation, usually with the negative-norm loss ``SobolevLoss(s=-1)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from labkit._checks import check_int, check_nonnegative
from labkit.operators.layers.activations import make_activation
from labkit.operators.layers.channel import ChannelLinear, ChannelMLP
from labkit.operators.layers.grid import check_field, grid_coordinates
from labkit.operators.layers.spectral import SpectralConv, as_modes
from labkit.operators.registry import register_model

__all__ = ["SpatioTemporalFNO", "spectral_refiner", "full_modes"]


@register_model("sfno")
class SpatioTemporalFNO(nn.Module):
    """FNO over space and time: ``[B, C_in, *space, steps_in] -> [B, C_out, *space, steps_out]``.

    In the notation of the FNO paper's 3-D variant (Li et al. 2021, ``FNO-3D``) and of
    Spectral-Refiner (Cao et al. 2025): ``P`` (``lifting``, two pointwise maps through
    ``2 * width``) lifts the snapshots and the space-time coordinates to ``d_v = width``
    channels, a linear map over time (``time_map``) takes the ``steps_in`` input records to the
    ``steps_out`` output ones, ``L = n_layers`` Fourier layers ``sigma(K_l v + W_l v)`` keep
    ``k_max = modes`` spatial and ``modes_t`` temporal frequencies on the time axis padded by
    ``time_padding``, and ``Q`` (``projection``) projects back. Spectral-Refiner's fine-tune
    trains only the last ``K_L`` without truncation (:func:`spectral_refiner`).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output fields.
    modes : int or tuple of int
        Kept spatial modes per axis (an int means two spatial axes).
    modes_t : int
        Kept temporal modes.
    steps_in, steps_out : int
        Input and output snapshots; a learned linear map over time takes one to the other
        before the spectral layers (the "latent steps").
    width, n_layers, activation
        As for :class:`~labkit.operators.FNO`.
    time_padding : float
        Fraction of the time axis appended as zeros (time is not periodic).

    Notes
    -----
    Paper symbols (FNO-3D of Li et al. 2021, as Spectral-Refiner uses it):

    ==============================  ==========================================================
    paper                           here
    ==============================  ==========================================================
    ``P``                           ``lifting`` (two pointwise maps through ``2 * d_v``)
    ``d_v``                         ``width``
    ``T`` (Fourier layers)          ``n_layers``
    ``k_max`` in space, in time     ``modes``, ``modes_t``
    ``R_phi``, ``W``                ``spectral[l].weight``, ``skips[l]``
    ``sigma``                       ``activation``
    ``Q``                           ``projection`` (hidden width ``2 * d_v``)
    input and output records        ``steps_in``, ``steps_out`` (``time_map`` between)
    the fine-tuned last layer       ``spectral[-1]`` (:func:`spectral_refiner`)
    ==============================  ==========================================================

    Examples
    --------
    >>> import torch
    >>> model = SpatioTemporalFNO(1, 1, modes=(4, 4), modes_t=2, steps_in=3, steps_out=5, width=8)
    >>> model(torch.randn(2, 1, 16, 16, 3)).shape
    torch.Size([2, 1, 16, 16, 5])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: int | tuple[int, ...],
        modes_t: int,
        steps_in: int,
        steps_out: int,
        width: int = 20,
        n_layers: int = 4,
        activation: str = "gelu",
        time_padding: float = 0.25,
    ) -> None:
        super().__init__()
        space = as_modes(modes, None if isinstance(modes, (tuple, list)) else 2)
        self.modes = (*space, check_int("modes_t", modes_t, minimum=1))
        self.dim = len(self.modes)
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.steps_in = check_int("steps_in", steps_in, minimum=1)
        self.steps_out = check_int("steps_out", steps_out, minimum=1)
        width = check_int("width", width, minimum=1)
        n_layers = check_int("n_layers", n_layers, minimum=1)
        self.time_padding = check_nonnegative("time_padding", time_padding)
        self.lifting = ChannelMLP(in_channels + self.dim, 2 * width, width, activation)
        self.time_map = nn.Linear(self.steps_in, self.steps_out)
        self.spectral = nn.ModuleList(
            SpectralConv(width, width, self.modes) for _ in range(n_layers)
        )
        self.skips = nn.ModuleList(ChannelLinear(width, width, bias=False) for _ in range(n_layers))
        self.activations = nn.ModuleList(make_activation(activation) for _ in range(n_layers - 1))
        self.projection = ChannelMLP(width, 2 * width, out_channels, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field("x", x, self.dim, self.in_channels)
        if x.shape[-1] != self.steps_in:
            raise ValueError(
                f"x must have {self.steps_in} time steps (last axis), got {x.shape[-1]}"
            )
        x = self.lifting(torch.cat([x, grid_coordinates(x)], dim=1))
        x = self.time_map(x)
        pad = math.ceil(self.time_padding * self.steps_out)
        x = F.pad(x, (0, pad))
        for i, (conv, skip) in enumerate(zip(self.spectral, self.skips, strict=True)):
            x = conv(x) + skip(x)
            if i < len(self.activations):
                x = self.activations[i](x)
        return self.projection(x[..., : self.steps_out])


def full_modes(grid: tuple[int, ...]) -> tuple[int, ...]:
    """The most modes a spectral layer can keep on ``grid`` (no truncation).

    Examples
    --------
    >>> full_modes((64, 64, 10))
    (32, 32, 6)
    """
    return (*(n // 2 for n in grid[:-1]), grid[-1] // 2 + 1)


def spectral_refiner(model: nn.Module, x: torch.Tensor) -> list[nn.Parameter]:
    """Prepare the Spectral-Refiner fine-tune: only the last spectral layer trains, untruncated.

    Every parameter is frozen except the last spectral layer's; that layer keeps every mode of
    the grid it sees for input ``x`` (new modes start at zero, so the model's output does not
    change). Returns the parameters to give the optimiser.

    Examples
    --------
    >>> import torch
    >>> model = SpatioTemporalFNO(1, 1, modes=(2, 2), modes_t=2, steps_in=2, steps_out=4, width=4)
    >>> params = spectral_refiner(model, torch.randn(1, 1, 8, 8, 2))
    >>> model.spectral[-1].modes
    (4, 4, 3)
    """
    layers = getattr(model, "spectral", None)
    if not isinstance(layers, nn.ModuleList) or not layers:
        raise TypeError(f"model must have spectral layers (FNO, SFNO), got {type(model).__name__}")
    last: SpectralConv = layers[-1]
    seen: list[tuple[int, ...]] = []
    handle = last.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape[2:])))
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        handle.remove()
    for p in model.parameters():
        p.requires_grad_(False)
    last.expand_modes(
        tuple(max(a, b) for a, b in zip(full_modes(seen[0]), last.modes, strict=True))
    )
    for p in last.parameters():
        p.requires_grad_(True)
    return list(last.parameters())
