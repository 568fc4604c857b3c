"""The operator models, one per module; each is registered by name (see ``registry``).

Every model imports only :mod:`labkit.operators.layers` and the registry.

Examples
--------
>>> from labkit.operators.models import FNO, LSM, MgNO, SpatioTemporalFNO, UNet
>>> FNO.__module__
'labkit.operators.models.fno'
"""

from labkit.operators.models.fno import FNO
from labkit.operators.models.lsm import LSM
from labkit.operators.models.mgno import MgNO
from labkit.operators.models.sfno import SpatioTemporalFNO, full_modes, spectral_refiner
from labkit.operators.models.unet import UNet

__all__ = ["FNO", "LSM", "MgNO", "SpatioTemporalFNO", "UNet", "full_modes", "spectral_refiner"]
