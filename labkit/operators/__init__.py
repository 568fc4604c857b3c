"""Neural operators: FNO, spatio-temporal FNO, LSM, MgNO, U-Net, and PolyCom activations.

Every model is channels-first (``[B, C, *grid] -> [B, C_out, *grid]``), takes
``activation=`` by name, and is registered: ``build_model(name, **kwargs)`` builds it and a
checkpoint records the name and arguments to rebuild it.

The package holds ``layers`` (the shared blocks: spectral, channel, grid, conv, ...), ``models``
(one model per module, built from layers only) and ``registry``, as neuraloperator does.

Examples
--------
>>> import torch
>>> from labkit.operators import FNO, list_models
>>> list_models()
['fno', 'lsm', 'mgno', 'sfno', 'unet']
>>> FNO(1, 1, modes=(8,), width=8)(torch.randn(3, 1, 64)).shape
torch.Size([3, 1, 64])
"""

from labkit.operators.layers import ACTIVATIONS, PolyNorm, PolyReLU, SpectralConv, make_activation
from labkit.operators.models import (
    FNO,
    LSM,
    MgNO,
    SpatioTemporalFNO,
    UNet,
    full_modes,
    spectral_refiner,
)
from labkit.operators.registry import build_model, list_models, model_spec, register_model

__all__ = [
    "ACTIVATIONS",
    "FNO",
    "LSM",
    "MgNO",
    "PolyNorm",
    "PolyReLU",
    "SpatioTemporalFNO",
    "SpectralConv",
    "UNet",
    "build_model",
    "full_modes",
    "list_models",
    "make_activation",
    "model_spec",
    "register_model",
    "spectral_refiner",
]
