"""Pore-network extraction: labkit's skeleton regions against PoreSpy's ``snow2``.

One seeded blobs volume goes through both tools, each in its own subprocess so that its peak
memory (``VmHWM`` from ``/proc/self/status``) is its own. labkit runs skeleton (Lee thinning,
labkit's version, identical to scikit-image's) + skeleton graph (skan) + nearest-branch
partition (labkit's label-carrying distance transform) + region attributes (volumes, centroids,
surfaces, contacts, connectivity check); PoreSpy runs ``snow2`` (distance-transform watershed +
``regions_to_network``). Both first process a 32^3 volume so that numba compilation is not
timed; numba may use both cores. The voxels per second of every step are printed, and the last
line is ``ratio: labkit time / PoreSpy time`` (goal <= 0.5 at 256^3).

Run: ``python benchmarks/pores_pipeline.py [--size 256] [--porosity 0.35] [--labkit-only]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from _volumes import blobs_parser, blobs_volume


def _rss_mb() -> float:
    """Peak resident memory of this process (VmHWM; ``ru_maxrss`` would include the parent's)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def labkit_pipeline(volume: np.ndarray) -> dict:
    import labkit.pores as lp

    steps = {}
    start = time.perf_counter()
    skeleton = lp.skeletonize(volume)
    steps["skeletonize"] = time.perf_counter() - start
    t = time.perf_counter()
    graph = lp.skeleton_graph(skeleton)
    steps["skeleton_graph"] = time.perf_counter() - t
    t = time.perf_counter()
    labels = lp.partition(volume, skeleton, graph=graph)
    steps["partition"] = time.perf_counter() - t
    t = time.perf_counter()
    regions = lp.region_graph(labels)
    steps["attributes"] = time.perf_counter() - t
    total = time.perf_counter() - start
    return {
        "total": total,
        "steps": steps,
        "n_regions": regions.n_nodes,
        "n_contacts": len(regions.contacts),
        "n_disconnected": int(len(regions.disconnected)),
    }


def porespy_pipeline(volume: np.ndarray) -> dict:
    import porespy as ps

    start = time.perf_counter()
    snow = ps.networks.snow2(volume.astype(np.uint8), voxel_size=1)
    total = time.perf_counter() - start
    net = snow.network
    return {
        "total": total,
        "steps": {"snow2": total},
        "n_regions": int(len(net["pore.coords"])),
        "n_contacts": int(len(net["throat.conns"])),
    }


def _child(tool: str, path: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import labkit.pores as lp

    pipeline = labkit_pipeline if tool == "labkit" else porespy_pipeline
    if tool == "porespy":
        import porespy as ps

        ps.settings.tqdm["disable"] = True
    pipeline(lp.blobs(32, porosity=0.35, seed=1))  # compile numba code before timing
    volume = np.load(path)
    before = _rss_mb()
    result = pipeline(volume)
    result["peak_rss_mb"] = _rss_mb()
    result["rss_before_mb"] = before
    print(json.dumps(result))


def _run(tool: str, path: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", tool, path],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _report(name: str, result: dict, n_voxels: int) -> None:
    print(
        f"{name}: {result['total']:.2f} s, {result['n_regions']} regions, "
        f"{result['n_contacts']} contacts, peak RSS {result['peak_rss_mb']:.0f} MB "
        f"({result['rss_before_mb']:.0f} MB before the timed run)"
    )
    for step, seconds in result["steps"].items():
        print(f"  {step:>15}: {seconds:7.2f} s  {n_voxels / seconds / 1e6:7.2f} Mvoxel/s")


def main() -> None:
    parser = blobs_parser(__doc__)
    parser.add_argument("--labkit-only", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("TOOL", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return

    volume = blobs_volume(args)
    print(f"blobs {args.size}^3, porosity {volume.mean():.3f}, seed {args.seed}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "volume.npy")
        np.save(path, volume)
        ours = _run("labkit", path)
        _report("labkit", ours, volume.size)
        if args.labkit_only:
            return
        theirs = _run("porespy", path)
        _report("porespy snow2", theirs, volume.size)
    print(f"ratio: {ours['total'] / theirs['total']:.3f}")


if __name__ == "__main__":
    main()
