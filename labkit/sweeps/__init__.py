"""Notebook sweeps: a notebook becomes an experiment, run over a parameter grid on Dask.

Every labkit notebook has a ``parameters`` cell and ``record``s what matters, so it is a function
from parameters to records. :func:`sweep` runs it over a grid (a Cartesian product or a zip of
value lists, repeated if asked), one kernel per run, as tasks on a Dask cluster
(:func:`labkit.cluster.dask_client`), and gathers the records into one table,
``DIR/results.parquet`` and ``DIR/results.csv``. A failed run is recorded with its cell and
message; a second call skips what is recorded; ``labkit.viz.sweep_explorer`` plots the table.

Examples
--------
>>> from labkit.sweeps import expand_grid
>>> len(expand_grid({"n_train": [16, 32, 64], "seed": [0, 1]}))
6
"""

from labkit.sweeps.grid import expand_grid
from labkit.sweeps.runner import sweep
from labkit.sweeps.table import read_table

__all__ = ["expand_grid", "read_table", "sweep"]
