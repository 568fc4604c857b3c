"""Chunked pore pipeline on Dask: seeded blobs written to Zarr, whole pipeline with 2 workers.

Three measurements in one run:

1. ``--size N`` seeded blobs (pore size ``--sigma``, porosity ``--porosity``) written to Zarr
   chunk by chunk by the workers, then :func:`labkit.pores.analyse` (subfield skeleton, skeleton
   graph, checked nearest-branch partition, region attributes) on a local cluster of
   ``--workers`` worker processes with ``--memory-limit`` each. The peak resident memory of all
   processes (this one, the nannies and the workers, sampled every 0.2 s) and the voxels per
   second of every step are printed. Goals: 1024^3 in under 5 minutes and 4 GB; 2048^3 under
   8 GB. Chunks of 256^3 (the default) spend half the work of 128^3 ones on halos (a block
   is (256 + 64)^3, not (128 + 64)^3); the result is the same voxel for voxel.
2. Subfield thinning (:func:`labkit.pores.thin_subfield`) against labkit's Lee thinning on the
   same in-memory volume of ``--thin-size`` (default: the size, at most 512); both compile
   first on a small volume. The skeletons are compared: voxels, components, independent cycles,
   junctions, branches and how central the curves sit (mean distance-to-solid of their voxels,
   relative to the largest inscribed radius nearby).
3. With ``--porespy``: PoreSpy ``snow2`` with its parallel options (``parallel_kw={"divs": 2,
   "cores": workers, "overlap": ...}``) on the same in-memory volume of ``--thin-size``, in a
   subprocess; the ratio is labkit's chunked pipeline time at that size over snow2's.

The last line is ``ratio: X``: chunked pipeline / snow2 with ``--porespy`` (goal <= 0.2), else
subfield / Lee thinning time (goal <= 1).

Run: ``python benchmarks/pores_chunked.py --size 1024 [--porespy] [--workers 2]``;
``--smoke`` runs a 48^3 volume in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


class PeakRSS:
    """Peak of the summed resident memory of this process and all its descendants, and of this
    process alone (the caller, where the graph and tables are reduced)."""

    def __init__(self, interval: float = 0.2) -> None:
        import psutil

        self._root = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self.peak_caller = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        import psutil

        total = 0
        for p in [self._root, *self._root.children(recursive=True)]:
            try:
                rss = p.memory_info().rss
            except psutil.Error:
                continue
            total += rss
            if p is self._root:
                self.peak_caller = max(self.peak_caller, rss)
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(self._interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())


def chunked(args, folder: Path, size: int) -> dict:
    import labkit.pores as lp
    from labkit.cluster import dask_client

    shape = (size,) * 3
    with (
        PeakRSS() as rss,
        dask_client(workers=args.workers, memory_limit=args.memory_limit) as client,
    ):
        # compile and load numba code in the workers before timing
        warm = lp.blobs_to_zarr(folder / "warm.zarr", 40, chunks=20, sigma=2.0, seed=1)
        lp.analyse(warm, folder / "warm-out.zarr", client, chunks=20, progress=False)
        start = time.perf_counter()
        store = lp.blobs_to_zarr(
            folder / "volume.zarr",
            shape,
            chunks=args.chunks,
            porosity=args.porosity,
            sigma=args.sigma,
            seed=args.seed,
            client=client,
        )
        write = time.perf_counter() - start
        start = time.perf_counter()
        result = lp.analyse(
            store, folder / "out.zarr", client, chunks=args.chunks, halo=args.halo, progress=False
        )
        total = time.perf_counter() - start
    return {
        "write": write,
        "total": total,
        "peak_rss_mb": rss.peak / 2**20,
        "peak_caller_mb": rss.peak_caller / 2**20,
        "seconds": result.seconds,
        **result.to_dict(),
    }


def _betti01(volume: np.ndarray) -> tuple[int, int]:
    from scipy import ndimage
    from skimage.measure import euler_number

    b0 = ndimage.label(volume, np.ones((3, 3, 3)))[1]
    b2 = ndimage.label(~np.pad(volume, 1))[1] - 1
    return b0, b0 + b2 - euler_number(volume, connectivity=3)


def thinning(volume: np.ndarray) -> dict:
    """Subfield vs Lee thinning on one in-memory volume, with the skeletons compared."""
    from scipy import ndimage

    import labkit.pores as lp

    small = lp.blobs(32, seed=1)
    lp.thin_subfield(small), lp.skeletonize(small)
    out = {}
    dist = ndimage.distance_transform_edt(volume)
    # the local largest inscribed radius: a maximum filter of the distance to solid
    local_max = ndimage.maximum_filter(dist, size=5)
    for name, method in [("subfield", "subfield"), ("lee", "labkit")]:
        start = time.perf_counter()
        skel = lp.skeletonize(volume, method=method)
        seconds = time.perf_counter() - start
        graph = lp.skeleton_graph(skel)
        b0, b1 = _betti01(skel)
        out[name] = {
            "seconds": seconds,
            "voxels": int(skel.sum()),
            "components": b0,
            "cycles": b1,
            "junctions": len(graph.junctions),
            "branches": len(graph.branches),
            "centrality": float(np.mean(dist[skel] / local_max[skel])),
        }
    out["pore"] = dict(zip(("components", "cycles"), _betti01(volume), strict=True))
    return out


def _porespy_child(path: str, workers: int) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import porespy as ps

    ps.settings.tqdm["disable"] = True
    volume = np.load(path)
    kw = {"divs": 2, "cores": workers, "overlap": None}
    ps.networks.snow2(np.pad(np.ones((20, 20, 20), np.uint8), 2), parallel_kw=kw)
    start = time.perf_counter()
    snow = ps.networks.snow2(volume.astype(np.uint8), voxel_size=1, parallel_kw=kw)
    print(
        json.dumps(
            {
                "total": time.perf_counter() - start,
                "n_regions": int(len(snow.network["pore.coords"])),
            }
        )
    )


def porespy(volume: np.ndarray, folder: Path, workers: int) -> dict:
    path = folder / "volume.npy"
    np.save(path, volume)
    out = subprocess.run(
        [sys.executable, __file__, "--porespy-child", str(path), str(workers)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--thin-size", type=int, default=None)
    parser.add_argument("--chunks", type=int, default=256)
    parser.add_argument("--halo", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="1.5GiB")
    parser.add_argument("--porosity", type=float, default=0.35)
    parser.add_argument("--sigma", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--porespy", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--porespy-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.porespy_child:
        _porespy_child(args.porespy_child[0], int(args.porespy_child[1]))
        return
    if args.smoke:
        args.size, args.chunks, args.thin_size = 48, 24, 48
    thin_size = args.thin_size or min(args.size, 512)

    import labkit.pores as lp

    folder = Path(tempfile.mkdtemp(prefix="pores_chunked-"))
    try:
        res = chunked(args, folder, args.size)
        n = args.size**3
        print(
            f"chunked pipeline, blobs {args.size}^3 (sigma {args.sigma}, porosity "
            f"{args.porosity}), chunks {args.chunks}^3, {args.workers} workers: "
            f"{res['total']:.1f} s, peak RSS (all processes) {res['peak_rss_mb']:.0f} MB"
            f" (this process alone {res['peak_caller_mb']:.0f} MB)"
        )
        print(
            f"  {'write blobs':>15}: {res['write']:7.2f} s  {n / res['write'] / 1e6:7.2f} Mvoxel/s"
        )
        for step, seconds in res["seconds"].items():
            print(f"  {step:>15}: {seconds:7.2f} s  {n / seconds / 1e6:7.2f} Mvoxel/s")
        print(f"  skeleton: {res['skeleton']}")
        print(
            f"  regions: {res['regions']['n_nodes']}, contacts {res['regions']['n_contacts']}, "
            f"partition halo {res['partition_halo']}"
        )
        shutil.rmtree(folder / "volume.zarr")
        shutil.rmtree(folder / "out.zarr")
        store = lp.blobs_to_zarr(
            folder / "thin.zarr",
            thin_size,
            chunks=128,
            porosity=args.porosity,
            sigma=args.sigma,
            seed=args.seed,
        )
        volume = store[...]
        shutil.rmtree(folder / "thin.zarr")
        thin = thinning(volume)
        print(f"in-memory thinning, same blobs at {thin_size}^3 (pore: {thin['pore']}):")
        for name in ("subfield", "lee"):
            t = thin[name]
            print(
                f"  {name:>8}: {t['seconds']:6.2f} s, {t['voxels']} voxels, "
                f"{t['components']} components, {t['cycles']} cycles, {t['junctions']} "
                f"junctions, {t['branches']} branches, centrality {t['centrality']:.3f}"
            )
        thin_ratio = thin["subfield"]["seconds"] / thin["lee"]["seconds"]
        print(f"subfield / Lee thinning time: {thin_ratio:.3f}")
        if args.porespy:
            if thin_size == args.size:
                ours = res["total"]
            else:
                (folder / "again").mkdir()
                ours = chunked(args, folder / "again", thin_size)["total"]
            theirs = porespy(volume, folder, args.workers)
            print(
                f"porespy snow2 (parallel_kw divs=2, cores={args.workers}) at {thin_size}^3: "
                f"{theirs['total']:.1f} s, {theirs['n_regions']} regions; "
                f"labkit chunked: {ours:.1f} s"
            )
            print(f"ratio: {ours / theirs['total']:.3f}")
        else:
            print(f"ratio: {thin_ratio:.3f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
