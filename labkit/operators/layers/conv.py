"""Convolution blocks on 1-D, 2-D and 3-D grids (U-Net, LSM and MgNO share them).

``conv_layer`` picks ``nn.Conv{1,2,3}d`` with "same" padding; ``ConvBlock`` is the U-Net's
double convolution (GroupNorm, bias); ``DoubleConv`` is the LSM authors' (bias-free, BatchNorm,
an optional middle width). ``INTERPOLATION`` names the linear upsampling mode per dimension.
"""

from __future__ import annotations

from torch import nn

from labkit.operators.layers.activations import make_activation

__all__ = ["INTERPOLATION", "NORMS", "ConvBlock", "DoubleConv", "conv_layer", "make_norm"]

INTERPOLATION = {1: "linear", 2: "bilinear", 3: "trilinear"}
NORMS = ("batch", "group")


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
    divide ``channels``), which does not depend on the batch.

    Examples
    --------
    >>> make_norm("group", 2, 8)
    GroupNorm(4, 8, eps=1e-05, affine=True...)
    """
    if kind not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")
    if kind == "batch":
        return (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dim - 1](channels)
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
