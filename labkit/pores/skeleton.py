"""Curvilinear skeleton of the pore phase, spur pruning and the skeleton graph (via skan).

The skeleton is the 3-D thinning of Lee et al. (1994), voxel for voxel scikit-image's
(:mod:`labkit.pores.thinning`). The skeleton graph merges each cluster of touching junction
voxels into one junction, so a branch is the run of skeleton voxels between two junctions or end
points, and branches never share a voxel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from labkit._checks import check_binary_volume, check_nonnegative
from labkit.pores.io import check_voxel_size
from labkit.pores.volumes import check_volume

__all__ = ["Branch", "BranchTable", "SkeletonGraph", "prune", "skeleton_graph", "skeletonize"]


def skeletonize(volume: np.ndarray, method: str = "labkit") -> np.ndarray:
    """Curvilinear skeleton of the pore phase by 3-D thinning (Lee et al. 1994).

    Parameters
    ----------
    volume : numpy.ndarray of bool, 3-D
        ``True`` on the pore phase; must hold both phases. With ``method="subfield"`` it may
        also be a Zarr array, a :class:`labkit.pores.lazy.LazyVolume` or the path of one, read
        chunk by chunk (the skeleton is returned in memory; :func:`labkit.pores.analyse`
        writes it to a store instead).
    method : {"labkit", "skimage", "subfield", "lee"}
        ``"labkit"`` (or ``"lee"``, :func:`labkit.pores.thinning.thin`) gives scikit-image's
        skeleton voxel for voxel, about 3x faster on large volumes
        (``benchmarks/pores_thinning.py``); ``"skimage"`` runs
        :func:`skimage.morphology.skeletonize`, the reference. ``"subfield"``
        (:func:`labkit.pores.subfield.thin_subfield`) is the order-free parallel thinning whose
        result does not depend on traversal order or chunking, the one the chunked route
        (:mod:`labkit.pores.chunked`) uses.

    Returns
    -------
    numpy.ndarray of bool
        One-voxel-thin skeleton, a subset of ``volume``.

    Examples
    --------
    >>> from labkit.pores import tube_network
    >>> net = tube_network(24, radius=2.0)
    >>> skel = skeletonize(net.volume)
    >>> bool((skel <= net.volume).all()), int(skel.sum()) < int(net.volume.sum()) // 5
    (True, True)
    >>> bool((skeletonize(net.volume, method="skimage") == skel).all())
    True
    """
    if method == "subfield" and not isinstance(volume, np.ndarray):
        # a Zarr array, lazy volume or path: read chunk by chunk (labkit.pores.chunked)
        from labkit.pores.chunked import thin_chunked
        from labkit.pores.chunked_pipeline import _default_chunks, _source

        source, _ = _source(volume)
        shape = tuple(source.shape)
        return thin_chunked(source, _default_chunks(source, shape)) != 0
    volume = check_volume(volume)
    if method == "subfield":
        from labkit.pores.subfield import thin_subfield

        return thin_subfield(volume)
    if method in ("labkit", "lee"):
        from labkit.pores.thinning import thin

        return thin(volume)
    if method == "skimage":
        from skimage.morphology import skeletonize as _thin

        return _thin(volume).astype(bool, copy=False)
    raise ValueError(
        f"method must be 'labkit', 'lee', 'skimage' or 'subfield', got {method!r}"
    )


@dataclass
class Branch:
    """One skeleton branch.

    Attributes
    ----------
    voxels : numpy.ndarray, shape (k, 3)
        The branch's own voxels in path order (junction voxels excluded).
    length : float
        Length along the path from node to node, in units of the voxel size.
    nodes : tuple of int
        Indices into ``SkeletonGraph.nodes`` of the two ends; ``(-1, -1)`` for an isolated loop.
    kind : str
        ``"junction-junction"``, ``"junction-endpoint"``, ``"endpoint-endpoint"`` or ``"loop"``.
    """

    voxels: np.ndarray
    length: float
    nodes: tuple[int, int]
    kind: str

    def to_dict(self) -> dict:
        return {
            "n_voxels": int(len(self.voxels)),
            "length": float(self.length),
            "nodes": list(self.nodes),
            "kind": self.kind,
        }


KINDS = ("junction-junction", "junction-endpoint", "endpoint-endpoint", "loop", "point")


class BranchTable(Sequence):
    """Branches stored as arrays: a sequence of :class:`Branch` made on demand.

    A skeleton of a large volume has millions of branches; one Python object each would cost
    about a kilobyte apiece, so :func:`labkit.pores.sparse_graph.graph_from_voxels` keeps them
    as columns and builds a :class:`Branch` only when one is asked for.

    Parameters
    ----------
    voxels : numpy.ndarray of int, shape (N, 3)
        The own voxels of every branch, branch after branch.
    offsets : numpy.ndarray of int, shape (m + 1,)
        Branch ``k`` owns ``voxels[offsets[k]:offsets[k + 1]]``.
    lengths : numpy.ndarray of float, shape (m,)
    nodes : numpy.ndarray of int, shape (m, 2)
    kinds : numpy.ndarray of int, shape (m,)
        Index into :data:`KINDS`.

    Examples
    --------
    >>> import numpy as np
    >>> table = BranchTable(np.array([[0, 0, 0], [0, 0, 1], [5, 5, 5]]), np.array([0, 2, 3]),
    ...                     np.array([1.0, 0.0]), np.array([[0, 1], [-1, -1]]), np.array([1, 4]))
    >>> len(table), table[0].voxels.tolist(), table[1].kind, table.kind_counts()
    (2, [[0, 0, 0], [0, 0, 1]], 'point', {'junction-endpoint': 1, 'point': 1})
    """

    def __init__(self, voxels, offsets, lengths, nodes, kinds) -> None:
        self.voxels = np.asarray(voxels)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=float)
        self.nodes = np.asarray(nodes).reshape(-1, 2)
        self.kinds = np.asarray(kinds, dtype=np.int8)
        m = len(self.lengths)
        if not (len(self.offsets) == m + 1 and len(self.nodes) == m and len(self.kinds) == m):
            raise ValueError("offsets, lengths, nodes and kinds must describe the same branches")

    def __len__(self) -> int:
        return len(self.lengths)

    def _branch(self, k: int) -> Branch:
        a, b = self.offsets[k], self.offsets[k + 1]
        return Branch(
            voxels=self.voxels[a:b].astype(np.int64),
            length=float(self.lengths[k]),
            nodes=(int(self.nodes[k, 0]), int(self.nodes[k, 1])),
            kind=KINDS[self.kinds[k]],
        )

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self._branch(i) for i in range(*k.indices(len(self)))]
        k = int(k)
        if not -len(self) <= k < len(self):
            raise IndexError(f"branch {k} out of range for {len(self)} branches")
        return self._branch(k % len(self))

    def sizes(self) -> np.ndarray:
        """Voxels per branch."""
        return np.diff(self.offsets)

    def kind_counts(self) -> dict[str, int]:
        """Branches of each kind present, by name."""
        counts = np.bincount(self.kinds, minlength=len(KINDS))
        return {KINDS[i]: int(c) for i, c in enumerate(counts) if c}


@dataclass
class SkeletonGraph:
    """Junctions, end points and branches of a skeleton.

    Attributes
    ----------
    junctions : numpy.ndarray, shape (n_j, 3)
        Centroid (voxel coordinates) of each cluster of touching junction voxels.
    endpoints : numpy.ndarray, shape (n_e, 3)
        End-point voxels.
    branches : list of Branch or BranchTable
        Branch ``k`` is region ``k + 1`` in :func:`labkit.pores.partition`.
    shape : tuple of int
        Shape of the skeleton image.
    voxel_size : tuple of float
        Voxel size used for branch lengths.
    """

    junctions: np.ndarray
    endpoints: np.ndarray
    branches: Sequence[Branch]
    shape: tuple[int, int, int]
    voxel_size: tuple[float, float, float] = (1.0, 1.0, 1.0)
    junction_voxels: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), int))

    @property
    def nodes(self) -> np.ndarray:
        """Junctions followed by end points; ``Branch.nodes`` index this array."""
        return np.concatenate([self.junctions, self.endpoints.astype(float)])

    @property
    def lengths(self) -> np.ndarray:
        """Branch lengths."""
        if isinstance(self.branches, BranchTable):
            return self.branches.lengths.copy()
        return np.array([b.length for b in self.branches], dtype=float)

    def branch_voxels(self) -> tuple[np.ndarray, np.ndarray]:
        """The own voxels of all branches, branch after branch, and the voxels per branch."""
        if isinstance(self.branches, BranchTable):
            return self.branches.voxels, self.branches.sizes()
        voxels = np.concatenate([b.voxels for b in self.branches])
        return voxels, np.array([len(b.voxels) for b in self.branches])

    def branch_label_image(self) -> np.ndarray:
        """Integer image with ``k + 1`` on the own voxels of branch ``k`` and 0 elsewhere."""
        image = np.zeros(self.shape, dtype=np.int32)
        if len(self.branches):
            voxels, sizes = self.branch_voxels()
            image[tuple(voxels.T)] = np.repeat(np.arange(1, len(sizes) + 1, dtype=np.int32), sizes)
        return image

    def to_dict(self) -> dict:
        if isinstance(self.branches, BranchTable):
            counts = self.branches.kind_counts()
        else:
            kinds = [b.kind for b in self.branches]
            counts = {k: kinds.count(k) for k in sorted(set(kinds))}
        return {
            "n_junctions": int(len(self.junctions)),
            "n_endpoints": int(len(self.endpoints)),
            "n_branches": len(self.branches),
            "total_length": float(self.lengths.sum()),
            "kinds": dict(sorted(counts.items())),
        }


def kind_index(ends: np.ndarray, n_junctions: int) -> np.ndarray:
    """Index into :data:`KINDS` of each branch from the nodes at its two ends (``(k, 2)``;
    nodes below ``n_junctions`` are junctions, the others end points, ``-1`` none: a loop)."""
    ends = np.asarray(ends).reshape(-1, 2)
    at_junction = ends < n_junctions
    kinds = np.where(
        at_junction.all(axis=1), 0, np.where(at_junction.any(axis=1), 1, 2)
    ).astype(np.int8)
    kinds[ends[:, 0] == -1] = KINDS.index("loop")
    return kinds


def _touching_clusters(voxels: np.ndarray) -> tuple[int, np.ndarray]:
    """Number of 26-connected clusters among ``voxels`` (k x 3) and each voxel's cluster."""
    from scipy.spatial import cKDTree

    pairs = cKDTree(voxels).query_pairs(r=1.8, p=np.inf, output_type="ndarray")
    touching = sparse.coo_matrix(
        (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(voxels),) * 2
    )
    return csgraph.connected_components(touching, directed=False)


def skeleton_graph(skeleton: np.ndarray, voxel_size=1.0) -> SkeletonGraph:
    """Build the graph of a skeleton with skan, merging touching junction voxels.

    ``skan.Skeleton`` gives the voxel graph and the paths; junction clusters and their centres
    come from that graph's voxel list, so no step after skan's touches the whole image.

    Parameters
    ----------
    skeleton : numpy.ndarray of bool, 3-D
        A one-voxel-thin skeleton, e.g. from :func:`skeletonize`.
    voxel_size : float or 3 floats
        Voxel size per axis, for branch lengths.

    Returns
    -------
    SkeletonGraph

    Raises
    ------
    ValueError
        If the skeleton has no voxel.

    Examples
    --------
    >>> from labkit.pores import tube_network
    >>> net = tube_network(32, radius=2.0)
    >>> g = skeleton_graph(skeletonize(net.volume))
    >>> len(g.junctions), len(g.endpoints), len(g.branches)
    (4, 4, 8)
    """
    skeleton = check_binary_volume("skeleton", skeleton)
    voxel_size = check_voxel_size(voxel_size)
    if not skeleton.any():
        raise ValueError("skeleton has no voxel, so it has no branch")
    import skan

    skel = skan.Skeleton(skeleton, spacing=voxel_size)
    coords = np.asarray(skel.coordinates, dtype=np.int64)
    degrees = np.asarray(skel.degrees)
    is_junction = degrees >= 3

    junction_pixels = np.flatnonzero(is_junction)
    n_junctions, clusters = _touching_clusters(coords[junction_pixels])
    node_of = np.full(len(coords), -1, dtype=np.int64)
    node_of[junction_pixels] = clusters
    endpoint_pixels = np.flatnonzero(degrees == 1)
    node_of[endpoint_pixels] = n_junctions + np.arange(len(endpoint_pixels))
    sizes = np.bincount(clusters, minlength=n_junctions)
    junctions = (
        np.stack(
            [np.bincount(clusters, coords[junction_pixels, a], n_junctions) for a in range(3)],
            axis=1,
        )
        / sizes[:, None]
    )

    indptr, path = skel.paths.indptr, skel.paths.indices
    lengths = np.asarray(skel.path_lengths(), dtype=float)
    first, last = path[indptr[:-1]], path[indptr[1:] - 1]
    ends = np.stack([node_of[first], node_of[last]], axis=1)
    own = ~is_junction[path]
    closed = (first == last) & (ends[:, 0] == -1) & (ends[:, 1] == -1)
    own[indptr[1:][closed] - 1] = False
    counts = np.add.reduceat(own, indptr[:-1]) if len(path) else np.zeros(0, np.int64)
    voxels = np.split(coords[path[own]], np.cumsum(counts)[:-1])
    kinds = kind_index(ends, n_junctions)
    branches = [
        Branch(
            voxels=voxels[k], length=float(lengths[k]), nodes=(int(a), int(b)),
            kind=KINDS[kinds[k]],
        )
        for k, (a, b) in enumerate(ends.tolist())
        if counts[k]
    ]
    for p in np.flatnonzero(degrees == 0):
        branches.append(Branch(voxels=coords[[p]], length=0.0, nodes=(-1, -1), kind="point"))
    return SkeletonGraph(
        junctions=junctions.reshape(-1, 3),
        endpoints=coords[endpoint_pixels],
        branches=branches,
        shape=skeleton.shape,
        voxel_size=voxel_size,
        junction_voxels=coords[is_junction],
    )


def prune(skeleton: np.ndarray, min_length: float, voxel_size=1.0, max_rounds: int = 10):
    """Remove spurs (junction-to-end-point branches) shorter than ``min_length``.

    Pruning repeats until no spur is shorter than ``min_length`` (or ``max_rounds`` is
    reached), so stubs left at a junction after a round go in the next one. Isolated pieces
    are kept so that every pore cluster keeps a branch.

    Examples
    --------
    >>> import numpy as np
    >>> s = np.zeros((9, 9, 9), bool)
    >>> s[4, 1:8, 4] = True          # a line ...
    >>> s[4, 4, 5:7] = True          # ... with a 2-voxel spur
    >>> pruned = prune(s, min_length=3)
    >>> int(s.sum()), int(pruned.sum())
    (9, 7)
    """
    skeleton = check_binary_volume("skeleton", skeleton).copy()
    check_nonnegative("min_length", min_length)
    for _ in range(max_rounds):
        if not skeleton.any():
            break
        graph = skeleton_graph(skeleton, voxel_size)
        spurs = [
            b for b in graph.branches if b.kind == "junction-endpoint" and b.length < min_length
        ]
        if not spurs:
            break
        for b in spurs:
            skeleton[tuple(b.voxels.T)] = False
    return skeleton
