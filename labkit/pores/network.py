"""The two other representations of the pore space: one node per voxel, and balls.

* :func:`voxel_graph` makes every pore voxel a node, joined to its face neighbours with the
  face area and the voxel spacing: diffusion on it is the standard finite-volume scheme, the
  reference for the region graph.
* :func:`ball_graph` keeps the regions but describes each by its largest inscribed ball, as in
  ball-network models (MOSAIC): the contact between two regions is ``pi * min(r_i, r_j)**2``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from labkit._checks import check_labels
from labkit.pores.io import check_voxel_size
from labkit.pores.regions import (
    Contacts,
    RegionGraph,
    _face_areas,
    face_pairs,
    region_graph,
)
from labkit.pores.volumes import check_volume

__all__ = ["ball_graph", "inscribed_radii", "node_of", "voxel_graph"]


def voxel_graph(volume: np.ndarray, voxel_size=1.0) -> RegionGraph:
    """One node per pore voxel (C order), joined across shared faces.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.zeros((3, 3, 3), bool); v[1, 1, :] = True
    >>> g = voxel_graph(v)
    >>> g.n_nodes, g.contacts.pairs.tolist()
    (3, [[0, 1], [1, 2]])
    """
    volume = check_volume(volume)
    voxel_size = check_voxel_size(voxel_size)
    n = int(np.count_nonzero(volume))
    labels = np.zeros(volume.shape, dtype=np.int64 if n >= 2**31 - 1 else np.int32)
    labels[volume] = np.arange(1, n + 1)
    face_areas = _face_areas(voxel_size)
    pairs, areas, distances = [], [], []
    surface = np.zeros(n + 1)
    for axis in range(3):
        a, b = face_pairs(labels, axis)
        both = (a > 0) & (b > 0)
        pairs.append(np.stack([a[both], b[both]], axis=1).astype(np.int64) - 1)
        areas.append(np.full(int(both.sum()), face_areas[axis]))
        distances.append(np.full(int(both.sum()), voxel_size[axis]))
        to_solid = np.concatenate([a[(a > 0) & (b == 0)], b[(b > 0) & (a == 0)]])
        surface += face_areas[axis] * np.bincount(to_solid, minlength=n + 1)
    coords = np.argwhere(volume) * np.asarray(voxel_size)
    return RegionGraph(
        labels=labels,
        voxel_size=voxel_size,
        volumes=np.full(n, float(np.prod(voxel_size))),
        centroids=coords,
        surface_areas=surface[1:],
        contacts=Contacts(
            pairs=np.concatenate(pairs),
            areas=np.concatenate(areas),
            distances=np.concatenate(distances),
        ),
        kind="voxel",
    )


def inscribed_radii(volume: np.ndarray, labels: np.ndarray, voxel_size=1.0) -> np.ndarray:
    """Radius of the largest ball centred in each region and inscribed in the pore space."""
    volume = check_volume(volume)
    labels = check_labels("labels", labels)
    voxel_size = check_voxel_size(voxel_size)
    distance = ndimage.distance_transform_edt(volume, sampling=voxel_size)
    n = int(labels.max())
    return np.asarray(ndimage.maximum(distance, labels, np.arange(1, n + 1)), dtype=float)


def ball_graph(volume: np.ndarray, labels: np.ndarray, voxel_size=1.0) -> RegionGraph:
    """Region graph whose contacts are the cross-sections of the regions' inscribed balls.

    Volumes and centroids are those of the regions (so the carbon budget and the equilibrium
    match the other representations); the contact area between touching regions ``i`` and
    ``j`` is ``pi * min(r_i, r_j)**2`` with ``r`` the inscribed-ball radius.

    Examples
    --------
    >>> from labkit.pores import partition, tube_network
    >>> net = tube_network(32, radius=2.0)
    >>> g = ball_graph(net.volume, partition(net.volume))
    >>> g.kind, g.n_nodes
    ('ball', 8)
    """
    voxel_size = check_voxel_size(voxel_size)
    labels = check_labels("labels", labels)
    volume = check_volume(volume)
    if labels.shape != volume.shape:
        raise ValueError(f"labels shape {labels.shape} differs from volume shape {volume.shape}")
    regions = region_graph(labels, voxel_size, check_connectivity=False)
    radii = inscribed_radii(volume, labels, voxel_size)
    i, j = regions.contacts.pairs.T
    areas = np.pi * np.minimum(radii[i], radii[j]) ** 2
    regions.contacts = Contacts(
        pairs=regions.contacts.pairs, areas=areas, distances=regions.contacts.distances
    )
    regions.kind = "ball"
    return regions


def node_of(fine: RegionGraph, coarse_labels: np.ndarray) -> np.ndarray:
    """For each node of ``fine``, the 0-based index of the coarse region holding it.

    ``fine`` must nest in ``coarse_labels`` (every voxel graph does).

    Examples
    --------
    >>> import numpy as np
    >>> v = np.zeros((3, 3, 4), bool); v[1, 1, :] = True
    >>> coarse = np.zeros(v.shape, np.int32); coarse[1, 1] = [1, 1, 2, 2]
    >>> node_of(voxel_graph(v), coarse).tolist()
    [0, 0, 1, 1]
    """
    coarse_labels = check_labels("coarse_labels", coarse_labels)
    if coarse_labels.shape != fine.labels.shape:
        raise ValueError("coarse_labels and the fine graph's labels differ in shape")
    flat = fine.labels.ravel()
    values, first = np.unique(flat, return_index=True)
    owner = coarse_labels.ravel()[first[values > 0]].astype(np.int64) - 1
    if np.any(owner < 0):
        raise ValueError("some fine nodes lie on solid (0) in coarse_labels")
    return owner
