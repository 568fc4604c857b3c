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


def _nearest_distance_per_label(points, seeds, voxel_size):
    """Distance from each point to the nearest seed of every label (brute force, KD-trees)."""
    spacing = np.broadcast_to(np.asarray(voxel_size, float), (3,))
    labels = np.unique(seeds[seeds > 0])
    trees = [cKDTree(np.argwhere(seeds == k) * spacing) for k in labels]
    return labels, np.stack([tree.query(points * spacing)[0] for tree in trees], axis=1)


@pytest.mark.parametrize("voxel_size", [1.0, (1.0, 1.5, 0.75), (0.3, 0.7, 1.1)])
def test_nearest_seed_labels_is_exact_and_agrees_with_scipy_off_ties(voxel_size):
    from labkit.pores.nearest import nearest_seed_labels

    rng = np.random.default_rng(11)
    shape = (19, 23, 27)
    seeds = np.zeros(shape, np.int32)
    where = rng.random(shape) < 0.004
    seeds[where] = rng.integers(1, 9, where.sum())
    mask = rng.random(shape) < 0.5
    ours, reach = nearest_seed_labels(
        np.argwhere(seeds), seeds[where], shape, voxel_size, mask=mask, return_distance=True
    )
    assert np.array_equal(ours, nearest_seed_labels(np.argwhere(seeds), seeds[where], shape,
                                                    voxel_size, mask=mask))
    assert np.array_equal(ours == 0, ~mask)
    distance, indices = ndimage.distance_transform_edt(
        seeds == 0, sampling=voxel_size, return_indices=True
    )
    # the distances it returns are scipy's, to float32 rounding, and 0 off the mask
    assert reach.dtype == np.float32 and not reach[~mask].any()
    assert np.allclose(reach[mask], distance[mask], rtol=1e-6, atol=0)
    theirs = seeds[tuple(indices)]
    points = np.argwhere(mask)
    labels, per_label = _nearest_distance_per_label(points, seeds, voxel_size)
    own = per_label[np.arange(len(points)), np.searchsorted(labels, ours[mask])]
    assert np.allclose(own, distance[mask], rtol=1e-12, atol=1e-12)
    # where no other label is as near, the label is scipy's
    second = np.sort(per_label, axis=1)[:, 1]
    clear = second > distance[mask] + 1e-9
    assert clear.mean() > 0.9
    assert np.array_equal(ours[mask][clear], theirs[mask][clear])
    if voxel_size != (0.3, 0.7, 1.1):  # exact squared distances: ties go scipy's way too
        assert np.array_equal(ours[mask], theirs[mask])


@pytest.mark.parametrize("voxel_size", [1.0, (1.0, 1.5, 0.75)])
def test_partition_equals_scipy_feature_transform_on_blobs(voxel_size):
    # notebook 07's exercise builds the partition with scipy and compares with atol=0
    volume = lp.blobs(40, porosity=0.35, seed=2)
    skeleton = lp.skeletonize(volume)
    graph = lp.skeleton_graph(skeleton, voxel_size)
    seeds = graph.branch_label_image()
    nearest = ndimage.distance_transform_edt(
        seeds == 0, sampling=voxel_size, return_distances=False, return_indices=True
    )
    expected = np.where(volume, seeds[tuple(nearest)], 0)
    labels = lp.partition(volume, skeleton, graph=graph, voxel_size=voxel_size)
    assert labels.dtype == np.int32
    assert np.array_equal(labels, expected)


def test_nearest_seed_labels_checks_its_arguments():
    from labkit.pores.nearest import nearest_seed_labels

    one = np.array([[0, 0, 0]])
    with pytest.raises(ValueError, match="coords"):
        nearest_seed_labels(np.zeros((0, 3), int), np.zeros(0, int), (2, 2, 2))
    with pytest.raises(ValueError, match="inside shape"):
        nearest_seed_labels(np.array([[0, 0, 2]]), [1], (2, 2, 2))
    with pytest.raises(TypeError, match="integers"):
        nearest_seed_labels(one.astype(float), [1], (2, 2, 2))
    with pytest.raises(ValueError, match="values"):
        nearest_seed_labels(one, [1, 2], (2, 2, 2))
    with pytest.raises(ValueError, match="mask"):
        nearest_seed_labels(one, [1], (2, 2, 2), mask=np.ones((2, 2, 3), bool))
    with pytest.raises(ValueError, match="voxel_size"):
        nearest_seed_labels(one, [1], (2, 2, 2), voxel_size=0.0)


def _reference_region_graph(labels, voxel_size):
    """Region attributes with plain numpy and skimage (the previous implementation)."""
    n = int(labels.max())
    spacing = np.broadcast_to(np.asarray(voxel_size, float), (3,))
    face = np.prod(spacing) / spacing
    counts = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    grid = np.indices(labels.shape).reshape(3, -1)
    sums = np.stack([np.bincount(labels.ravel(), g, n + 1)[1:] for g in grid], axis=1)
    surface = np.zeros(n + 1)
    keys, weights = [], []
    for axis in range(3):
        a, b = (
            np.moveaxis(labels, axis, 0)[s].ravel().astype(np.int64)
            for s in (np.s_[:-1], np.s_[1:])
        )
        differ = a != b
        a, b = a[differ], b[differ]
        surface += face[axis] * np.bincount(np.concatenate([a[b == 0], b[a == 0]]), minlength=n + 1)
        both = (a > 0) & (b > 0)
        keys.append(np.minimum(a, b)[both] * (n + 1) + np.maximum(a, b)[both])
        weights.append(np.full(both.sum(), face[axis]))
    unique, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    areas = np.bincount(inverse, np.concatenate(weights), len(unique))
    pairs = np.stack([unique // (n + 1), unique % (n + 1)], axis=1) - 1
    pieces = connected_components(labels, background=0, connectivity=1)
    owner, n_pieces = np.unique(
        np.unique(labels.astype(np.int64) * (pieces.max() + 1) + pieces)[1:] // (pieces.max() + 1),
        return_counts=True,
    )
    return counts, sums / counts[:, None] * spacing, surface[1:], pairs, areas, owner[n_pieces > 1]


@pytest.mark.parametrize("voxel_size", [1.0, (2.0, 0.5, 0.25), (0.3, 0.7, 1.1)])
def test_region_graph_matches_the_numpy_reference(voxel_size):
    rng = np.random.default_rng(5)
    cases = [lp.partition(lp.blobs(40, porosity=p, seed=s)) for p, s in [(0.35, 3), (0.5, 4)]]
    cases.append(rng.integers(0, 700, (30, 40, 50)).astype(np.int32))  # many pairs
    cases[-1].reshape(-1)[:700] = np.arange(700)  # every label present
    cases.append(rng.integers(0, 3, (20, 21, 22)).astype(np.int32))  # winding, branching pieces
    for labels in cases:
        graph = lp.region_graph(labels, voxel_size=voxel_size)
        counts, centroids, surface, pairs, areas, split = _reference_region_graph(
            labels, voxel_size
        )
        assert np.array_equal(graph.volumes, counts * np.prod(np.broadcast_to(voxel_size, 3)))
        assert np.array_equal(graph.centroids, centroids)
        assert np.array_equal(graph.contacts.pairs, pairs)
        assert np.array_equal(graph.disconnected, split)
        assert np.allclose(graph.surface_areas, surface, rtol=1e-13, atol=0)
        assert np.allclose(graph.contacts.areas, areas, rtol=1e-13, atol=0)
        if voxel_size != (0.3, 0.7, 1.1):  # dyadic face areas: sums are exact
            assert np.array_equal(graph.surface_areas, surface)
            assert np.array_equal(graph.contacts.areas, areas)
