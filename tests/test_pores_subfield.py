"""Subfield-based parallel curve thinning: topology, built networks, order-freeness."""

import itertools

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import euler_number

import labkit.pores as lp
from labkit.pores.subfield import thin_block, thin_subfield

CUBE = np.ones((3, 3, 3), bool)


def tube_lattice(size: int, radius: float, n: int = 3) -> lp.TubeNetwork:
    """``n``-cubed nodes on a grid, each joined to its axis neighbours: every node is a
    junction (degree >= 3), ``3 * n**2 * (n - 1)`` branches."""
    pos = np.round(np.linspace(0.2 * size, 0.8 * size, n))
    nodes = np.array(list(itertools.product(pos, pos, pos)))
    index = np.arange(n**3).reshape(n, n, n)
    edges = np.concatenate(
        [
            np.stack(
                [np.take(index, range(n - 1), axis=a).ravel(),
                 np.take(index, range(1, n), axis=a).ravel()], axis=1,
            )
            for a in range(3)
        ]
    )
    return lp.tube_network(size, radius, nodes=nodes, edges=edges)


def betti(volume: np.ndarray) -> tuple[int, int, int]:
    """Components (26-connected), independent cycles and cavities of a binary volume."""
    b0 = ndimage.label(volume, CUBE)[1]
    # cavities: 6-connected background components that do not reach the outside
    b2 = ndimage.label(~np.pad(volume, 1))[1] - 1
    chi = euler_number(volume, connectivity=3)
    return b0, b0 + b2 - chi, b2


def _nearest_node(net, point):
    return int(np.argmin(np.linalg.norm(net.nodes - point, axis=1)))


def _check_built_graph(net, graph, radius):
    """Junctions and end points sit on distinct built nodes; branches are the built edges."""
    assert len(graph.junctions) == len(net.junctions)
    assert len(graph.endpoints) == len(net.endpoints)
    assert len(graph.branches) == len(net.edges)
    found_j = [_nearest_node(net, p) for p in graph.junctions]
    found_e = [_nearest_node(net, p) for p in graph.endpoints]
    assert sorted(found_j) == sorted(net.junctions.tolist())
    assert sorted(found_e) == sorted(net.endpoints.tolist())
    # within the tube, give or take one voxel where the corner of a square loop is cut
    assert np.max(np.linalg.norm(graph.junctions - net.nodes[found_j], axis=1)) <= radius + 1
    node_map = found_j + found_e
    built = sorted(tuple(sorted(e)) for e in net.edges.tolist())
    got = sorted(tuple(sorted(node_map[i] for i in b.nodes)) for b in graph.branches)
    assert got == built


@pytest.mark.parametrize("size, radius", [(32, 2.0), (40, 2.5), (48, 3.0)])
def test_tube_network_gives_the_built_junctions_branches_and_regions(size, radius):
    net = lp.tube_network(size, radius)
    skel = lp.skeletonize(net.volume, method="subfield")
    assert np.array_equal(skel, thin_subfield(net.volume))
    _check_built_graph(net, lp.skeleton_graph(skel), radius)
    assert lp.region_graph(lp.partition(net.volume, skel)).n_nodes == len(net.edges)


@pytest.mark.parametrize("size, radius", [(40, 2.5), (48, 3.0)])
def test_tube_lattice_has_27_junctions_54_branches_and_54_regions(size, radius):
    net = tube_lattice(size, radius)
    assert (len(net.junctions), len(net.edges)) == (27, 54)
    skel = thin_subfield(net.volume)
    graph = lp.skeleton_graph(skel)
    _check_built_graph(net, graph, radius)
    assert {b.kind for b in graph.branches} == {"junction-junction"}
    labels = lp.partition(net.volume, skel, graph=graph)
    assert lp.region_graph(labels).n_nodes == 54
    assert betti(skel) == betti(net.volume) == (1, 28, 0)  # 54 - 27 + 1 independent cycles


@pytest.mark.parametrize("shape, porosity, seed", [(48, 0.35, 0), ((40, 52, 44), 0.3, 5)])
def test_blobs_keep_components_cycles_and_cavities(shape, porosity, seed):
    volume = lp.blobs(shape, porosity=porosity, blobiness=1.5, seed=seed)
    skel = thin_subfield(volume)
    assert not np.any(skel & ~volume)
    assert betti(skel) == betti(volume)
    # as thin as Lee's skeleton, within 5 % of its voxel count
    assert abs(int(skel.sum()) - int(lp.skeletonize(volume).sum())) < 0.05 * skel.sum()


def test_result_does_not_depend_on_the_order_of_visits():
    # mirroring an odd-sized axis keeps every voxel's subfield, so an order-free thinning
    # commutes with it; a sequential thinning (Lee's) generally does not
    volume = lp.blobs((41, 45, 39), porosity=0.35, seed=3)
    skel = thin_subfield(volume)
    for axes in [(0,), (1,), (2,), (0, 1, 2)]:
        assert np.array_equal(thin_subfield(np.flip(volume, axes)), np.flip(skel, axes))


def test_topology_of_small_shapes():
    ring = np.zeros((3, 9, 9), bool)
    ring[1, 2:7, 2:7] = True
    ring[1, 4, 4] = False
    shell = np.zeros((9, 9, 9), bool)
    shell[1:8, 1:8, 1:8] = True
    shell[3:6, 3:6, 3:6] = False  # a closed shell around a solid cavity
    full = np.zeros((6, 6, 6), bool)
    full[1:5, 1:5, 1:5] = True  # a 4-cube thins to a point, not to nothing
    for volume, expected in [(ring, (1, 1, 0)), (shell, (1, 0, 1)), (full, (1, 0, 0))]:
        skel = thin_subfield(volume)
        assert betti(skel) == betti(volume) == expected
    assert thin_subfield(np.zeros((4, 4, 4), bool)).sum() == 0


def test_thin_block_run_to_the_fixed_point_is_the_whole_thinning():
    volume = lp.blobs(36, porosity=0.4, seed=2)
    state, deleted = thin_block(volume, (0, 0, 0), 0, 100_000)
    skel = thin_subfield(volume)
    assert np.array_equal(state != 0, skel)
    assert deleted == volume.sum() - skel.sum()
    # restarting from the fixed point changes nothing
    again, deleted_again = thin_block(state, (0, 0, 0), 5, 64)
    assert np.array_equal(again, state) and deleted_again == 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="3-D"):
        thin_subfield(np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match="binary"):
        thin_subfield(np.full((3, 3, 3), 2))
    with pytest.raises(TypeError, match="state"):
        thin_block(np.zeros((3, 3, 3), np.int32), (0, 0, 0), 0, 1)
    with pytest.raises(ValueError, match="0, 1 or 2"):
        thin_block(np.full((3, 3, 3), 3, np.uint8), (0, 0, 0), 0, 1)
    with pytest.raises(ValueError, match="origin"):
        thin_block(np.zeros((3, 3, 3), bool), (0, 0), 0, 1)
    with pytest.raises(ValueError, match="method"):
        lp.skeletonize(lp.blobs(8, seed=0), method="nope")
