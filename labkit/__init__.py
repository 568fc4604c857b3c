"""labkit: a Jupyter-first lab for scientific machine learning.

Four rooms and a door: ``labkit.pde`` (PDE data made on the spot), ``labkit.operators`` and
``labkit.train`` (neural operators and their training loop), ``labkit.landscape`` (Hessian
spectra, loss surfaces, intrinsic dimension), ``labkit.pores`` (3-D pore space) and
``labkit.viz`` (the explorers). Rooms are imported on demand; this module only re-exports what
every notebook needs. Importing labkit changes no global state; :func:`setup` applies the
process-wide settings labkit likes (inline Bokeh assets, numba's quiet threading layer) when
asked. ``docs/ARCHITECTURE.md`` maps the rooms.

Examples
--------
>>> import labkit
>>> labkit.record("answer", 42)
"""

from labkit.environment import setup
from labkit.notebooks import record, run_notebook

__version__ = "0.1.0"
__all__ = ["__version__", "record", "run_notebook", "setup", "sweep"]


def __getattr__(name: str):
    """``labkit.sweep`` is imported on first use (it brings pandas and Dask along)."""
    if name == "sweep":
        from labkit.sweeps import sweep

        return sweep
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")
