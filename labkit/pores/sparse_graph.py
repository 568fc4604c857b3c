"""The skeleton graph from the list of skeleton voxels, without the image.

A skeleton is a tiny fraction of a volume (0.05-0.5 % of the voxels of the benchmark blobs),
so the chunked route gathers its voxels' linear indices and builds the graph from them: the
26-adjacency comes from the sorted indices and 13 look-ups, never from an array of the volume's
size, and the branches are kept as columns (:class:`~labkit.pores.skeleton.BranchTable`), so a
skeleton of millions of branches costs a few tens of bytes per voxel. The decomposition is the
one of :func:`labkit.pores.skeleton.skeleton_graph` (skan's paths with touching junction voxels
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

import numba
import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from labkit.pores.io import check_voxel_size
from labkit.pores.skeleton import KINDS, BranchTable, SkeletonGraph, kind_index

__all__ = ["graph_from_linear", "graph_from_voxels"]

# half of the 26 neighbour offsets: every adjacent pair is found once
_FORWARD = np.array([d for d in itertools.product((-1, 0, 1), repeat=3) if d > (0, 0, 0)])
# look-ups per slice of the voxel list, to bound the temporaries of the edge search
_BLOCK = 1 << 22


def _coordinates(linear: np.ndarray, shape) -> np.ndarray:
    """``(n, 3)`` int32 voxel coordinates of raster indices."""
    plane = shape[1] * shape[2]
    coords = np.empty((len(linear), 3), np.int32)
    coords[:, 0] = linear // plane
    rest = linear - coords[:, 0].astype(np.int64) * plane
    coords[:, 1] = rest // shape[2]
    coords[:, 2] = rest - coords[:, 1].astype(np.int64) * shape[2]
    return coords


def _edges(linear: np.ndarray, coords: np.ndarray, shape):
    """Adjacent voxel pairs ``(i, j)``, ``i < j`` as indices into the sorted ``linear``, and
    the index of their offset in ``_FORWARD``."""
    first, second, offsets = [], [], []
    last = np.asarray(shape) - 1
    for k, d in enumerate(_FORWARD):
        delta = (int(d[0]) * shape[1] + int(d[1])) * shape[2] + int(d[2])
        for start in range(0, len(linear), _BLOCK):
            block = slice(start, start + _BLOCK)
            inside = np.ones(len(linear[block]), bool)
            for axis in range(3):
                if d[axis] > 0:
                    inside &= coords[block, axis] < last[axis]
                elif d[axis] < 0:
                    inside &= coords[block, axis] > 0
            source = np.flatnonzero(inside)
            target = linear[block][source] + delta
            j = np.searchsorted(linear, target)
            j[j == len(linear)] = 0
            hit = linear[j] == target
            first.append((source[hit] + start).astype(np.int32))
            second.append(j[hit].astype(np.int32))
            offsets.append(np.full(int(hit.sum()), k, np.int8))
    return np.concatenate(first), np.concatenate(second), np.concatenate(offsets)


def _mst_junctions(a, b, offsets, lookup, n):
    """Which edges to keep: among those joining two voxels of degree 3 or more, a minimum
    spanning forest, as skan does (``skan.csr._mst_junctions``), so that degrees match skan's.
    Edge ``e`` is ``lookup[offsets[e]]`` long."""
    degrees = _count_degrees(n, a, b)
    jj = (degrees[a] >= 3) & (degrees[b] >= 3)
    del degrees
    if not jj.any():
        return np.ones(len(a), bool)
    rows = np.concatenate([a[jj], b[jj]])
    cols = np.concatenate([b[jj], a[jj]])
    lengths = lookup[offsets[jj]]
    matrix = sparse.csr_matrix((np.concatenate([lengths, lengths]), (rows, cols)), (n, n))
    matrix.sort_indices()
    tree = csgraph.minimum_spanning_tree(matrix).tocoo()
    def keys(i, j):
        return np.minimum(i, j).astype(np.int64) * n + np.maximum(i, j)

    keep = ~jj
    keep[jj] = np.isin(keys(a[jj], b[jj]), keys(tree.row, tree.col))
    return keep


@numba.njit(cache=True)
def _root(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@numba.njit(cache=True)
def _label_components(n_nodes, first, second, labels):
    """Union-find; components numbered in the order of their lowest node, as
    :func:`scipy.sparse.csgraph.connected_components` numbers them."""
    parent = np.arange(n_nodes, dtype=np.int32)
    for e in range(len(first)):
        a, b = _root(parent, first[e]), _root(parent, second[e])
        if a < b:
            parent[b] = a
        elif b < a:
            parent[a] = b
    count = 0
    for i in range(n_nodes):
        r = _root(parent, i)
        if r == i:
            labels[i] = count
            count += 1
        else:
            labels[i] = labels[r]
    return count


def _components(first, second, n_nodes):
    """Connected components of the graph on ``n_nodes`` nodes with edges ``first``-``second``:
    their number and each node's component (numbered as scipy's ``connected_components``),
    with one ``n_nodes`` array of memory, where scipy's copies the edges twice."""
    labels = np.empty(n_nodes, np.int32)
    count = _label_components(
        n_nodes, np.asarray(first, np.int32), np.asarray(second, np.int32), labels
    )
    return int(count), labels


@numba.njit(cache=True)
def _count_degrees(n, a, b, keep=None):
    """Edges per voxel, of the edges ``(a[e], b[e])`` with ``keep[e]`` (all without ``keep``)."""
    degrees = np.zeros(n, np.int8)
    for e in range(len(a)):
        if keep is None or keep[e]:
            degrees[a[e]] += 1
            degrees[b[e]] += 1
    return degrees


def _branch_ends(branch_of, node_of, endpoints, oside, jside, n_branches):
    """The first and last node each branch touches (end points inside it first, then the
    junctions it touches in edge order), ``-1`` where it touches none."""
    branches = np.concatenate([branch_of[endpoints], branch_of[oside]])
    nodes = np.concatenate([node_of[endpoints], node_of[jside]])
    order = np.argsort(branches, kind="stable")
    branches, nodes = branches[order], nodes[order]
    counts = np.bincount(branches, minlength=n_branches)
    starts = np.cumsum(counts) - counts
    ends = np.full((n_branches, 2), -1, np.int64)
    has = counts > 0
    ends[has, 0] = nodes[starts[has]]
    ends[has, 1] = nodes[starts[has] + counts[has] - 1]
    return ends


def _kinds(ends, single_points, n_junctions):
    """Index into :data:`~labkit.pores.skeleton.KINDS` of each branch."""
    kinds = kind_index(ends, n_junctions)
    kinds[single_points] = KINDS.index("point")
    return kinds


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
        Junctions and end points in raster order of their first voxel, branches (a
        :class:`~labkit.pores.skeleton.BranchTable`) in raster order of their first own voxel,
        their voxels in raster order too; a branch's length runs along its path between its
        nodes, as skan measures it.
    """
    shape = tuple(int(s) for s in shape)
    coords = np.asarray(coords).reshape(-1, 3)
    return graph_from_linear(np.ravel_multi_index(coords.T, shape), shape, voxel_size)


def graph_from_linear(linear: np.ndarray, shape, voxel_size=1.0) -> SkeletonGraph:
    """:func:`graph_from_voxels` of the voxels with raster indices ``linear`` (distinct, any
    order; sorted in place when they are an int64 array).

    Examples
    --------
    >>> import numpy as np
    >>> g = graph_from_linear(np.array([5, 1, 2, 3, 4]), (1, 1, 8))
    >>> len(g.branches), g.branches[0].voxels[:, 2].tolist(), g.branches[0].kind
    (1, [1, 2, 3, 4, 5], 'endpoint-endpoint')
    """
    voxel_size = check_voxel_size(voxel_size)
    shape = tuple(int(s) for s in shape)
    linear = np.asarray(linear, dtype=np.int64).reshape(-1)
    if len(linear) == 0:
        raise ValueError("skeleton has no voxel, so it has no branch")
    linear.sort()
    coords = _coordinates(linear, shape)
    n = len(linear)
    a, b, k = _edges(linear, coords, shape)
    del linear
    lookup = np.linalg.norm(_FORWARD * np.asarray(voxel_size), axis=1)
    tree = _mst_junctions(a, b, k, lookup, n)
    degrees = _count_degrees(n, a, b, tree)
    junction = degrees >= 3

    # junctions: touching junction voxels (every adjacency counts, the spanning forest's or not)
    jv = np.flatnonzero(junction)
    j_index = np.full(n, -1, np.int32)
    j_index[jv] = np.arange(len(jv))
    both_j = junction[a] & junction[b]
    n_junctions, j_cluster = _components(j_index[a[both_j]], j_index[b[both_j]], len(jv))
    del j_index, both_j
    node_of = np.full(n, -1, np.int32)
    node_of[jv] = j_cluster
    sizes = np.bincount(j_cluster, minlength=n_junctions)
    centres = (
        np.stack([np.bincount(j_cluster, coords[jv, ax], n_junctions) for ax in range(3)], axis=1)
        / np.maximum(sizes, 1)[:, None]
    )
    endpoints = np.flatnonzero(degrees == 1)
    node_of[endpoints] = n_junctions + np.arange(len(endpoints))

    # the spanning forest's edges from here on
    a, b, k = a[tree], b[tree], k[tree]
    del tree
    # branches: runs of non-junction voxels
    own = np.flatnonzero(~junction)
    o_index = np.full(n, -1, np.int32)
    o_index[own] = np.arange(len(own))
    neither = ~junction[a] & ~junction[b]
    n_branches, b_of = _components(o_index[a[neither]], o_index[b[neither]], len(own))
    del o_index, neither
    branch_of = np.full(n, -1, np.int32)
    branch_of[own] = b_of
    # a branch's length: its own edges and its edges to junction voxels
    touching = ~(junction[a] & junction[b])
    side = np.where(junction[a], b, a)[touching]
    lengths = np.bincount(branch_of[side], lookup[k[touching]], n_branches)
    del side, touching, k
    mixed = junction[a] != junction[b]
    jside = np.where(junction[a], a, b)[mixed]
    oside = np.where(junction[a], b, a)[mixed]
    del a, b, mixed
    ends = _branch_ends(branch_of, node_of, endpoints, oside, jside, n_branches)
    del jside, oside, node_of, branch_of
    voxels_per_branch = np.bincount(b_of, minlength=n_branches)
    first_voxel = np.full(n_branches, n, np.int64)
    np.minimum.at(first_voxel, b_of, own)
    single = (voxels_per_branch == 1) & (degrees[first_voxel] == 0)
    kinds = _kinds(ends, single, n_junctions)
    ends[single] = -1
    # raster order of the first own voxel; voxels within a branch stay in raster order
    order = np.argsort(first_voxel, kind="stable")
    rank = np.empty(n_branches, np.int64)
    rank[order] = np.arange(n_branches)
    members = own[np.argsort(rank[b_of], kind="stable")]
    offsets = np.concatenate([[0], np.cumsum(voxels_per_branch[order])])
    table = BranchTable(
        voxels=coords[members],
        offsets=offsets,
        lengths=lengths[order],
        nodes=ends[order],
        kinds=kinds[order],
    )
    return SkeletonGraph(
        junctions=centres.reshape(-1, 3),
        endpoints=coords[endpoints].astype(np.int64),
        branches=table,
        shape=shape,
        voxel_size=voxel_size,
        junction_voxels=coords[jv].astype(np.int64),
    )
