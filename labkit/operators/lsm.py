"""Latent Spectral Models (Wu et al., ICML 2023), as in the authors' ``models/LSM_2D.py``.

A U-Net of convolutions whose skip connections pass through *neural spectral blocks*: the
features at every scale are cut into patches of ``patch_size`` grid points, each patch is
projected by attention onto a few learned latent tokens, the tokens are transformed by a learned
trigonometric series, and every point of the patch reads its patch's tokens back by attention.
The patches have the same number of points at every level, so the latent solve is local at the
fine scales and global at the coarsest.

With its authors' hyper-parameters the model is theirs block for block (docs/ZOO.md lists the
remaining differences); it also runs in 1-D and 3-D.
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
from labkit.operators.unet import _INTERPOLATION, conv_layer

__all__ = [
    "LSM",
    "DoubleConv",
    "NeuralSpectralBlock",
    "lsm_widths",
    "merge_patches",
    "split_patches",
]

_NORMS = ("batch", "group")


def _per_axis(name: str, value: int | Sequence[int], dim: int, minimum: int) -> tuple[int, ...]:
    """``value`` as one int per grid axis (an int is repeated)."""
    values = tuple(value) if isinstance(value, Sequence) else (value,) * dim
    if len(values) != dim:
        raise ValueError(f"{name} must be an int or have one entry per grid axis ({dim}), "
                         f"got {value!r}")
    return tuple(check_int(name, v, minimum=minimum) for v in values)


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


def _norm(kind: str, dim: int, channels: int) -> nn.Module:
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
            _norm(norm, dim, mid),
            make_activation(activation),
            conv_layer(dim, mid, out_channels, bias=False),
            _norm(norm, dim, out_channels),
            make_activation(activation),
        )


def lsm_widths(width: int, depth: int) -> list[int]:
    """Channels of the encoder levels ``0..depth``: ``w 2^l``, the coarsest level as the one above.

    This is the authors' bilinear U-Net (``width * 16 // factor`` at the bottom, ``factor = 2``).

    Examples
    --------
    >>> lsm_widths(32, 4)
    [32, 64, 128, 256, 256]
    """
    return [width * 2 ** min(level, depth - 1) for level in range(depth + 1)]


@register_model(
    "lsm",
    removed={
        "patches": "the LSM now follows its authors' code (issue 17): patches are set by "
        "patch_size (grid points per patch, as the authors' patch_size), and the channel "
        "widths, normalisation and head changed; a checkpoint saved with 'patches' holds the "
        "old architecture's weights and must be retrained",
    },
)
class LSM(nn.Module):
    """Latent Spectral Model: a U-Net whose skips pass through :class:`NeuralSpectralBlock`.

    The lifted field (``P``: one linear map of the input and the coordinates) goes down
    ``depth`` levels (2x max-pooling, then a :class:`DoubleConv`), every level's features pass
    through a neural spectral block, and the decoder goes back up (2x linear upsampling with
    aligned corners, zero padding to the skip's size, concatenation, a :class:`DoubleConv`),
    then a pointwise convolution and the projection ``Q`` (two linear maps, ``head_activation``
    between). With ``width=32, depth=4, n_basis=12, n_tokens=4, heads=8, patch_size=3`` and the
    other defaults this is the authors' ``LSM_2D.py`` (4,812,801 parameters for one input and
    one output channel); their Darcy script uses ``d_model=64`` (``width``) and
    ``patch_size=6``.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output fields.
    width : int
        ``d_model``: channels at the finest level (``w, 2w, 4w, ...``, the coarsest level as
        the one above it, see :func:`lsm_widths`).
    depth : int
        Number of 2x down-samplings (the authors: 4).
    n_basis : int
        ``num_basis``, the terms of the trigonometric series in every block.
    n_tokens : int
        ``num_token``, latent tokens per patch.
    heads : int
        Attention heads (the authors fix 8).
    dim : int
        Number of grid axes (1, 2 or 3).
    activation : str
        Activation of the convolutions (the authors: ReLU).
    head_activation : str
        Activation between the two maps of ``Q`` (the authors: GELU).
    patch_size : int or tuple of int
        Grid points per patch along each axis, the same at every level (the authors' Darcy
        set-up: 3, one global patch at the coarsest level). Every level's grid must be a
        multiple of it.
    padding : int, tuple of int or None
        Zeros appended at the end of each grid axis after the lift (the authors' ``padding``,
        per axis in grid order), cropped before ``Q``. ``None`` (default): the fewest that make
        every axis a multiple of ``patch_size * 2**depth``, which is the authors' choice for
        their set-ups (5 on a 43-point Darcy grid, 11 on 85 points).
    head_width : int
        Hidden channels of ``Q`` (the authors: 128).
    norm : str
        ``"batch"`` (the authors' BatchNorm) or ``"group"`` (GroupNorm with 4 groups, which does
        not depend on the batch).
    endpoints : bool
        Coordinates ``i / (n - 1)`` (``True``, the authors' ``linspace(0, 1, n)``) or periodic
        ``i / n``.

    Examples
    --------
    >>> import torch
    >>> model = LSM(1, 1, width=8, depth=2, heads=2, patch_size=(3, 2))
    >>> model(torch.randn(2, 1, 11, 14)).shape  # padded to 12 x 16: levels 12x16, 6x8, 3x4
    torch.Size([2, 1, 11, 14])
    >>> model.pads((11, 14))
    (1, 2)
    >>> [block.patch_size for block in model.latent_blocks]
    [(3, 2), (3, 2), (3, 2)]
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 32,
        depth: int = 4,
        n_basis: int = 12,
        n_tokens: int = 4,
        heads: int = 8,
        dim: int = 2,
        activation: str = "relu",
        head_activation: str = "gelu",
        patch_size: int | Sequence[int] = 3,
        padding: int | Sequence[int] | None = None,
        head_width: int = 128,
        norm: str = "batch",
        endpoints: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        check_int("out_channels", out_channels, minimum=1)
        self.depth = check_int("depth", depth, minimum=1)
        self.dim = check_int("dim", dim, minimum=1)
        if dim > 3:
            raise ValueError(f"dim must be 1, 2 or 3, got {dim}")
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
        self.patch_size = _per_axis("patch_size", patch_size, dim, 1)
        self.padding = None if padding is None else _per_axis("padding", padding, dim, 0)
        self.endpoints = bool(endpoints)
        widths = lsm_widths(check_int("width", width, minimum=1), depth)
        head_width = check_int("head_width", head_width, minimum=1)
        self.lift = ChannelLinear(in_channels + dim, widths[0])
        self.inc = DoubleConv(dim, widths[0], widths[0], activation=activation, norm=norm)
        self.down = nn.ModuleList(
            DoubleConv(dim, widths[i], widths[i + 1], activation=activation, norm=norm)
            for i in range(depth)
        )
        self.latent_blocks = nn.ModuleList(
            NeuralSpectralBlock(w, n_basis, n_tokens, heads, patch_size=self.patch_size)
            for w in widths
        )
        self.up = nn.ModuleList(
            DoubleConv(dim, 2 * widths[i], widths[max(i - 1, 0)], mid=widths[i],
                       activation=activation, norm=norm)
            for i in reversed(range(depth))
        )
        self.out_conv = conv_layer(dim, widths[0], widths[0], kernel_size=1)
        self.head = nn.Sequential(
            ChannelLinear(widths[0], head_width),
            make_activation(head_activation),
            ChannelLinear(head_width, out_channels),
        )

    def level_shapes(self, grid: Sequence[int]) -> list[tuple[int, ...]]:
        """Grid of every level ``0..depth`` for an input grid (after the padding).

        Examples
        --------
        >>> LSM(1, 1, width=8, depth=4).level_shapes((43, 43))
        [(48, 48), (24, 24), (12, 12), (6, 6), (3, 3)]
        """
        shape = tuple(n + p for n, p in zip(grid, self.pads(grid), strict=True))
        shapes = [shape]
        for _ in range(self.depth):
            shapes.append(tuple(n // 2 for n in shapes[-1]))
        return shapes

    def pads(self, grid: Sequence[int]) -> tuple[int, ...]:
        """Zeros appended per axis to a grid: ``padding``, or the fewest that fit (``None``).

        Examples
        --------
        >>> LSM(1, 1, width=8).pads((85, 43))
        (11, 5)
        """
        if self.padding is not None:
            return self.padding
        multiples = [p * 2**self.depth for p in self.patch_size]
        return tuple(-n % m for n, m in zip(grid, multiples, strict=True))

    def check_grid(self, grid: Sequence[int]) -> None:
        """Raise ``ValueError`` unless every level's grid is a multiple of ``patch_size``."""
        for level, shape in enumerate(self.level_shapes(grid)):
            if any(n < 1 or n % p for n, p in zip(shape, self.patch_size, strict=True)):
                raise ValueError(
                    f"x grid {tuple(grid)} with padding {self.pads(grid)} gives level {level} a "
                    f"{shape} grid, not a multiple of patch_size {self.patch_size}; choose "
                    f"padding so that grid + padding is patch_size * 2**{self.depth} per axis "
                    f"(padding=None does)"
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field("x", x, self.dim, self.in_channels)
        grid = tuple(x.shape[2:])
        self.check_grid(grid)
        pads = self.pads(grid)
        x = self.lift(torch.cat([x, grid_coordinates(x, self.endpoints)], dim=1))
        if any(pads):
            x = F.pad(x, [v for p in reversed(pads) for v in (0, p)])
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[self.dim - 1]
        features = [self.inc(x)]
        for block in self.down:
            features.append(block(pool(features[-1], 2)))
        features = [block(f) for block, f in zip(self.latent_blocks, features, strict=True)]
        h = features.pop()
        for block in self.up:
            skip = features.pop()
            h = F.interpolate(h, scale_factor=2, mode=_INTERPOLATION[self.dim],
                              align_corners=True)
            gaps = [s - n for s, n in zip(skip.shape[2:], h.shape[2:], strict=True)]
            h = F.pad(h, [v for g in reversed(gaps) for v in (g // 2, g - g // 2)])
            h = block(torch.cat([skip, h], dim=1))
        h = self.out_conv(h)
        h = h[(slice(None), slice(None), *(slice(0, n) for n in grid))]
        return self.head(h)
