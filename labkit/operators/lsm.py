"""Latent Spectral Models (Wu et al., ICML 2023).

A U-Net of convolutions whose skip connections pass through *neural spectral blocks*: the
features at every scale are split into patches, each patch is projected by attention onto a few
learned latent tokens, the tokens are transformed by a learned trigonometric series, and the
patch is read back from its own tokens. The attention averages over the grid points of a patch,
so the latent tokens do not depend on the grid size; the patches make the latent solve local at
the fine scales and global at the coarsest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from labkit._checks import check_int
from labkit.operators.activations import make_activation
from labkit.operators.fno import ChannelLinear, grid_coordinates
from labkit.operators.registry import register_model
from labkit.operators.spectral import check_field
from labkit.operators.unet import _INTERPOLATION, ConvBlock, conv_layer, pad_to_multiple

__all__ = ["LSM", "NeuralSpectralBlock", "merge_patches", "split_patches"]


def split_patches(x: torch.Tensor, counts: Sequence[int]) -> torch.Tensor:
    """Cut a field ``[B, C, *grid]`` into ``counts[i]`` equal patches along axis ``i``.

    Returns ``[B * prod(counts), C, *patch]``, patches in row-major order within each sample.

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> split_patches(x, (2, 2))[1, 0]
    tensor([[2., 3.],
            [6., 7.]])
    """
    batch, channels, *grid = x.shape
    if len(counts) != len(grid) or any(n % k for n, k in zip(grid, counts, strict=True)):
        raise ValueError(f"counts must divide the grid {tuple(grid)} axis by axis, got {counts}")
    sizes = [n // k for n, k in zip(grid, counts, strict=True)]
    d = len(grid)
    x = x.reshape(batch, channels, *(v for k, s in zip(counts, sizes, strict=True) for v in (k, s)))
    x = x.permute(0, *range(2, 2 + 2 * d, 2), 1, *range(3, 3 + 2 * d, 2))
    return x.reshape(-1, channels, *sizes)


def merge_patches(x: torch.Tensor, counts: Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`split_patches`: ``[B * prod(counts), C, *patch]`` to ``[B, C, *grid]``.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(2, 3, 6, 4)
    >>> torch.equal(merge_patches(split_patches(x, (3, 2)), (3, 2)), x)
    True
    """
    _, channels, *sizes = x.shape
    d = len(sizes)
    x = x.reshape(-1, *counts, channels, *sizes)
    x = x.permute(0, d + 1, *(v for i in range(d) for v in (1 + i, d + 2 + i)))
    return x.reshape(x.shape[0], channels, *(k * s for k, s in zip(counts, sizes, strict=True)))


class NeuralSpectralBlock(nn.Module):
    """Per patch: project to ``n_tokens`` latent tokens, apply a sine/cosine series, project back.

    Parameters
    ----------
    width : int
        Channels of the field.
    n_basis, n_tokens, heads : int
        Size of the trigonometric series, latent tokens per patch, attention heads.
    patches : int or tuple of int
        Patches along each grid axis (an int: the same along every axis). They must divide the
        grid; ``1`` makes one global patch.

    Examples
    --------
    >>> import torch
    >>> block = NeuralSpectralBlock(16, n_basis=4, n_tokens=3, heads=2, patches=(2, 4))
    >>> block(torch.randn(2, 16, 8, 8)).shape
    torch.Size([2, 16, 8, 8])
    >>> block.latent_tokens(torch.randn(2, 16, 8, 8)).shape  # [B, *patches, width, n_tokens]
    torch.Size([2, 2, 4, 16, 3])
    """

    def __init__(
        self,
        width: int,
        n_basis: int = 12,
        n_tokens: int = 4,
        heads: int = 4,
        patches: int | Sequence[int] = 1,
    ) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width must be divisible by heads={heads}, got {width}")
        if isinstance(patches, Sequence):
            self.patches = tuple(check_int("patches", p, minimum=1) for p in patches)
        else:
            self.patches = check_int("patches", patches, minimum=1)
        self.heads = heads
        self.head_dim = width // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.tokens = nn.Parameter(torch.rand(heads, n_tokens, self.head_dim) / width)
        self.key_value = ChannelLinear(width, 2 * width)
        self.query = ChannelLinear(width, width)
        self.register_buffer("frequencies", torch.arange(n_basis, dtype=torch.float32) / n_basis)
        self.series = nn.Parameter(torch.rand(width, 2 * n_basis) / width)

    def _counts(self, x: torch.Tensor) -> tuple[int, ...]:
        grid = tuple(x.shape[2:])
        counts = self.patches if isinstance(self.patches, tuple) else (self.patches,) * len(grid)
        if len(counts) != len(grid) or any(n % k for n, k in zip(grid, counts, strict=True)):
            raise ValueError(
                f"patches={self.patches} must divide the grid {grid} along every axis "
                f"(one count per axis)"
            )
        return counts

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).unflatten(1, (self.heads, self.head_dim)).transpose(-1, -2)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent tokens ``[N, width, n_tokens]`` of fields ``x`` (one patch per sample)."""
        n, width = x.shape[:2]
        keys, values = map(self._split_heads, self.key_value(x).chunk(2, dim=1))
        tokens = self.tokens.expand(n, *self.tokens.shape)
        attn = torch.softmax(tokens @ keys.transpose(-1, -2) * self.scale, dim=-1)
        z = (tokens + attn @ values).transpose(-1, -2).reshape(n, width, -1)
        phase = math.pi * z[..., None] * self.frequencies
        basis = torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1)
        return z + torch.einsum("bcnk,ck->bcn", basis, self.series)

    def _decode(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        latent = z.reshape(x.shape[0], self.heads, self.head_dim, -1).transpose(-1, -2)
        queries = self._split_heads(self.query(x))
        attn = torch.softmax(queries @ latent.transpose(-1, -2) * self.scale, dim=-1)
        return x + (attn @ latent).transpose(-1, -2).reshape(x.shape)

    def latent_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Latent tokens of every patch after the spectral series: ``[B, *patches, C, tokens]``."""
        counts = self._counts(x)
        z = self._encode(split_patches(x, counts))
        return z.reshape(x.shape[0], *counts, *z.shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = self._counts(x)
        if math.prod(counts) == 1:
            return self._decode(x, self._encode(x))
        patches = split_patches(x, counts)
        return merge_patches(self._decode(patches, self._encode(patches)), counts)


def _check_patches(patches: int | Sequence[int] | None, dim: int, depth: int) -> tuple[int, ...]:
    if patches is None:
        return (2**depth,) * dim
    counts = tuple(patches) if isinstance(patches, Sequence) else (patches,) * dim
    if len(counts) != dim:
        raise ValueError(f"patches must have one count per grid axis ({dim}), got {patches}")
    for count in counts:
        check_int("patches", count, minimum=1)
        if count & (count - 1):
            raise ValueError(f"patches must be powers of two (1, 2, 4, ...), got {patches}")
    return counts


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
        Size of the trigonometric series, latent tokens per patch, attention heads.
    dim : int
        Number of grid axes (1, 2 or 3).
    activation : str
        Activation name.
    patches : int, tuple of int or None
        Patches along each grid axis at the finest level, powers of two (an int: the same along
        every axis). Each coarser level halves the count down to one patch, so a patch spans the
        same number of grid points at every level, as in the original model, while covering the
        same part of the domain at every resolution. Default ``2**depth``: one global patch at
        the coarsest level, the layout of the original's Darcy set-up. ``1``: one global patch
        at every level (no patching). Grids are padded to a multiple of
        ``max(2**depth, *patches)``, so any grid size works.

    Examples
    --------
    >>> import torch
    >>> model = LSM(1, 1, width=8, depth=2, heads=2, patches=(4, 2))
    >>> model(torch.randn(2, 1, 20, 20)).shape
    torch.Size([2, 1, 20, 20])
    >>> [block.patches for block in model.latent_blocks]
    [(4, 2), (2, 1), (1, 1)]
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
        patches: int | Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        check_int("out_channels", out_channels, minimum=1)
        self.depth = check_int("depth", depth, minimum=1)
        self.dim = check_int("dim", dim, minimum=1)
        widths = [check_int("width", width, minimum=1) * 2**level for level in range(depth + 1)]
        self.patches = _check_patches(patches, dim, depth)
        self.lift = ChannelLinear(in_channels + dim, widths[0])
        self.inc = ConvBlock(dim, widths[0], widths[0], activation)
        self.down = nn.ModuleList(
            ConvBlock(dim, widths[i], widths[i + 1], activation) for i in range(depth)
        )
        self.latent_blocks = nn.ModuleList(
            NeuralSpectralBlock(
                w, n_basis, n_tokens, heads, patches=tuple(max(p >> level, 1) for p in self.patches)
            )
            for level, w in enumerate(widths)
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
        x, _ = pad_to_multiple(x, max(2**self.depth, *self.patches))
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
