"""Skeleton partition and region-graph attributes for labkit.pores."""

import itertools

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.measure import label as connected_components

import labkit.pores as lp


def _brute_force_faces(labels, voxel_size):
    """Face-adjacent pairs counted voxel by voxel: contacts[(a, b)], surfaces[a]."""
    contacts, surfaces = {}, {}
    face = np.prod(voxel_size) / np.asarray(voxel_size)
    shape = labels.shape
    for idx in itertools.product(*(range(s) for s in shape)):
        for axis in range(3):
            nb = list(idx)
            nb[axis] += 1
            if nb[axis] >= shape[axis]:
                continue
            a, b = int(labels[idx]), int(labels[tuple(nb)])
            if a == b:
                continue
            if a and b:
                contacts[(a, b)] = contacts.get((a, b), 0.0) + face[axis]
                contacts[(b, a)] = contacts.get((b, a), 0.0) + face[axis]
            for one, other in ((a, b), (b, a)):
                if one and not other:
                    surfaces[one] = surfaces.get(one, 0.0) + face[axis]
    return contacts, surfaces


@pytest.mark.parametrize("size, radius", [(32, 2.0), (40, 2.5)])
def test_tube_network_gives_one_connected_region_per_branch(size, radius):
    net = lp.tube_network(size, radius)
    skel = lp.skeletonize(net.volume)
    graph = lp.skeleton_graph(skel)
    labels = lp.partition(net.volume, skel)
    assert labels.max() == len(graph.branches) == len(net.edges)
    assert np.array_equal(labels > 0, net.volume)
    regions = lp.region_graph(labels)
    assert regions.volumes.sum() == net.volume.sum()
    assert len(regions.disconnected) == 0
    for k, branch in enumerate(graph.branches):
        assert np.all(labels[tuple(branch.voxels.T)] == k + 1)
    # each region touches exactly the regions of the branches sharing a node with it
    shares_node = {
        (i, j)
        for i, j in itertools.combinations(range(len(graph.branches)), 2)
        if set(graph.branches[i].nodes) & set(graph.branches[j].nodes)
    }
    assert {tuple(p) for p in regions.contacts.pairs.tolist()} == shares_node


def test_partition_assigns_the_nearest_branch():
    volume = lp.blobs(28, porosity=0.4, blobiness=1.5, seed=5)
    voxel_size = (1.0, 1.5, 0.75)
    skel = lp.skeletonize(volume)
    graph = lp.skeleton_graph(skel, voxel_size)
    labels = lp.partition(volume, skel, voxel_size=voxel_size)
    seeds = graph.branch_label_image()
    seed_points = np.argwhere(seeds) * voxel_size
    pore = np.argwhere(volume)
    dist, _ = cKDTree(seed_points).query(pore * voxel_size)
    # distance to the nearest voxel of the assigned branch equals the overall nearest distance
    assigned = labels[tuple(pore.T)]
    per_branch = {k: cKDTree(np.argwhere(seeds == k) * voxel_size) for k in np.unique(assigned)}
    own = np.array(
        [per_branch[k].query(p * voxel_size)[0] for k, p in zip(assigned, pore, strict=True)]
    )
    assert np.allclose(own, dist, atol=1e-9)
    assert labels.max() == len(graph.branches)


@pytest.mark.parametrize("voxel_size", [1.0, (2.0, 1.0, 0.5)])
def test_region_attributes_match_brute_force(voxel_size):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, (6, 7, 8)).astype(np.int32)
    labels[0, 0, :5] = [1, 2, 3, 4, 0]  # every label present
    graph = lp.region_graph(labels, voxel_size=voxel_size, check_connectivity=False)
    spacing = np.broadcast_to(np.asarray(voxel_size, float), (3,))
    contacts, surfaces = _brute_force_faces(labels, spacing)

    matrix = graph.contacts.matrix(graph.n_nodes).toarray()
    assert np.array_equal(matrix, matrix.T)
    for (a, b), area in contacts.items():
        assert matrix[a - 1, b - 1] == pytest.approx(area)
    assert matrix.sum() == pytest.approx(sum(contacts.values()))
    assert np.all(graph.contacts.pairs[:, 0] < graph.contacts.pairs[:, 1])
    assert np.allclose(graph.surface_areas, [surfaces.get(k, 0.0) for k in range(1, 5)])

    volumes = np.bincount(labels.ravel())[1:] * np.prod(spacing)
    assert np.allclose(graph.volumes, volumes)
    com = np.array(ndimage.center_of_mass(np.ones_like(labels), labels, range(1, 5)))
    assert np.allclose(graph.centroids, com * spacing)
    i, j = graph.contacts.pairs.T
    assert np.allclose(
        graph.contacts.distances, np.linalg.norm((com[i] - com[j]) * spacing, axis=1)
    )


def test_contacts_add_up_to_face_pairs_across_labels_on_blobs():
    volume = lp.blobs(32, porosity=0.4, seed=1)
    labels = lp.partition(volume)
    graph = lp.region_graph(labels)
    across = 0
    for axis in range(3):
        a = np.moveaxis(labels, axis, 0)
        lo, hi = a[:-1], a[1:]
        across += int(np.count_nonzero((lo > 0) & (hi > 0) & (lo != hi)))
    assert graph.contacts.areas.sum() == across
    m = graph.contacts.matrix(graph.n_nodes)
    assert (m - m.T).nnz == 0
    assert graph.volumes.sum() == volume.sum()
    unsigned = lp.region_graph(labels.astype(np.uint64), check_connectivity=False)
    assert np.array_equal(unsigned.contacts.areas, graph.contacts.areas)
    assert np.allclose(unsigned.centroids, graph.centroids)


def test_disconnected_regions_are_reported():
    labels = np.zeros((3, 3, 7), np.int32)
    labels[1, 1] = [1, 1, 2, 1, 0, 3, 3]
    labels[0, 0, 6] = 2  # a lone voxel of region 2, touching nothing of its own
    assert lp.disconnected_regions(labels).tolist() == [1, 2]
    assert lp.region_graph(labels).disconnected.tolist() == [1, 2]


def test_matches_porespy_regions_to_network_where_definitions_agree():
    ps = pytest.importorskip("porespy")
    net = lp.tube_network(32, 2.0)
    labels = lp.partition(net.volume)
    ours = lp.region_graph(labels, voxel_size=2.0)
    theirs = ps.networks.regions_to_network(labels, voxel_size=2.0)
    assert np.allclose(ours.volumes, theirs["pore.region_volume"])
    assert np.allclose(ours.centroids, theirs["pore.geometric_centroid"])
    assert sorted(map(tuple, ours.contacts.pairs.tolist())) == sorted(
        map(tuple, np.sort(theirs["throat.conns"], axis=1).tolist())
    )


def test_bad_partition_inputs():
    net = lp.tube_network(24, 2.0)
    with pytest.raises(ValueError, match="all solid"):
        lp.partition(np.zeros((5, 5, 5), bool))
    with pytest.raises(ValueError, match="all pore"):
        lp.partition(np.ones((5, 5, 5), bool))
    with pytest.raises(ValueError, match="binary"):
        lp.partition(net.volume * 3)
    with pytest.raises(ValueError, match="no skeleton branch"):
        lp.partition(net.volume, skeleton=np.zeros_like(net.volume))
    outside = lp.skeletonize(net.volume)
    outside[0, 0, 0] = True
    with pytest.raises(ValueError, match="outside the pore phase"):
        lp.partition(net.volume, skeleton=outside)
    with pytest.raises(ValueError, match="voxel_size"):
        lp.partition(net.volume, voxel_size=(1.0, 0.0, 1.0))
    labels = np.zeros((3, 3, 3), np.int32)
    labels[1, 1, 1] = 2
    with pytest.raises(ValueError, match="label 1 has no voxel"):
        lp.region_graph(labels)
    with pytest.raises(TypeError, match="integer"):
        lp.region_graph(labels.astype(float))
    with pytest.raises(ValueError, match="no region"):
        lp.region_graph(np.zeros((3, 3, 3), np.int32))
    with pytest.raises(ValueError, match="voxel_size"):
        lp.region_graph(labels.clip(0, 1), voxel_size=-1.0)


def test_merge_fragments_makes_regions_connected_and_keeps_every_label():
    volume = lp.blobs(32, porosity=0.4, seed=1)
    skel = lp.skeletonize(volume)
    plain = lp.partition(volume, skel)
    merged = lp.partition(volume, skel, merge=True)
    assert len(lp.disconnected_regions(plain)) > 0
    assert len(lp.disconnected_regions(merged)) < len(lp.disconnected_regions(plain)) / 4
    # the fragments left are pore pieces that touch no other pore voxel across a face
    pieces = connected_components(merged, background=0, connectivity=1)
    pore_parts = ndimage.label(volume)[0]  # face connectivity
    for k in lp.disconnected_regions(merged):
        sizes = np.bincount(pieces[merged == k])
        for piece in np.flatnonzero(sizes)[np.flatnonzero(sizes) != np.argmax(sizes)]:
            part = np.unique(pore_parts[pieces == piece])
            assert len(part) == 1 and np.sum(pore_parts == part[0]) == sizes[piece]
    assert np.array_equal(merged > 0, volume)
    assert np.array_equal(np.unique(merged), np.unique(plain))
    # only voxels outside each label's largest piece moved
    pieces = connected_components(plain, background=0, connectivity=1)
    moved = merged != plain
    for k in np.unique(plain[moved]):
        sizes = np.bincount(pieces[(plain == k)])
        main = np.argmax(sizes)
        assert not np.any(moved & (pieces == main))
