"""Building blocks of the operator models, shared by them; no model lives here.

- :mod:`~labkit.operators.layers.spectral`: ``SpectralConv`` (Fourier-space convolution).
- :mod:`~labkit.operators.layers.channel`: ``ChannelLinear``, ``ChannelMLP`` (pointwise maps).
- :mod:`~labkit.operators.layers.grid`: field checks, coordinates, padding, patches.
- :mod:`~labkit.operators.layers.conv`: ``conv_layer``, ``ConvBlock``, ``DoubleConv``.
- :mod:`~labkit.operators.layers.neural_spectral`: the LSM's ``NeuralSpectralBlock``.
- :mod:`~labkit.operators.layers.multigrid`: MgNO's ``VCycle``.
- :mod:`~labkit.operators.layers.activations`: activations by name, PolyCom.

Examples
--------
>>> import torch
>>> from labkit.operators.layers import ChannelLinear, SpectralConv
>>> x = torch.randn(2, 3, 16, 16)
>>> (SpectralConv(3, 3, (4, 4))(x) + ChannelLinear(3, 3)(x)).shape  # one Fourier layer
torch.Size([2, 3, 16, 16])
"""

from labkit.operators.layers.activations import (
    ACTIVATIONS,
    PolyNorm,
    PolyReLU,
    make_activation,
)
from labkit.operators.layers.channel import ChannelLinear, ChannelMLP
from labkit.operators.layers.conv import INTERPOLATION, ConvBlock, DoubleConv, conv_layer, make_norm
from labkit.operators.layers.grid import (
    check_field,
    crop_grid,
    grid_coordinates,
    merge_patches,
    pad_grid,
    pad_to_multiple,
    split_patches,
)
from labkit.operators.layers.multigrid import VCycle
from labkit.operators.layers.neural_spectral import NeuralSpectralBlock
from labkit.operators.layers.spectral import SpectralConv, as_modes

__all__ = [
    "ACTIVATIONS",
    "INTERPOLATION",
    "ChannelLinear",
    "ChannelMLP",
    "ConvBlock",
    "DoubleConv",
    "NeuralSpectralBlock",
    "PolyNorm",
    "PolyReLU",
    "SpectralConv",
    "VCycle",
    "as_modes",
    "check_field",
    "conv_layer",
    "crop_grid",
    "grid_coordinates",
    "make_activation",
    "make_norm",
    "merge_patches",
    "pad_grid",
    "pad_to_multiple",
    "split_patches",
]
