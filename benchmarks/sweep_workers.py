"""Notebook sweeps: wall time on 2 Dask workers against 1, and the sweep machinery's overhead.

``--runs`` smoke runs of a notebook (default 8 of ``00_tour``, made distinct with ``repeat``):

- bare: ``run_notebook`` called that many times one after another in this process (the peer:
  a shell loop over ``labkit run``, without its start-up);
- ``labkit.sweep`` on a local cluster of 1 worker process, then of 2, each started and stopped
  inside the timed call, each into a fresh folder.

The overhead per run is (1-worker sweep − bare) / runs: cluster start-up and shutdown, the first
import of papermill on the worker, task submission, the table written after each run. The
start-up part is also timed on its own (a 1-worker cluster started, papermill imported on its
worker, stopped), and what is left per run is printed as the marginal overhead. Goal: under 1 s.
The last line is
``ratio: 2-worker time / 1-worker time`` (goal ≤ 0.6 on a quiet 2-core machine).

Run: ``python benchmarks/sweep_workers.py [--notebook 00_tour] [--runs 8]`` (``--smoke``: 2 runs
of a three-cell notebook written to a temporary folder, to check the script).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")
os.environ.setdefault("MPLBACKEND", "Agg")


def _tiny_notebook(folder: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# tiny"),
        nbformat.v4.new_code_cell("smoke = False\nn = 3", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("from labkit import record\nrecord('total', sum(range(n)))"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    path = folder / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebook", default="00_tour")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help="2 runs: a seconds-long check")
    args = parser.parse_args()
    if args.smoke:
        args.runs = 2

    import papermill  # noqa: F401  (imported before timing, as a sweep's workers have it)

    from labkit.notebooks import find_notebook, run_notebook
    from labkit.sweeps import sweep

    with tempfile.TemporaryDirectory(prefix="labkit-sweep-bench-") as tmp:
        tmp = Path(tmp)
        path = _tiny_notebook(tmp) if args.smoke else find_notebook(args.notebook)
        start = time.perf_counter()
        bare_runs = [
            run_notebook(path, smoke=True, out_dir=tmp / "bare" / str(i)).seconds
            for i in range(args.runs)
        ]
        bare = time.perf_counter() - start
        from labkit.cluster import dask_client

        start = time.perf_counter()
        with dask_client(workers=1) as client:
            client.run(__import__, "papermill")
        startup = time.perf_counter() - start
        times = {}
        for workers in (1, 2):
            start = time.perf_counter()
            table = sweep(path, {}, out=tmp / f"sweep-{workers}", repeat=args.runs, smoke=True,
                          workers=workers, progress=False)  # fmt: skip
            times[workers] = time.perf_counter() - start
            assert len(table) == args.runs and set(table["status"]) == {"ok"}, table["error"]
    overhead = (times[1] - bare) / args.runs
    print(f"{path.stem}, {args.runs} smoke runs, {os.cpu_count()} CPUs")
    print(f"bare run_notebook one after another: {bare:.1f} s "
          f"({sum(bare_runs) / len(bare_runs):.2f} s per run inside papermill)")  # fmt: skip
    print(f"labkit.sweep, 1 worker: {times[1]:.1f} s; 2 workers: {times[2]:.1f} s")
    print(f"sweep overhead per run (1 worker vs bare): {overhead:.2f} s (goal < 1 s); "
          f"start-up and stop of a 1-worker cluster {startup:.1f} s, leaving "
          f"{(times[1] - bare - startup) / args.runs:.2f} s per run")  # fmt: skip
    print(f"ratio: {times[2] / times[1]:.3f}")


if __name__ == "__main__":
    main()
