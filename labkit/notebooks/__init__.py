"""Notebooks as regression tests: record values in a notebook, find it, run it with papermill.

Four modules, one job each:

- :mod:`labkit.notebooks.recording`: :func:`record` a value inside a notebook, read the records
  of an executed notebook back (:func:`read_records`) and hold them to the checks it declares
  in ``metadata["labkit"]["checks"]`` (:func:`check_records`).
- :mod:`labkit.notebooks.finding`: where the lab's notebooks are (:func:`notebook_dir`,
  :func:`find_notebook`) and what they declare (:func:`declared_parameters`,
  :func:`notebook_info`).
- :mod:`labkit.notebooks.running`: :func:`run_notebook` executes one with papermill, writes
  ``NAME.ipynb`` and ``NAME.results.json`` and returns a :class:`NotebookRun` whose
  ``failures`` list the checks its records do not pass.
- :mod:`labkit.notebooks.engine`: the papermill engine it runs them with (nbclient's, without
  the Output-widget echo that could hang a run).

Examples
--------
Outside a kernel ``record`` keeps the value in memory:

>>> from labkit.notebooks import record, recorded
>>> record("answer", 42)
>>> recorded()["answer"]
42
>>> check_records({"err": 3e-7}, {"err": {"max": 1e-6}})
[]
>>> check_records({"err": 3e-5}, {"err": {"max": 1e-6}})
['err = 3e-05 is above the maximum 1e-06']
"""

from labkit.notebooks.finding import (
    COPY_MANIFEST,
    NotebookError,
    declared_parameters,
    find_notebook,
    list_notebooks,
    notebook_dir,
    notebook_info,
    packaged_lab,
    parse_parameter,
    read_notebook,
)
from labkit.notebooks.recording import (
    MIMETYPE,
    check_records,
    read_records,
    record,
    recorded,
)
from labkit.notebooks.running import (
    NotebookExecutionError,
    NotebookRun,
    check_outputs,
    check_run_parameters,
    kernel_environment,
    run_notebook,
)

__all__ = [
    "COPY_MANIFEST",
    "MIMETYPE",
    "NotebookError",
    "NotebookExecutionError",
    "NotebookRun",
    "check_outputs",
    "check_records",
    "check_run_parameters",
    "declared_parameters",
    "find_notebook",
    "kernel_environment",
    "list_notebooks",
    "notebook_dir",
    "notebook_info",
    "packaged_lab",
    "parse_parameter",
    "read_notebook",
    "read_records",
    "record",
    "recorded",
    "run_notebook",
]
