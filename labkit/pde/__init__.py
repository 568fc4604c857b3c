"""PDE data made on the spot: random fields, Darcy, Burgers, Navier-Stokes and cached datasets.

Examples
--------
>>> from labkit import pde
>>> pde.gaussian_random_field((16, 16), alpha=2.0, tau=3.0, batch=2, seed=0).shape
torch.Size([2, 16, 16])
"""

from labkit.pde import burgers, darcy, krylov, navier_stokes
from labkit.pde.datasets import PDEDataset, make_dataset
from labkit.pde.fields import (
    darcy_coefficient,
    gaussian_random_field,
    neumann_random_field,
)

__all__ = [
    "PDEDataset",
    "burgers",
    "darcy",
    "darcy_coefficient",
    "gaussian_random_field",
    "krylov",
    "make_dataset",
    "navier_stokes",
    "neumann_random_field",
]
