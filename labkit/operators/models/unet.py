"""U-Net (Ronneberger et al. 2015), the classic convolutional baseline, in 1-D, 2-D or 3-D.

Unlike the spectral operators, its kernels live on grid points, so it is tied to the
resolution it was trained on; it runs on other grids but does not transfer well.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from labkit._checks import check_int
from labkit.operators.layers.conv import INTERPOLATION, ConvBlock, conv_layer
from labkit.operators.layers.grid import check_field, pad_to_multiple
from labkit.operators.registry import register_model

__all__ = ["UNet"]


@register_model("unet")
class UNet(nn.Module):
    """U-Net with ``depth`` down/up levels, channels doubling per level.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output fields.
    width : int
        Channels at the finest level.
    depth : int
        Number of 2x down-samplings (grids are padded to a multiple of ``2**depth``).
    dim : int
        Number of grid axes (1, 2 or 3).
    activation : str
        Activation name, see :func:`~labkit.operators.layers.make_activation`.

    Examples
    --------
    >>> import torch
    >>> UNet(1, 1, width=8, depth=2)(torch.randn(2, 1, 30, 30)).shape
    torch.Size([2, 1, 30, 30])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 32,
        depth: int = 3,
        dim: int = 2,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        check_int("out_channels", out_channels, minimum=1)
        self.depth = check_int("depth", depth, minimum=1)
        self.dim = check_int("dim", dim, minimum=1)
        widths = [check_int("width", width, minimum=1) * 2**level for level in range(depth + 1)]
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
        x, _ = pad_to_multiple(x, 2**self.depth)
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[self.dim - 1]
        skips = [self.inc(x)]
        for block in self.down:
            skips.append(block(pool(skips[-1], 2)))
        h = skips.pop()
        for block in self.up:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[2:], mode=INTERPOLATION[self.dim])
            h = block(torch.cat([h, skip], dim=1))
        h = self.out(h)
        return h[(slice(None), slice(None), *(slice(0, n) for n in grid))]
