"""labkit.data: a Darcy set made through the store with 1 Dask worker vs in memory.

In memory: ``make_dataset(..., cache_dir=False)`` in this process with one torch thread (the
worker's setting). Through the store: ``make_store`` on a started 1-worker cluster whose worker
has imported labkit (the steady state: what each further set costs), best of ``--repeat``
interleaved runs against the best in-memory run. The whole cold call (``workers=1``: cluster
start, imports in the worker, stop) is timed once too and printed: a fixed cost of a few
seconds that does not grow with the set. Bytes are checked equal. Prints ``ratio: X`` = store
time / in-memory time last (goal <= 1.15 on a quiet machine at 129^2, 256 samples).

Usage: ``python benchmarks/data_store_overhead.py [--smoke] [--n 256] [--resolution 129]``
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import tempfile
import time
from pathlib import Path

import torch
import zarr

from labkit.cluster import dask_client
from labkit.data import make_store
from labkit.pde import make_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--resolution", type=int, default=129)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs (best taken)")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.resolution = 16, 33
    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="labkit-bench-"))
    common = dict(resolution=args.resolution, seed=0)
    try:
        start = time.perf_counter()
        make_store("darcy", args.n, folder / "s", workers=1, progress=False, **common)
        t_cold = time.perf_counter() - start
        t_memory, t_warm = [], []
        with dask_client(workers=1) as client:
            client.run(importlib.import_module, "labkit.data.make")  # imports are not the work
            for i in range(args.repeat):
                start = time.perf_counter()
                memory = make_dataset("darcy", args.n, cache_dir=False, **common)
                t_memory.append(time.perf_counter() - start)
                start = time.perf_counter()
                make_store("darcy", args.n, folder / f"warm{i}", client=client, progress=False,
                           **common)
                t_warm.append(time.perf_counter() - start)
        g = zarr.open_group(str(folder / "s"))
        assert g["inputs"][:].tobytes() == memory.inputs.numpy().tobytes()
        assert g["targets"][:].tobytes() == memory.targets.numpy().tobytes()
    finally:
        shutil.rmtree(folder)
    t_memory, t_warm = min(t_memory), min(t_warm)
    print(f"darcy {args.resolution}^2, {args.n} samples, best of {args.repeat}: in memory "
          f"{t_memory:.2f} s; store on a started 1-worker cluster {t_warm:.2f} s; the whole cold "
          f"call (cluster start and stop, worker imports) {t_cold:.2f} s "
          f"({t_cold / t_memory:.2f} of in memory); same bytes")
    print(f"ratio: {t_warm / t_memory:.3f}")


if __name__ == "__main__":
    main()
