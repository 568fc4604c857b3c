"""Convolution blocks on 1-D, 2-D and 3-D grids (U-Net, LSM and MgNO share them).

``conv_layer`` picks ``nn.Conv{1,2,3}d`` with "same" padding; ``ConvBlock`` is the classic
U-Net's double convolution (GroupNorm, bias); ``DoubleConv`` is the one of the LSM authors'
U-Net (milesial's Pytorch-UNet: bias-free, BatchNorm, an optional middle width), and
``unet_widths`` / ``unet_pass`` are that U-Net's channel widths and its encoder-decoder pass,
shared by the LSM and the U-Net. ``INTERPOLATION`` names the linear upsampling mode per
dimension.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from labkit.operators.layers.activations import make_activation

__all__ = [
    "INTERPOLATION",
    "NORMS",
    "ConvBlock",
    "DoubleConv",
    "conv_layer",
    "make_norm",
    "unet_pass",
    "unet_widths",
]

INTERPOLATION = {1: "linear", 2: "bilinear", 3: "trilinear"}
NORMS = ("batch", "group", "instance")


def conv_layer(
    dim: int, in_channels: int, out_channels: int, kernel_size: int = 3, **kw
) -> nn.Module:
    """``nn.Conv{dim}d`` with "same" padding for odd kernels.

    Examples
    --------
    >>> conv_layer(3, 2, 4, bias=False)
    Conv3d(2, 4, kernel_size=(3, 3, 3), stride=(1, 1, 1), padding=(1, 1, 1), bias=False)
    """
    if dim not in (1, 2, 3):
        raise ValueError(f"dim must be 1, 2 or 3, got {dim}")
    cls = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dim - 1]
    return cls(in_channels, out_channels, kernel_size, padding=kernel_size // 2, **kw)


class ConvBlock(nn.Sequential):
    """Two ``3^d`` convolutions with bias, each followed by group normalisation and the activation.

    Examples
    --------
    >>> block = ConvBlock(2, 3, 8, "gelu")
    >>> sum(p.numel() for p in block.parameters()) == (9 * 3 + 1) * 8 + (9 * 8 + 1) * 8 + 4 * 8
    True
    """

    def __init__(self, dim: int, in_channels: int, out_channels: int, activation: str) -> None:
        groups = 1 if out_channels % 4 else 4
        super().__init__(
            conv_layer(dim, in_channels, out_channels),
            nn.GroupNorm(groups, out_channels),
            make_activation(activation),
            conv_layer(dim, out_channels, out_channels),
            nn.GroupNorm(groups, out_channels),
            make_activation(activation),
        )


def make_norm(kind: str, dim: int, channels: int) -> nn.Module:
    """``"batch"``: ``nn.BatchNorm{dim}d``; ``"group"``: GroupNorm with 4 groups (1 if 4 does not
    divide ``channels``), which does not depend on the batch; ``"instance"``:
    ``nn.InstanceNorm{dim}d(affine=True)``, per sample and channel over the grid.

    Examples
    --------
    >>> make_norm("group", 2, 8)
    GroupNorm(4, 8, eps=1e-05, affine=True...)
    """
    if kind not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")
    if kind == "batch":
        return (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dim - 1](channels)
    if kind == "instance":
        return (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)[dim - 1](
            channels, affine=True
        )
    return nn.GroupNorm(1 if channels % 4 else 4, channels)


class DoubleConv(nn.Sequential):
    """``(conv 3^d without bias -> norm -> activation) x 2``, through ``mid`` channels.

    Examples
    --------
    >>> block = DoubleConv(2, 8, 4, mid=6)
    >>> sum(p.numel() for p in block.parameters()) == 9 * 8 * 6 + 2 * 6 + 9 * 6 * 4 + 2 * 4
    True
    """

    def __init__(
        self,
        dim: int,
        in_channels: int,
        out_channels: int,
        mid: int | None = None,
        activation: str = "relu",
        norm: str = "batch",
    ) -> None:
        mid = out_channels if mid is None else mid
        super().__init__(
            conv_layer(dim, in_channels, mid, bias=False),
            make_norm(norm, dim, mid),
            make_activation(activation),
            conv_layer(dim, mid, out_channels, bias=False),
            make_norm(norm, dim, out_channels),
            make_activation(activation),
        )


def unet_widths(width: int, depth: int) -> list[int]:
    """Channels of the encoder levels ``0..depth``: ``w 2^l``, the coarsest level as the one above.

    This is the bilinear U-Net of the LSM authors (milesial's Pytorch-UNet: ``width * 16 //
    factor`` at the bottom, ``factor = 2``).

    Examples
    --------
    >>> unet_widths(32, 4)
    [32, 64, 128, 256, 256]
    """
    return [width * 2 ** min(level, depth - 1) for level in range(depth + 1)]


def unet_pass(
    x: torch.Tensor,
    inc: nn.Module,
    down: Sequence[nn.Module],
    up: Sequence[nn.Module],
    skips: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None,
) -> torch.Tensor:
    """The encoder-decoder pass of the bilinear U-Net, from its blocks.

    ``inc`` at the finest level, then per level 2x max-pooling and a ``down`` block; every
    level's features pass through ``skips[level]`` (the LSM's neural spectral blocks; none for
    the U-Net); on the way up, 2x linear upsampling with aligned corners, zero padding to the
    skip's size (``diff // 2`` before, the rest after), ``cat([skip, up])`` and an ``up`` block.

    Examples
    --------
    >>> import torch
    >>> widths = unet_widths(4, 2)
    >>> inc = DoubleConv(2, 1, widths[0])
    >>> down = [DoubleConv(2, widths[i], widths[i + 1]) for i in range(2)]
    >>> up = [DoubleConv(2, 2 * widths[i], widths[max(i - 1, 0)], mid=widths[i])
    ...       for i in reversed(range(2))]
    >>> unet_pass(torch.randn(2, 1, 11, 10), inc, down, up).shape
    torch.Size([2, 4, 11, 10])
    """
    dim = x.ndim - 2
    pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[dim - 1]
    features = [inc(x)]
    for block in down:
        features.append(block(pool(features[-1], 2)))
    if skips is not None:
        features = [skip(f) for skip, f in zip(skips, features, strict=True)]
    h = features.pop()
    for block in up:
        skip = features.pop()
        h = F.interpolate(h, scale_factor=2, mode=INTERPOLATION[dim], align_corners=True)
        gaps = [s - n for s, n in zip(skip.shape[2:], h.shape[2:], strict=True)]
        h = F.pad(h, [v for g in reversed(gaps) for v in (g // 2, g - g // 2)])
        h = block(torch.cat([skip, h], dim=1))
    return h
