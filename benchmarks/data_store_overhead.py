"""labkit.data: a Darcy set made through the store with 1 Dask worker vs in memory.

In memory: ``make_dataset(..., cache_dir=False)`` in this process with one torch thread (the
worker's setting). Through the store: ``make_store(..., workers=1)``, the whole call, local
cluster start and stop included (what a user waits for); the time without the cluster start
is printed too. Bytes are checked equal. Prints ``ratio: X`` = store time / in-memory time last
(goal <= 1.15 on a quiet machine at 129^2, 256 samples).

Usage: ``python benchmarks/data_store_overhead.py [--smoke] [--n 256] [--resolution 129]``
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args()
    if args.smoke:
        args.n, args.resolution = 16, 33
    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="labkit-bench-"))
    common = dict(resolution=args.resolution, seed=0)
    try:
        start = time.perf_counter()
        memory = make_dataset("darcy", args.n, cache_dir=False, **common)
        t_memory = time.perf_counter() - start
        start = time.perf_counter()
        make_store("darcy", args.n, folder / "s", workers=1, progress=False, **common)
        t_store = time.perf_counter() - start
        with dask_client(workers=1) as client:
            start = time.perf_counter()
            make_store("darcy", args.n, folder / "warm", client=client, progress=False, **common)
            t_warm = time.perf_counter() - start
        g = zarr.open_group(str(folder / "s"))
        assert g["inputs"][:].tobytes() == memory.inputs.numpy().tobytes()
        assert g["targets"][:].tobytes() == memory.targets.numpy().tobytes()
    finally:
        shutil.rmtree(folder)
    print(f"darcy {args.resolution}^2, {args.n} samples: in memory {t_memory:.2f} s; store with "
          f"1 worker {t_store:.2f} s (cluster start included), {t_warm:.2f} s on a started "
          "cluster; same bytes")
    print(f"ratio: {t_store / t_memory:.3f}")


if __name__ == "__main__":
    main()
