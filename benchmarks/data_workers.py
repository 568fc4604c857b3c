"""labkit.data: making a Darcy store with 2 Dask workers vs 1 worker (same machine, same store).

Best of ``--repeat`` interleaved runs. Both clusters are started, and their workers have
imported labkit, before timing
(``labkit.cluster.dask_client(workers=k)``); the timed part is ``make_store`` from submission
to the last recorded checksum. The two stores must hold the same bytes (checked).
Prints ``ratio: X`` = 2-worker time / 1-worker time last (goal <= 0.6 on a quiet 2-core
machine at 129^2, 256 samples).

Usage: ``python benchmarks/data_workers.py [--smoke] [--n 256] [--resolution 129]``
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import tempfile
import time
from pathlib import Path

import zarr

from labkit.cluster import dask_client
from labkit.data import make_store


def timed_make(workers: int, store: Path, args) -> float:
    with dask_client(workers=workers) as client:
        client.run(importlib.import_module, "labkit.data.make")  # imports are not the work
        start = time.perf_counter()
        make_store("darcy", args.n, store, resolution=args.resolution, seed=0, client=client,
                   shard_size=args.shard_size, progress=False)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--resolution", type=int, default=129)
    parser.add_argument("--shard-size", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs (best taken)")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.resolution = 16, 33
    folder = Path(tempfile.mkdtemp(prefix="labkit-bench-"))
    try:
        ones, twos = [], []
        for i in range(args.repeat):
            ones.append(timed_make(1, folder / f"one{i}", args))
            twos.append(timed_make(2, folder / f"two{i}", args))
        one, two = min(ones), min(twos)
        a, b = zarr.open_group(str(folder / "one0")), zarr.open_group(str(folder / "two0"))
        same = all(a[k][:].tobytes() == b[k][:].tobytes() for k in ("inputs", "targets"))
        assert same, "the two stores differ"
    finally:
        shutil.rmtree(folder)
    print(f"darcy {args.resolution}^2, {args.n} samples, best of {args.repeat}: "
          f"1 worker {one:.2f} s, 2 workers {two:.2f} s, same bytes: {same}")
    print(f"ratio: {two / one:.3f}")


if __name__ == "__main__":
    main()
