"""numba's threading layer for labkit's parallel kernels (thinning, nearest-seed labels).

numba's default OpenMP layer leaves its worker threads spinning after each parallel loop. The
thinning alternates short parallel collections with sequential removals, so on a small machine
the spinning threads slow the rest of the process (measured 1.5-3x under load on 2 cores).
numba's own ``workqueue`` layer does not spin. It is chosen here only when the user has not
chosen a layer (``NUMBA_THREADING_LAYER``) and no parallel numba code has run yet.
"""

from __future__ import annotations

import numba
from numba.np.ufunc import parallel

__all__ = ["use_quiet_threads"]


def use_quiet_threads() -> str:
    """Pick numba's ``workqueue`` threading layer unless one is chosen or already running.

    Returns the layer numba will use (``"default"`` lets numba pick).
    """
    if numba.config.THREADING_LAYER == "default" and not parallel._is_initialized:
        numba.config.THREADING_LAYER = "workqueue"
    return numba.config.THREADING_LAYER
