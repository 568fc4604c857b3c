"""Skeleton graph, partition and region attributes: labkit against the library routes they replace.

One seeded blobs volume and its skeleton; each step runs both ways on the same input, the two
sides interleaved and the best of ``--repeats`` kept:

- skeleton graph: ``lp.skeleton_graph`` against ``skan.Skeleton`` + ``path_lengths`` +
  ``ndimage.label`` / ``center_of_mass`` of the junction clusters on the whole image;
- partition: ``lp.partition`` against ``scipy.ndimage.distance_transform_edt(return_indices=True)``
  and a lookup of the seed label;
- attributes: ``lp.region_graph`` against numpy face pairs + ``np.unique`` for contacts and
  ``skimage.measure.label`` for the connectivity check.

Both sides first run on a 32^3 volume so that numba compilation is not timed. With
``--porespy`` (needs the bench extra) PoreSpy's ``regions_to_network`` also runs on the same label
image, is timed once, and its volumes, centroids and throat pairs are checked against
``lp.region_graph`` (its areas follow other definitions: ``throat.cross_sectional_area`` is not the
seed paper's count of face-adjacent voxel pairs). The last line is ``ratio: labkit time / library
time`` over the three steps.

Run: ``python benchmarks/pores_regions.py [--size 256] [--repeats 2] [--porespy]``
"""

from __future__ import annotations

import os
import time

import numpy as np
from _volumes import blobs_parser, blobs_volume


def library_graph(skeleton):
    import skan
    from scipy import ndimage

    skel = skan.Skeleton(skeleton)
    lengths = skel.path_lengths()
    junction = np.zeros(skeleton.shape, bool)
    coords = np.asarray(skel.coordinates)
    junction[tuple(coords[np.asarray(skel.degrees) >= 3].T)] = True
    clusters, n = ndimage.label(junction, structure=np.ones((3, 3, 3)))
    centres = ndimage.center_of_mass(junction, clusters, range(1, n + 1))
    return len(lengths), len(centres)


def library_partition(volume, seeds):
    from scipy import ndimage

    nearest = ndimage.distance_transform_edt(
        seeds == 0, return_distances=False, return_indices=True
    )
    labels = seeds[tuple(nearest)]
    labels[~volume] = 0
    return labels


def library_attributes(labels):
    from skimage.measure import label as connected_components

    n = int(labels.max())
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    keys = []
    for axis in range(3):
        a = np.moveaxis(labels, axis, 0)
        lo, hi = a[:-1].ravel().astype(np.int64), a[1:].ravel().astype(np.int64)
        cross = (lo != hi) & (lo > 0) & (hi > 0)
        keys.append(np.minimum(lo, hi)[cross] * (n + 1) + np.maximum(lo, hi)[cross])
    pairs, areas = np.unique(np.concatenate(keys), return_counts=True)
    pieces = connected_components(labels, background=0, connectivity=1)
    owner = np.unique(labels.astype(np.int64) * (int(pieces.max()) + 1) + pieces)
    split = np.flatnonzero(np.bincount(owner // (int(pieces.max()) + 1)) > 1)
    return counts, pairs, areas, split


def compare_with_porespy(labels, ours) -> None:
    """Time ``porespy.networks.regions_to_network`` on ``labels`` and check what it shares."""
    import porespy as ps

    ps.settings.tqdm["disable"] = True
    start = time.perf_counter()
    net = ps.networks.regions_to_network(labels, voxel_size=1)
    seconds = time.perf_counter() - start
    throats = np.sort(np.asarray(net["throat.conns"]), axis=1)
    same_pairs = len(throats) == len(ours.contacts) and np.array_equal(
        throats[np.lexsort(throats.T[::-1])], ours.contacts.pairs
    )
    print(
        f"  regions_to_network: {seconds:.2f} s; volumes equal "
        f"{np.allclose(net['pore.region_volume'], ours.volumes)}, centroids equal "
        f"{np.allclose(net['pore.geometric_centroid'], ours.centroids)}, same throat pairs "
        f"{same_pairs}"
    )


def _best(fn, *args, repeats):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = blobs_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--porespy", action="store_true", help="also time regions_to_network")
    args = parser.parse_args()

    import numba

    import labkit.pores as lp

    small = lp.blobs(32, porosity=0.35, seed=1)
    small_skeleton = lp.skeletonize(small)
    small_graph = lp.skeleton_graph(small_skeleton)
    lp.region_graph(lp.partition(small, small_skeleton, graph=small_graph))
    library_graph(small_skeleton)

    volume = blobs_volume(args)
    skeleton = lp.skeletonize(volume)
    graph = lp.skeleton_graph(skeleton)
    seeds = graph.branch_label_image()
    labels = lp.partition(volume, skeleton, graph=graph)
    print(
        f"blobs {args.size}^3, porosity {volume.mean():.3f}, {int(skeleton.sum())} skeleton "
        f"voxels, {len(graph.branches)} branches; {numba.get_num_threads()} numba threads, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    steps = {
        "skeleton graph": (
            (lp.skeleton_graph, skeleton),
            (library_graph, skeleton),
        ),
        "partition": (
            (lambda: lp.partition(volume, skeleton, graph=graph),),
            (library_partition, volume, seeds),
        ),
        "attributes": ((lp.region_graph, labels), (library_attributes, labels)),
    }
    ours_total = theirs_total = 0.0
    for name, (ours, theirs) in steps.items():
        t_ours = t_theirs = np.inf
        for _ in range(args.repeats):  # interleave the two sides
            t_ours = min(t_ours, _best(*ours, repeats=1))
            t_theirs = min(t_theirs, _best(*theirs, repeats=1))
        ours_total += t_ours
        theirs_total += t_theirs
        print(f"  {name:>15}: labkit {t_ours:7.2f} s   library {t_theirs:7.2f} s")
    print(f"  {'total':>15}: labkit {ours_total:7.2f} s   library {theirs_total:7.2f} s")
    if args.porespy:
        compare_with_porespy(labels, lp.region_graph(labels))
    print(f"ratio: {ours_total / theirs_total:.3f}")


if __name__ == "__main__":
    main()
