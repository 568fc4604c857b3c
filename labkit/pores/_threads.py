"""numba's threading layer for labkit's parallel kernels (thinning, nearest-seed labels).

numba's default OpenMP layer leaves its worker threads spinning after each parallel loop. The
thinning alternates short parallel collections with sequential removals, so on a small machine
the spinning threads slow the rest of the process (measured 1.5-3x under load on 2 cores).
numba's own ``workqueue`` layer does not spin.

Nothing happens at import. The public functions that run parallel kernels
(:func:`labkit.pores.thin`, :func:`labkit.pores.nearest.nearest_seed_labels`, the subfield
thinning of the chunked route) call :func:`use_quiet_threads` first, so the first parallel
pores call picks numba's ``workqueue`` layer unless you chose one (``NUMBA_THREADING_LAYER``
or ``numba.config.THREADING_LAYER``) or parallel numba code has already run in the process.
Call it yourself (or ``labkit.setup()``) to make the choice before any other numba code runs.
"""

from __future__ import annotations

import numba

__all__ = ["use_quiet_threads"]


def _layer_started() -> bool:
    """Whether numba has started its threading layer (it cannot be switched afterwards)."""
    try:
        numba.threading_layer()  # raises ValueError until the first parallel launch
    except ValueError:
        return False
    return True


def use_quiet_threads() -> str:
    """Pick numba's ``workqueue`` threading layer unless one is chosen or already running.

    Returns the layer numba will use (``"default"`` lets numba pick). Cheap: call it at the
    start of every function that runs a parallel kernel.
    """
    if numba.config.THREADING_LAYER == "default" and not _layer_started():
        numba.config.THREADING_LAYER = "workqueue"
    return numba.config.THREADING_LAYER
