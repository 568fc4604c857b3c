"""Skeleton, skeleton graph and pruning for labkit.pores."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import euler_number

import labkit.pores as lp


def _nearest_node(net, point):
    return int(np.argmin(np.linalg.norm(net.nodes - point, axis=1)))


@pytest.mark.parametrize("size, radius", [(32, 2.0), (40, 2.5), (48, 3.0)])
def test_tube_network_skeleton_has_the_built_junctions_and_branches(size, radius):
    net = lp.tube_network(size, radius)
    graph = lp.skeleton_graph(lp.skeletonize(net.volume))
    assert len(graph.junctions) == len(net.junctions) == 4
    assert len(graph.endpoints) == len(net.endpoints) == 4
    assert len(graph.branches) == len(net.edges) == 8
    # every found junction / end point sits on a distinct built node of the same kind
    found_j = [_nearest_node(net, p) for p in graph.junctions]
    found_e = [_nearest_node(net, p) for p in graph.endpoints]
    assert sorted(found_j) == sorted(net.junctions.tolist())
    assert sorted(found_e) == sorted(net.endpoints.tolist())
    assert np.max(np.linalg.norm(graph.junctions - net.nodes[found_j], axis=1)) <= radius
    # every branch joins the two built nodes of one built edge, each edge exactly once
    node_map = found_j + found_e
    built = sorted(tuple(sorted(e)) for e in net.edges.tolist())
    got = sorted(tuple(sorted(node_map[i] for i in b.nodes)) for b in graph.branches)
    assert got == built
    # branch lengths match the edges they follow, up to the tube radius at free ends
    for b in graph.branches:
        i, j = (node_map[k] for k in b.nodes)
        assert abs(b.length - np.linalg.norm(net.nodes[i] - net.nodes[j])) <= radius + 1.5


def test_thinning_keeps_the_topology_of_blobs():
    v = lp.blobs(40, porosity=0.35, blobiness=1.5, seed=4)
    skel = lp.skeletonize(v)
    assert not np.any(skel & ~v)
    cube = np.ones((3, 3, 3))
    assert ndimage.label(skel, cube)[1] == ndimage.label(v, cube)[1]
    assert euler_number(skel, connectivity=3) == euler_number(v, connectivity=3)


def test_branches_partition_the_non_junction_skeleton_voxels():
    skel = lp.skeletonize(lp.blobs(40, porosity=0.35, seed=2))
    graph = lp.skeleton_graph(skel)
    own = graph.branch_label_image()
    junction = np.zeros_like(skel)
    junction[tuple(graph.junction_voxels.T)] = True
    assert np.array_equal(own > 0, skel & ~junction)
    counts = np.bincount(own.ravel())[1:]
    assert np.array_equal(counts, [len(b.voxels) for b in graph.branches])


def test_junction_clusters_merge_into_one_junction():
    s = np.zeros((9, 12, 12), bool)
    s[4, 1:11, 5] = True
    s[4, 5, 6:11] = True  # a side arm at y = 5 ...
    s[4, 6, 1:5] = True  # ... and one at y = 6: two touching junction voxels
    graph = lp.skeleton_graph(s)
    assert len(graph.junction_voxels) == 2
    assert len(graph.junctions) == 1
    assert np.allclose(graph.junctions[0], [4, 5.5, 5])
    assert len(graph.endpoints) == 4 and len(graph.branches) == 4
    assert {b.kind for b in graph.branches} == {"junction-endpoint"}
    assert sorted(len(b.voxels) for b in graph.branches) == [4, 4, 4, 5]


def test_loops_points_and_anisotropic_lengths():
    s = np.zeros((6, 12, 12), bool)
    s[1, 2:9, 3] = True  # a straight 7-voxel line along y
    ring = np.zeros((12, 12), bool)
    yy, xx = np.indices(ring.shape)
    ring[np.abs(np.hypot(yy - 5.5, xx - 5.5) - 4) < 0.5] = True
    s[4] = lp.skeletonize(np.pad(ring[None], ((1, 1), (0, 0), (0, 0))))[1]
    s[1, 10, 10] = True  # an isolated voxel
    graph = lp.skeleton_graph(s, voxel_size=(3.0, 2.0, 1.0))
    kinds = sorted(b.kind for b in graph.branches)
    assert kinds == ["endpoint-endpoint", "loop", "point"]
    line = next(b for b in graph.branches if b.kind == "endpoint-endpoint")
    assert line.length == pytest.approx(6 * 2.0)
    assert graph.to_dict()["n_branches"] == 3


def test_prune_removes_short_spurs_only():
    s = np.zeros((5, 20, 20), bool)
    s[2, 2:18, 10] = True  # main line
    s[2, 10, 11:13] = True  # 2-voxel spur
    s[2, 6, 11:18] = True  # 7-voxel branch; the main line's end above it is 4 long
    pruned = lp.prune(s, min_length=3.5)
    expected = s.copy()
    expected[2, 10, 11:13] = False
    assert np.array_equal(pruned, expected)
    assert np.array_equal(lp.prune(s, min_length=0), s)
    assert len(lp.skeleton_graph(pruned).branches) == 3


def test_bad_skeletons():
    with pytest.raises(ValueError, match="no branch"):
        lp.skeleton_graph(np.zeros((4, 4, 4), bool))
    with pytest.raises(ValueError, match="binary"):
        lp.skeleton_graph(np.full((4, 4, 4), 2))
    with pytest.raises(ValueError, match="min_length"):
        lp.prune(np.ones((3, 3, 3), bool), min_length=-1)


def _skan_graph(skeleton, voxel_size):
    """The skeleton graph built directly on skan.Skeleton (the reference implementation)."""
    import skan

    skel = skan.Skeleton(skeleton, spacing=voxel_size)
    coords = np.asarray(skel.coordinates, dtype=np.int64)
    degrees = np.asarray(skel.degrees)
    is_junction = degrees >= 3
    junction_image = np.zeros(skeleton.shape, dtype=bool)
    junction_image[tuple(coords[is_junction].T)] = True
    clusters, n_junctions = ndimage.label(junction_image, structure=np.ones((3, 3, 3)))
    node_of = np.full(len(coords), -1)
    node_of[is_junction] = clusters[tuple(coords[is_junction].T)] - 1
    endpoints = np.flatnonzero(degrees == 1)
    node_of[endpoints] = n_junctions + np.arange(len(endpoints))
    centres = ndimage.center_of_mass(junction_image, clusters, range(1, n_junctions + 1))
    branches = []
    for i, length in enumerate(skel.path_lengths()):
        path = np.asarray(skel.path(i))
        ends = (int(node_of[path[0]]), int(node_of[path[-1]]))
        if path[0] == path[-1] and ends == (-1, -1):
            path = path[:-1]
        own = path[~is_junction[path]]
        if len(own):
            branches.append((coords[own], float(length), ends))
    branches += [(coords[[p]], 0.0, (-1, -1)) for p in np.flatnonzero(degrees == 0)]
    return np.reshape(centres, (-1, 3)), coords[endpoints], coords[is_junction], branches


@pytest.mark.parametrize("voxel_size", [1.0, (1.0, 1.5, 0.75)])
def test_skeleton_graph_matches_skan(voxel_size):
    rng = np.random.default_rng(7)
    skeletons = [lp.skeletonize(lp.blobs(36, porosity=p, seed=s)) for p, s in [(0.35, 0), (0.5, 1)]]
    skeletons.append(rng.random((12, 13, 14)) < 0.25)  # thick: many touching junction voxels
    for skeleton in skeletons:
        graph = lp.skeleton_graph(skeleton, voxel_size)
        junctions, endpoints, junction_voxels, branches = _skan_graph(skeleton, voxel_size)
        assert np.allclose(graph.junctions, junctions, rtol=0, atol=1e-12)
        assert np.array_equal(graph.endpoints, endpoints)
        assert np.array_equal(graph.junction_voxels, junction_voxels)
        assert len(graph.branches) == len(branches)
        for ours, (voxels, length, ends) in zip(graph.branches, branches, strict=True):
            assert np.array_equal(ours.voxels, voxels)
            assert ours.length == length and ours.nodes == ends
