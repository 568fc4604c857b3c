"""3-D thinning: labkit's ``thin`` against scikit-image's ``skeletonize`` (Lee 1994).

Both thin the same seeded blobs volume; the script checks that the skeletons are identical
voxel for voxel, then prints the best time of each side over ``--repeats`` interleaved runs,
the voxels per second, the numba thread count and the load average. labkit first thins a
small volume so that numba compilation (or loading it from the cache) is not timed; that
first-call time is printed too. With ``--memory`` a child process thins the volume once more
and reports its peak resident memory above what it held before the call.

The last line is ``ratio: labkit time / scikit-image time`` (goal <= 0.25 at 256^3 and 512^3).

Run: ``python benchmarks/pores_thinning.py [--size 256] [--porosity 0.35] [--seed 0]
[--repeats 1] [--memory]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from _volumes import blobs_parser, blobs_volume


def _memory_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _child(path: str) -> None:
    """Thin the saved volume; print peak resident memory above the level before the call."""
    from labkit.pores.thinning import thin

    thin(np.ones((3, 3, 3), dtype=bool))
    volume = np.load(path)
    before = _memory_mb("VmRSS")
    thin(volume)
    print(f"{_memory_mb('VmHWM') - before:.0f}")


def _peak_memory(volume: np.ndarray) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "volume.npy")
        np.save(path, volume)
        out = subprocess.run(
            [sys.executable, __file__, "--child", path], check=True, capture_output=True, text=True
        )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = blobs_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--memory", action="store_true", help="report labkit's peak memory")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return

    import numba
    from skimage.morphology import skeletonize

    import labkit.pores as lp
    from labkit.pores.thinning import thin

    start = time.perf_counter()
    thin(lp.blobs(24, porosity=0.35, seed=1))
    print(f"labkit first call (numba compile or cache load): {time.perf_counter() - start:.1f} s")

    volume = blobs_volume(args)
    print(
        f"blobs {args.size}^3, porosity {volume.mean():.3f}, blobiness {args.blobiness}, "
        f"seed {args.seed}; numba threads {numba.get_num_threads()}, "
        f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}"
    )
    times: dict[str, list[float]] = {"labkit": [], "skimage": []}
    results = {}
    for _ in range(args.repeats):
        for name, fn in (("labkit", thin), ("skimage", skeletonize)):
            start = time.perf_counter()
            results[name] = fn(volume)
            times[name].append(time.perf_counter() - start)
    identical = np.array_equal(results["labkit"], results["skimage"])
    n_differ = int(np.count_nonzero(results["labkit"] != results["skimage"]))
    print(
        f"skeleton voxels: labkit {int(results['labkit'].sum())}, "
        f"scikit-image {int(results['skimage'].sum())}; identical: {identical} "
        f"({n_differ} voxels differ)"
    )
    for name in ("labkit", "skimage"):
        best = min(times[name])
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        print(
            f"{name:>8}: best {best:7.2f} s  {volume.size / best / 1e6:7.2f} Mvoxel/s  "
            f"(runs: {runs})"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.memory:
        print(f"labkit peak memory above the volume: {_peak_memory(volume):.0f} MB")
    if not identical:
        sys.exit("labkit's skeleton differs from scikit-image's")
    print(f"ratio: {min(times['labkit']) / min(times['skimage']):.3f}")


if __name__ == "__main__":
    main()
