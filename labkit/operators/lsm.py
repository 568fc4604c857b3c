"""Latent Spectral Models (Wu et al., ICML 2023).

A U-Net of convolutions whose skip connections pass through *neural spectral blocks*: the
features at every scale are projected by attention onto a few learned latent tokens, transformed
there by a learned trigonometric series, and projected back. The attention averages over grid
points, so the latent tokens do not depend on the grid size.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from labkit._checks import check_int
from labkit.operators.activations import make_activation
from labkit.operators.fno import ChannelLinear, grid_coordinates
from labkit.operators.registry import register_model
from labkit.operators.spectral import check_field
from labkit.operators.unet import _INTERPOLATION, ConvBlock, conv_layer, pad_to_multiple

__all__ = ["LSM", "NeuralSpectralBlock"]


class NeuralSpectralBlock(nn.Module):
    """Project to ``n_tokens`` latent tokens, apply a sine/cosine series, project back.

    Examples
    --------
    >>> import torch
    >>> NeuralSpectralBlock(16, n_basis=4, n_tokens=3, heads=2)(torch.randn(2, 16, 8, 8)).shape
    torch.Size([2, 16, 8, 8])
    """

    def __init__(self, width: int, n_basis: int = 12, n_tokens: int = 4, heads: int = 4) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width must be divisible by heads={heads}, got {width}")
        self.heads = heads
        self.head_dim = width // heads
        self.tokens = nn.Parameter(torch.rand(heads, n_tokens, self.head_dim) / width)
        self.key_value = ChannelLinear(width, 2 * width)
        self.query = ChannelLinear(width, width)
        self.register_buffer("frequencies", torch.arange(n_basis, dtype=torch.float32) / n_basis)
        self.series = nn.Parameter(torch.rand(width, 2 * n_basis) / width)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).unflatten(1, (self.heads, self.head_dim)).transpose(-1, -2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, width = x.shape[:2]
        scale = 1.0 / math.sqrt(self.head_dim)
        keys, values = map(self._split_heads, self.key_value(x).chunk(2, dim=1))
        tokens = self.tokens.expand(batch, *self.tokens.shape)
        attn = torch.softmax(tokens @ keys.transpose(-1, -2) * scale, dim=-1)
        latent = tokens + attn @ values  # [B, heads, tokens, head_dim]
        z = latent.transpose(-1, -2).reshape(batch, width, -1)
        phase = math.pi * z[..., None] * self.frequencies
        basis = torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1)
        z = z + torch.einsum("bcnk,ck->bcn", basis, self.series)
        latent = z.reshape(batch, self.heads, self.head_dim, -1).transpose(-1, -2)
        queries = self._split_heads(self.query(x))
        attn = torch.softmax(queries @ latent.transpose(-1, -2) * scale, dim=-1)
        out = (attn @ latent).transpose(-1, -2).reshape(x.shape)
        return x + out


@register_model("lsm")
class LSM(nn.Module):
    """Latent Spectral Model: a U-Net whose skips pass through :class:`NeuralSpectralBlock`.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output fields.
    width : int
        Channels at the finest level (doubling per level).
    depth : int
        Number of 2x down-samplings.
    n_basis, n_tokens, heads : int
        Size of the trigonometric series, number of latent tokens, attention heads.
    dim : int
        Number of grid axes (1, 2 or 3).
    activation : str
        Activation name.

    Examples
    --------
    >>> import torch
    >>> LSM(1, 1, width=8, depth=2, heads=2)(torch.randn(2, 1, 20, 20)).shape
    torch.Size([2, 1, 20, 20])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 32,
        depth: int = 3,
        n_basis: int = 12,
        n_tokens: int = 4,
        heads: int = 4,
        dim: int = 2,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        check_int("out_channels", out_channels, minimum=1)
        self.depth = check_int("depth", depth, minimum=1)
        self.dim = check_int("dim", dim, minimum=1)
        widths = [check_int("width", width, minimum=1) * 2**level for level in range(depth + 1)]
        self.lift = ChannelLinear(in_channels + dim, widths[0])
        self.inc = ConvBlock(dim, widths[0], widths[0], activation)
        self.down = nn.ModuleList(
            ConvBlock(dim, widths[i], widths[i + 1], activation) for i in range(depth)
        )
        self.latent_blocks = nn.ModuleList(
            NeuralSpectralBlock(w, n_basis, n_tokens, heads) for w in widths
        )
        self.up = nn.ModuleList(
            ConvBlock(dim, widths[i + 1] + widths[i], widths[i], activation)
            for i in reversed(range(depth))
        )
        self.head = nn.Sequential(
            conv_layer(dim, widths[0], 4 * widths[0], kernel_size=1),
            make_activation(activation),
            conv_layer(dim, 4 * widths[0], out_channels, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field("x", x, self.dim, self.in_channels)
        grid = x.shape[2:]
        x = self.lift(torch.cat([x, grid_coordinates(x)], dim=1))
        x, _ = pad_to_multiple(x, 2**self.depth)
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[self.dim - 1]
        features = [self.inc(x)]
        for block in self.down:
            features.append(block(pool(features[-1], 2)))
        features = [block(f) for block, f in zip(self.latent_blocks, features, strict=True)]
        h = features.pop()
        for block in self.up:
            skip = features.pop()
            h = F.interpolate(h, size=skip.shape[2:], mode=_INTERPOLATION[self.dim])
            h = block(torch.cat([h, skip], dim=1))
        h = self.head(h)
        return h[(slice(None), slice(None), *(slice(0, n) for n in grid))]
