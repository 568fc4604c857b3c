"""Pointwise maps over the channel axis of a field ``[B, C, *grid]``, in any dimension.

``ChannelLinear`` is a 1x1 convolution written once for 1-D, 2-D and 3-D grids (one batched
matrix product); ``ChannelMLP`` is the two-layer map FNO uses to lift and project.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from labkit.operators.layers.activations import make_activation

__all__ = ["ChannelLinear", "ChannelMLP"]


class ChannelLinear(nn.Module):
    """A linear map over the channel axis at every grid point (a 1x1 convolution in any dim).

    Weights and bias start uniform in ``+-1/sqrt(in_channels)``, as ``nn.Linear``'s.

    Examples
    --------
    >>> import torch
    >>> layer = ChannelLinear(3, 5)
    >>> x = torch.randn(2, 3, 4, 6)
    >>> y = layer(x)
    >>> y.shape
    torch.Size([2, 5, 4, 6])
    >>> torch.allclose(y[..., 1, 2], x[..., 1, 2] @ layer.weight.T + layer.bias, atol=1e-6)
    True
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_channels)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels).uniform_(-bound, bound))
        self.bias = (
            nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound)) if bias else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)
        weight = self.weight.expand(x.shape[0], *self.weight.shape)
        if self.bias is None:
            y = torch.bmm(weight, flat)
        else:
            bias = self.bias[None, :, None].expand(x.shape[0], -1, flat.shape[2])
            y = torch.baddbmm(bias, weight, flat)
        return y.view(x.shape[0], self.weight.shape[0], *x.shape[2:])


class ChannelMLP(nn.Sequential):
    """Two pointwise linear maps with an activation between them (FNO's lifting/projection).

    Examples
    --------
    >>> import torch
    >>> ChannelMLP(2, 8, 1, "gelu")(torch.randn(4, 2, 16)).shape
    torch.Size([4, 1, 16])
    """

    def __init__(self, in_channels: int, hidden: int, out_channels: int, activation: str) -> None:
        super().__init__(
            ChannelLinear(in_channels, hidden),
            make_activation(activation),
            ChannelLinear(hidden, out_channels),
        )
