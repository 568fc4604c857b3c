"""U-Net (Ronneberger et al. 2015), the convolutional baseline of the operator papers, 1-D to 3-D.

By default it is the U-Net the LSM authors compare with (thuml's ``models/U_Net.py`` of their
Neural-Solver-Library, whose multiscale part is the LSM's own): a two-layer lift of the input
and the coordinates, milesial's bilinear Pytorch-UNet (bias-free convolutions, BatchNorm, ReLU,
widths ``w, 2w, 4w, 8w, 8w``, x2 upsampling with aligned corners), a pointwise output
convolution and a two-layer head. ``style="classic"`` keeps labkit's earlier U-Net (GroupNorm,
convolutions with bias, widths doubling at every level, replicate padding, upsampling to the
skip's size), which old checkpoints rebuild.

Unlike the spectral operators, its kernels live on grid points, so it is tied to the
resolution it was trained on; it runs on other grids but does not transfer well.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from labkit._checks import check_choice, check_int
from labkit.operators.layers.channel import ChannelMLP
from labkit.operators.layers.conv import (
    INTERPOLATION,
    NORMS,
    ConvBlock,
    DoubleConv,
    conv_layer,
    unet_pass,
    unet_widths,
)
from labkit.operators.layers.grid import check_field, grid_coordinates, pad_to_multiple
from labkit.operators.registry import register_model

__all__ = ["UNet"]

STYLES = ("thuml", "classic")


@register_model("unet", added={"style": "classic"})
class UNet(nn.Module):
    """U-Net with ``depth`` down/up levels.

    ``style="thuml"`` (default): ``u = Q(crop(outc(UNet(pad(P(a, x))))))`` as the LSM authors'
    baseline: ``P`` lifts the input and the grid coordinates ``x`` through ``2 * width`` hidden
    channels to ``width`` (``head_activation`` between), the grid is zero-padded at its end to a
    multiple of ``2**depth``, the U-Net runs (channels ``w, 2w, .., 2^(depth-1) w`` and the
    coarsest level as the one above; up blocks ``4w, 2w, w, w`` through a middle width of half
    their input), ``outc`` is a pointwise convolution ``w -> w`` and ``Q`` two linear maps
    ``w -> w -> out`` with ``head_activation`` between. With ``width=32, depth=4`` and one
    input and output channel this is their model's 2-D configuration (4,331,201 parameters).
    It is the LSM (:class:`~labkit.operators.LSM`) without the neural spectral blocks, with
    this lift and head.

    ``style="classic"``: labkit's earlier U-Net: ``ConvBlock`` s (convolutions with bias,
    GroupNorm, ``activation``), widths doubling at every level, replicate padding to a multiple
    of ``2**depth``, upsampling to the skip's size, a pointwise output convolution; no lift,
    coordinates or head. ``UNet(..., style="classic", depth=3, activation="gelu")`` is the
    earlier default.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output fields (``fun_dim`` and ``out_dim`` of the authors).
    width : int
        ``n_hidden``: channels at the finest level.
    depth : int
        Number of 2x down-samplings (the authors: 4).
    dim : int
        Number of grid axes (1, 2 or 3).
    activation : str
        Activation of the convolutions (the authors: ReLU).
    style : str
        ``"thuml"`` (default) or ``"classic"``, see above.
    head_activation : str
        ``"thuml"``: activation in ``P`` and ``Q`` (the authors' ``act``, GELU).
    norm : str
        ``"thuml"``: ``"batch"`` (the authors' choice for steady problems such as Darcy),
        ``"instance"`` (theirs for time-dependent ones) or ``"group"``.
    endpoints : bool
        ``"thuml"``: coordinates ``i / (n - 1)`` (``True``, ``linspace(0, 1, n)``) or periodic
        ``i / n``.

    Notes
    -----
    Paper symbols: the U-Net paper (Ronneberger et al. 2015) and the operator papers that use it
    as a baseline give it no operator notation. In the notation of the other models here
    (``u = Q(v)``, ``v = network(P(a, x))``) and of the authors' ``U_Net.py``:

    ==========================  ===================================  ==========================
    symbol                      authors' code                        here (``style="thuml"``)
    ==========================  ===================================  ==========================
    ``a``, ``u``                ``fun_dim``, ``out_dim``             ``in_channels``,
                                                                     ``out_channels``
    ``P`` (lift of ``a, x``)    ``MLP(fun_dim + 2, 2n, n)``          ``lift``
    channels ``n``              ``n_hidden``                         ``width``
    levels                      4 ``Down`` / ``Up`` (fixed)          ``depth``, ``down``, ``up``
    pointwise output conv       ``OutConv`` (``n -> n``)             ``out_conv``
    ``Q``                       ``fc1``, GELU, ``fc2``               ``head``
    ==========================  ===================================  ==========================

    Examples
    --------
    >>> import torch
    >>> UNet(1, 1, width=8, depth=2)(torch.randn(2, 1, 30, 30)).shape
    torch.Size([2, 1, 30, 30])
    >>> UNet(1, 1, width=4, depth=2, style="classic")(torch.randn(2, 1, 30, 30)).shape
    torch.Size([2, 1, 30, 30])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 32,
        depth: int = 4,
        dim: int = 2,
        activation: str = "relu",
        style: str = "thuml",
        head_activation: str = "gelu",
        norm: str = "batch",
        endpoints: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        check_int("out_channels", out_channels, minimum=1)
        self.depth = check_int("depth", depth, minimum=1)
        self.dim = check_int("dim", dim, minimum=1, maximum=3)
        check_choice("style", style, STYLES)
        check_choice("norm", norm, NORMS)
        self.style = style
        self.endpoints = bool(endpoints)
        width = check_int("width", width, minimum=1)
        if style == "classic":
            self._build_classic(in_channels, out_channels, width, activation)
            return
        widths = unet_widths(width, depth)
        self.lift = ChannelMLP(in_channels + dim, 2 * width, width, head_activation)
        self.inc = DoubleConv(dim, width, width, activation=activation, norm=norm)
        self.down = nn.ModuleList(
            DoubleConv(dim, widths[i], widths[i + 1], activation=activation, norm=norm)
            for i in range(depth)
        )
        self.up = nn.ModuleList(
            DoubleConv(dim, 2 * widths[i], widths[max(i - 1, 0)], mid=widths[i],
                       activation=activation, norm=norm)
            for i in reversed(range(depth))
        )
        self.out_conv = conv_layer(dim, width, width, kernel_size=1)
        self.head = ChannelMLP(width, width, out_channels, head_activation)

    def _build_classic(self, in_channels: int, out_channels: int, width: int,
                       activation: str) -> None:
        dim, depth = self.dim, self.depth
        widths = [width * 2**level for level in range(depth + 1)]
        self.inc = ConvBlock(dim, in_channels, widths[0], activation)
        self.down = nn.ModuleList(
            ConvBlock(dim, widths[i], widths[i + 1], activation) for i in range(depth)
        )
        self.up = nn.ModuleList(
            ConvBlock(dim, widths[i + 1] + widths[i], widths[i], activation)
            for i in reversed(range(depth))
        )
        self.out = conv_layer(dim, widths[0], out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field("x", x, self.dim, self.in_channels)
        grid = x.shape[2:]
        crop = (slice(None), slice(None), *(slice(0, n) for n in grid))
        if self.style == "classic":
            return self.out(self._classic_pass(pad_to_multiple(x, 2**self.depth)[0]))[crop]
        x = self.lift(torch.cat([x, grid_coordinates(x, self.endpoints)], dim=1))
        pads = [-n % 2**self.depth for n in grid]
        if any(pads):
            x = F.pad(x, [v for p in reversed(pads) for v in (0, p)])
        h = self.out_conv(unet_pass(x, self.inc, self.down, self.up))
        return self.head(h[crop])

    def _classic_pass(self, x: torch.Tensor) -> torch.Tensor:
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[self.dim - 1]
        skips = [self.inc(x)]
        for block in self.down:
            skips.append(block(pool(skips[-1], 2)))
        h = skips.pop()
        for block in self.up:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[2:], mode=INTERPOLATION[self.dim])
            h = block(torch.cat([h, skip], dim=1))
        return h
