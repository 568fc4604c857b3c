"""The skeleton graph from the list of skeleton voxels, without the image.

A skeleton is a tiny fraction of a volume (0.05-0.5 % of the voxels of the benchmark blobs),
so the chunked route gathers its voxel coordinates and builds the graph from them: the
26-adjacency comes from a sorted list of linear indices and 13 look-ups, never from an array
of the volume's size. The decomposition is the one of
:func:`labkit.pores.skeleton.skeleton_graph` (skan's paths with touching junction voxels
merged): junction voxels have three or more skeleton neighbours, touching junction voxels form
one junction, and a branch is a connected run of the other voxels; its length is the length of
its path from node to node.

Examples
--------
>>> import numpy as np
>>> s = np.zeros((9, 9, 9), bool)
>>> s[4, 1:8, 4] = True           # a line ...
>>> s[4, 4, 5:8] = True           # ... with a branch off its middle
>>> g = graph_from_voxels(np.argwhere(s), s.shape)
>>> len(g.junctions), len(g.endpoints), sorted(len(b.voxels) for b in g.branches)
(1, 3, [3, 3, 3])
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from labkit.pores.io import check_voxel_size
from labkit.pores.skeleton import Branch, SkeletonGraph, _branch_kind

__all__ = ["graph_from_voxels"]

# half of the 26 neighbour offsets: every adjacent pair is found once
_FORWARD = np.array([d for d in itertools.product((-1, 0, 1), repeat=3) if d > (0, 0, 0)])


def _edges(coords: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adjacent voxel pairs ``(i, j)`` (indices into ``coords``, raster sorted) and offsets."""
    linear = np.ravel_multi_index(coords.T, shape)
    first, second, offsets = [], [], []
    for k, d in enumerate(_FORWARD):
        moved = coords + d
        inside = np.all((moved >= 0) & (moved < np.asarray(shape)), axis=1)
        source = np.flatnonzero(inside)
        target_linear = np.ravel_multi_index(moved[source].T, shape)
        j = np.searchsorted(linear, target_linear)
        j[j == len(linear)] = 0
        hit = linear[j] == target_linear
        first.append(source[hit])
        second.append(j[hit])
        offsets.append(np.full(int(hit.sum()), k))
    return np.concatenate(first), np.concatenate(second), np.concatenate(offsets)


def _mst_junctions(a, b, step, n):
    """Keep, among the edges joining two voxels of degree 3 or more, a minimum spanning
    forest, as skan does (``skan.csr._mst_junctions``), so that degrees match skan's."""
    degrees = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    jj = (degrees[a] >= 3) & (degrees[b] >= 3)
    if not jj.any():
        return a, b, step
    rows = np.concatenate([a[jj], b[jj]])
    cols = np.concatenate([b[jj], a[jj]])
    matrix = sparse.csr_matrix((np.concatenate([step[jj], step[jj]]), (rows, cols)), (n, n))
    matrix.sort_indices()
    tree = csgraph.minimum_spanning_tree(matrix).tocoo()
    kept = set(
        zip(
            np.minimum(tree.row, tree.col).tolist(),
            np.maximum(tree.row, tree.col).tolist(),
            strict=True,
        )
    )
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keep = ~jj
    keep[jj] = [(x, y) in kept for x, y in zip(lo[jj].tolist(), hi[jj].tolist(), strict=True)]
    return a[keep], b[keep], step[keep]


def graph_from_voxels(coords: np.ndarray, shape, voxel_size=1.0) -> SkeletonGraph:
    """Build the skeleton graph of the skeleton whose voxels are ``coords``.

    Parameters
    ----------
    coords : numpy.ndarray of int, shape (n, 3)
        The skeleton voxels (distinct), in any order.
    shape : 3 ints
        The volume's shape.
    voxel_size : float or 3 floats
        Voxel size per axis, for branch lengths.

    Returns
    -------
    SkeletonGraph
        Junctions and end points in raster order of their first voxel, branches in raster
        order of their first own voxel (their voxels in raster order too); a branch's length
        runs along its path between its nodes, as skan measures it.
    """
    voxel_size = check_voxel_size(voxel_size)
    shape = tuple(int(s) for s in shape)
    coords = np.asarray(coords, dtype=np.int64).reshape(-1, 3)
    if len(coords) == 0:
        raise ValueError("skeleton has no voxel, so it has no branch")
    coords = coords[np.argsort(np.ravel_multi_index(coords.T, shape))]
    n = len(coords)
    a, b, k = _edges(coords, shape)
    step = np.linalg.norm(_FORWARD * np.asarray(voxel_size), axis=1)[k]
    touching_a, touching_b = a, b
    a, b, step = _mst_junctions(a, b, step, n)
    degrees = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    junction = degrees >= 3

    def components(mask_edges, n_nodes, first, second):
        m = sparse.coo_matrix(
            (np.ones(int(mask_edges.sum())), (first[mask_edges], second[mask_edges])),
            shape=(n_nodes, n_nodes),
        )
        return csgraph.connected_components(m, directed=False)

    # junctions: touching junction voxels
    jv = np.flatnonzero(junction)
    j_index = np.full(n, -1)
    j_index[jv] = np.arange(len(jv))
    # touching junction voxels: every adjacency counts, the spanning forest's or not
    ta, tb = touching_a, touching_b
    both_j = junction[ta] & junction[tb]
    n_junctions, j_cluster = components(both_j, len(jv), j_index[ta], j_index[tb])
    node_of = np.full(n, -1)
    node_of[jv] = j_cluster
    sizes = np.bincount(j_cluster, minlength=n_junctions)
    centres = (
        np.stack([np.bincount(j_cluster, coords[jv, ax], n_junctions) for ax in range(3)], axis=1)
        / np.maximum(sizes, 1)[:, None]
    )
    endpoints = np.flatnonzero(degrees == 1)
    node_of[endpoints] = n_junctions + np.arange(len(endpoints))

    # branches: runs of non-junction voxels
    own = np.flatnonzero(~junction)
    o_index = np.full(n, -1)
    o_index[own] = np.arange(len(own))
    neither = ~junction[a] & ~junction[b]
    n_branches, b_of = components(neither, len(own), o_index[a], o_index[b])
    branch_of = np.full(n, -1)
    branch_of[own] = b_of
    # a branch's length: its own edges and its edges to junction voxels
    touching = ~(junction[a] & junction[b])
    side = np.where(junction[a], b, a)[touching]
    lengths = np.bincount(branch_of[side], step[touching], n_branches)
    # its nodes: end points inside it, junctions it touches
    ends = [[] for _ in range(n_branches)]
    for e in endpoints:
        ends[branch_of[e]].append(int(node_of[e]))
    mixed = junction[a] != junction[b]
    jside = np.where(junction[a], a, b)[mixed]
    oside = np.where(junction[a], b, a)[mixed]
    for br, node in zip(branch_of[oside].tolist(), node_of[jside].tolist(), strict=True):
        ends[br].append(int(node))
    grouped = own[np.argsort(b_of, kind="stable")]
    starts = np.concatenate([[0], np.cumsum(np.bincount(b_of, minlength=n_branches))])
    branches = []
    # raster order of the first own voxel (``grouped`` is raster sorted within a branch)
    for i in np.argsort(grouped[starts[:-1]], kind="stable"):
        members = grouped[starts[i] : starts[i + 1]]
        e = ends[i]
        if len(members) == 1 and degrees[members[0]] == 0:
            nodes, kind = (-1, -1), "point"
        else:
            nodes = (-1, -1) if not e else (e[0], e[-1])
            kind = _branch_kind(nodes, n_junctions)
        branches.append(
            Branch(voxels=coords[members], length=float(lengths[i]), nodes=nodes, kind=kind)
        )
    return SkeletonGraph(
        junctions=centres.reshape(-1, 3),
        endpoints=coords[endpoints],
        branches=branches,
        shape=shape,
        voxel_size=voxel_size,
        junction_voxels=coords[jv],
    )
