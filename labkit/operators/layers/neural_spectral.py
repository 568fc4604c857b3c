"""The LSM's neural spectral block (Wu et al., ICML 2023, the authors' ``models/LSM_2D.py``).

The features are cut into patches of ``patch_size`` grid points; in each patch attention
projects the points onto a few learned latent tokens, a learned trigonometric series transforms
the tokens, and every point reads its patch's tokens back by attention.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from labkit._checks import check_int
from labkit.operators.layers.channel import ChannelLinear
from labkit.operators.layers.grid import merge_patches, split_patches

__all__ = ["NeuralSpectralBlock"]


class NeuralSpectralBlock(nn.Module):
    """Per patch: attend to ``n_tokens`` latent tokens, apply a sine/cosine series, read back.

    For a patch with points ``x_i`` (``width`` channels) and learned tokens ``w_t``, per head:
    ``w_t <- w_t + sum_i softmax_i(w_t . k_i) v_i`` (keys and values from one pointwise linear
    map, logits unscaled as in the authors' code), then ``w <- w + theta sin(pi w j / m) +
    phi cos(pi w j / m)`` summed over ``j = 0..m-1`` (``m = n_basis``, ``theta, phi`` learned per
    channel), then ``x_i <- x_i + sum_t softmax_t(q_i . w_t) w_t`` with ``q_i`` a pointwise linear
    map of ``x_i``.

    Parameters
    ----------
    width : int
        Channels ``C`` of the field.
    n_basis, n_tokens, heads : int
        Size ``m`` of the trigonometric series, latent tokens per patch, attention heads (the
        authors: 12, 4, 8).
    patch_size : int or tuple of int
        Grid points per patch along each axis (an int: the same on every axis); it must divide
        the grid. A patch as large as the grid makes one global patch.

    Examples
    --------
    >>> import torch
    >>> block = NeuralSpectralBlock(16, n_basis=4, n_tokens=3, heads=2, patch_size=(4, 2))
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
        heads: int = 8,
        patch_size: int | Sequence[int] = 3,
    ) -> None:
        super().__init__()
        width = check_int("width", width, minimum=1)
        n_basis = check_int("n_basis", n_basis, minimum=1)
        n_tokens = check_int("n_tokens", n_tokens, minimum=1)
        self.heads = check_int("heads", heads, minimum=1)
        if width % heads:
            raise ValueError(f"width must be divisible by heads={heads}, got {width}")
        if isinstance(patch_size, Sequence):
            self.patch_size = tuple(check_int("patch_size", p, minimum=1) for p in patch_size)
        else:
            self.patch_size = check_int("patch_size", patch_size, minimum=1)
        self.head_dim = width // heads
        self.tokens = nn.Parameter(torch.rand(heads, n_tokens, self.head_dim) / width)
        self.key_value = ChannelLinear(width, 2 * width)
        self.query = ChannelLinear(width, width)
        frequencies = torch.arange(n_basis, dtype=torch.float32) / n_basis
        self.register_buffer("frequencies", frequencies, persistent=False)
        self.series = nn.Parameter(torch.rand(width, 2 * n_basis) / width)

    def extra_repr(self) -> str:
        return f"patch_size={self.patch_size}, heads={self.heads}"

    def _counts(self, x: torch.Tensor) -> tuple[int, ...]:
        grid = tuple(x.shape[2:])
        sizes = (
            self.patch_size if isinstance(self.patch_size, tuple)
            else (self.patch_size,) * len(grid)
        )
        if len(sizes) != len(grid) or any(n % p for n, p in zip(grid, sizes, strict=True)):
            raise ValueError(
                f"patch_size={self.patch_size} must divide the grid {grid} along every axis "
                f"(one size per axis); pad the grid to a multiple of it"
            )
        return tuple(n // p for n, p in zip(grid, sizes, strict=True))

    def _encode(self, kv: torch.Tensor) -> torch.Tensor:
        """Latent tokens ``[N, width, n_tokens]`` from keys and values ``[N, 2 width, *patch]``."""
        n = kv.shape[0]
        heads, d = self.heads, self.head_dim
        keys, values = kv.flatten(2).unflatten(1, (2, heads, d)).unbind(1)
        # scores [heads, tokens, n, points]: one product per head over every patch at once
        scores = torch.bmm(self.tokens, keys.permute(1, 2, 0, 3).reshape(heads, d, -1))
        attn = torch.softmax(scores.unflatten(2, (n, -1)), dim=-1).permute(2, 0, 1, 3)
        # [n, heads, tokens, d]: tiny per-patch products as one broadcast sum (faster on CPU)
        z = self.tokens + (attn[:, :, :, None, :] * values[:, :, None, :, :]).sum(-1)
        z = z.transpose(-1, -2).reshape(n, heads * d, -1)
        phase = math.pi * z[..., None] * self.frequencies
        basis = torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1)
        return z + torch.einsum("bcnk,ck->bcn", basis, self.series)

    def _decode(self, x: torch.Tensor, queries: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        n, tokens = x.shape[0], z.shape[-1]
        queries = queries.flatten(2).unflatten(1, (self.heads, self.head_dim))
        latent = z.reshape(n, self.heads, self.head_dim, 1, tokens).unbind(-1)
        # few tokens: one [n, heads, points] slab per token, softmax across the slabs
        scores = torch.stack([(queries * t).sum(2) for t in latent])
        attn = torch.softmax(scores, dim=0)
        out = sum(a[:, :, None] * t for a, t in zip(attn, latent, strict=True))
        return x + out.reshape(x.shape)

    def latent_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Latent tokens of every patch after the spectral series: ``[B, *patches, C, tokens]``."""
        counts = self._counts(x)
        z = self._encode(split_patches(self.key_value(x), counts))
        return z.reshape(x.shape[0], *counts, *z.shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = self._counts(x)
        # the pointwise maps act on the whole field once, not on thousands of small patches
        kv, queries = self.key_value(x), self.query(x)
        if math.prod(counts) == 1:
            return self._decode(x, queries, self._encode(kv))
        x, kv, queries = (split_patches(t, counts) for t in (x, kv, queries))
        return merge_patches(self._decode(x, queries, self._encode(kv)), counts)
