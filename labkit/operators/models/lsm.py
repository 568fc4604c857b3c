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

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from labkit._checks import check_choice, check_int
from labkit.operators.layers.activations import make_activation
from labkit.operators.layers.channel import ChannelLinear
from labkit.operators.layers.conv import NORMS, DoubleConv, conv_layer, unet_pass, unet_widths
from labkit.operators.layers.grid import check_field, grid_coordinates
from labkit.operators.layers.neural_spectral import NeuralSpectralBlock
from labkit.operators.registry import register_model

__all__ = ["LSM", "lsm_widths"]


def _per_axis(name: str, value: int | Sequence[int], dim: int, minimum: int) -> tuple[int, ...]:
    """``value`` as one int per grid axis (an int is repeated)."""
    values = tuple(value) if isinstance(value, Sequence) else (value,) * dim
    if len(values) != dim:
        raise ValueError(f"{name} must be an int or have one entry per grid axis ({dim}), "
                         f"got {value!r}")
    return tuple(check_int(name, v, minimum=minimum) for v in values)


def lsm_widths(width: int, depth: int) -> list[int]:
    """Channels of the encoder levels ``0..depth``: the bilinear U-Net's ``unet_widths``.

    Examples
    --------
    >>> lsm_widths(32, 4)
    [32, 64, 128, 256, 256]
    """
    return unet_widths(width, depth)


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
        ``"batch"`` (the authors' BatchNorm), ``"group"`` (GroupNorm with 4 groups, which does
        not depend on the batch) or ``"instance"`` (InstanceNorm with affine weights).
    endpoints : bool
        Coordinates ``i / (n - 1)`` (``True``, the authors' ``linspace(0, 1, n)``) or periodic
        ``i / n``.

    Notes
    -----
    Paper symbols: the parts of the paper's model (Wu et al. 2023, section 3), the names its
    code gives them (``LSM2d`` and ``NeuralSpectralBlock2d`` of ``models/LSM_2D.py``) and the
    arguments and attributes here. In a neural spectral block the latent tokens ``T``
    (the code's ``latent``) attend to the patch, ``T <- T + softmax(T k^T) v``, the transition
    is ``T <- T + w [sin(pi T j / K), cos(pi T j / K)]`` over ``j = 0..K-1`` (``weights``,
    ``modes_list``), and the points read the tokens back, ``x <- x + softmax(q T^T) T``.

    ==============================  =========================  ===============================
    paper                           authors' code              here
    ==============================  =========================  ===============================
    input ``a``, output ``u``       ``in_channels``,           ``in_channels``,
                                    ``out_channels``           ``out_channels``
    embedding of ``a`` and the      ``fc0`` (one ``Linear``)   ``lift``
    coordinates
    channels of the deep features   ``width`` (``d_model``     ``width``, then ``lsm_widths``
                                    in the scripts)
    hierarchical projection         ``inc``, ``down1..4``,     ``inc``, ``down``, ``up``
    network (scales)                ``up1..4`` (4 fixed)       (``depth`` down-samplings)
    patches of each scale           ``patch_size``             ``patch_size``
    latent tokens ``T``             ``latent``, ``num_token``  ``latent_blocks[l].tokens``,
                                    per head                   ``n_tokens``
    basis operators (sin, cos),     ``weights``,               ``latent_blocks[l].series``,
    their number ``K``              ``num_basis``              ``n_basis``
    attention heads                 ``head = 8`` (fixed)       ``heads``
    keys/values, queries            ``encoder_attn``,          ``key_value``, ``query``
                                    ``decoder_attn``
    output projection               ``outc``, ``fc1``, GELU,   ``out_conv``, ``head``
                                    ``fc2`` (128 hidden)       (``head_width``)
    ==============================  =========================  ===============================

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
        self.dim = check_int("dim", dim, minimum=1, maximum=3)
        check_choice("norm", norm, NORMS)
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
        h = unet_pass(x, self.inc, self.down, self.up, self.latent_blocks)
        h = self.out_conv(h)
        h = h[(slice(None), slice(None), *(slice(0, n) for n in grid))]
        return self.head(h)
