"""``labkit.setup()``: the process-wide settings labkit would like, applied only when asked.

Importing labkit changes nothing global (``tests/test_imports.py`` holds it to that). The few
settings that make the lab nicer are applied by the entry points that need them (``labkit lab``
and the notebook runner give their kernels ``BOKEH_RESOURCES=inline``; the explorers call
``labkit.viz.theme.setup``), or, in your own script or notebook, by one call to :func:`setup`.
"""

from __future__ import annotations

import os

__all__ = ["setup"]

BOKEH_RESOURCES = "inline"
"""Bokeh and panel load their JavaScript from the page itself, not from a CDN: offline works."""


def setup(*, bokeh: bool = True, numba: bool = True) -> dict[str, str]:
    """Apply labkit's process-wide settings; a setting the user already made is kept.

    What it changes, in this process (and the processes it starts later):

    - ``bokeh``: sets the environment variable ``BOKEH_RESOURCES=inline`` unless it is set, so
      Bokeh, panel and holoviews output carries its JavaScript and works without a network
      (a classroom behind a firewall, a book read offline).
    - ``numba``: picks numba's ``workqueue`` threading layer through
      :func:`labkit.pores._threads.use_quiet_threads`, unless ``NUMBA_THREADING_LAYER`` chose
      one or parallel numba code already ran. The default OpenMP layer leaves its threads
      spinning between the pore kernels' parallel loops, which slows the rest of the process
      on a small machine.

    Nothing else: no warnings filters, logging handlers, plotting backends or thread counts.

    Parameters
    ----------
    bokeh, numba : bool
        Which of the two settings to apply.

    Returns
    -------
    dict
        Each setting that is now in force, by name (``"BOKEH_RESOURCES"``,
        ``"numba.config.THREADING_LAYER"``), with its value.

    Examples
    --------
    >>> import os, labkit
    >>> applied = labkit.setup(numba=False)
    >>> applied["BOKEH_RESOURCES"] == os.environ["BOKEH_RESOURCES"]
    True
    """
    applied: dict[str, str] = {}
    if bokeh:
        applied["BOKEH_RESOURCES"] = os.environ.setdefault("BOKEH_RESOURCES", BOKEH_RESOURCES)
    if numba:
        from labkit.pores._threads import use_quiet_threads

        applied["numba.config.THREADING_LAYER"] = use_quiet_threads()
    return applied
