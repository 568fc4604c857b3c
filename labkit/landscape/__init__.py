"""Look inside the optimisation problem: Hessian spectra, loss surfaces, intrinsic dimension.

Everything works on a *loss closure* ``loss_fn(params) -> scalar tensor`` over a dict of
named parameters; :func:`loss_closure` builds one from a model, a loss and a batch or loader.
"""

from .closure import LossClosure, loss_closure, restrict
from .directions import (
    PCADirections,
    filter_normalize,
    interpolation_direction,
    pca_directions,
    random_direction,
)
from .fastfood import (
    DenseProjection,
    FastfoodProjection,
    SparseProjection,
    fastfood_projection,
    fwht,
    make_projection,
)
from .hvp import HessianOperator, HVPModeTiming, hvp, hvp_batch, select_hvp_mode
from .intrinsic import (
    IntrinsicDimensionResult,
    SubspaceModel,
    SubspaceTask,
    accuracy,
    intrinsic_dimension,
    relative_l2_score,
)
from .spectrum import (
    BlockSpectra,
    DensityResult,
    EigenResult,
    TraceResult,
    block_spectra,
    hessian_trace,
    parameter_blocks,
    spectral_density,
    top_eigenvalues,
)
from .surface import SurfaceResult, loss_surface

__all__ = [
    "BlockSpectra",
    "DenseProjection",
    "DensityResult",
    "EigenResult",
    "FastfoodProjection",
    "HVPModeTiming",
    "HessianOperator",
    "IntrinsicDimensionResult",
    "LossClosure",
    "PCADirections",
    "SparseProjection",
    "SubspaceModel",
    "SubspaceTask",
    "SurfaceResult",
    "TraceResult",
    "accuracy",
    "block_spectra",
    "fastfood_projection",
    "filter_normalize",
    "fwht",
    "hessian_trace",
    "hvp",
    "hvp_batch",
    "interpolation_direction",
    "intrinsic_dimension",
    "loss_closure",
    "loss_surface",
    "make_projection",
    "parameter_blocks",
    "pca_directions",
    "random_direction",
    "relative_l2_score",
    "restrict",
    "select_hvp_mode",
    "spectral_density",
    "top_eigenvalues",
]
