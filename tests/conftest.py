"""Shared test settings: small thread pools (2 cores, many tests) and off-screen 3-D."""

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from functools import partial

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")
os.environ.setdefault("BOKEH_RESOURCES", "inline")
os.environ.setdefault("MPLBACKEND", "Agg")
if "LABKIT_CACHE" not in os.environ:  # data-set caches of the tests stay out of $HOME
    import tempfile

    os.environ["LABKIT_CACHE"] = tempfile.mkdtemp(prefix="labkit-test-cache-")


import pytest  # noqa: E402

from labkit.notebooks import NotebookError, run_notebook  # noqa: E402


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    """Run a notebook in smoke mode once per session; later calls reuse the run (or its error).

    ``smoke_runs(path)`` returns the :class:`labkit.notebooks.NotebookRun`;
    ``smoke_runs.out_dir`` holds every executed notebook. ``smoke_runs.prefetch(paths)`` runs
    those not run yet two at a time, each in its own process (papermill changes the working
    folder of its process, so not in threads): on 2 cores, about half the time of one by one.
    """
    out = tmp_path_factory.mktemp("smoke-runs")
    cache: dict[str, object] = {}

    def get(path):
        if path.stem not in cache:
            try:
                cache[path.stem] = run_notebook(path, smoke=True, out_dir=out, timeout=600)
            except NotebookError as exc:
                cache[path.stem] = exc
        result = cache[path.stem]
        if isinstance(result, Exception):
            raise result
        return result

    def prefetch(paths, workers: int = 2) -> None:
        todo = [path for path in paths if path.stem not in cache]
        if not todo:
            return
        run = partial(run_notebook, smoke=True, out_dir=out, timeout=600)
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=context) as pool:
            futures = [(path, pool.submit(run, path)) for path in todo]
            for path, future in futures:
                try:
                    cache[path.stem] = future.result()
                except NotebookError as exc:
                    cache[path.stem] = exc

    get.out_dir = out
    get.prefetch = prefetch
    return get
