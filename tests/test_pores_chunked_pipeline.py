"""The chunked pipeline on Dask against the in-memory pipeline, chunk invariance, bad input."""

import numpy as np
import pytest
import zarr

import labkit.pores as lp
from labkit.cluster import dask_client
from labkit.pores.chunked_pipeline import analyse
from labkit.pores.lazy import blobs_to_zarr, open_volume
from labkit.pores.sparse_graph import graph_from_voxels


@pytest.fixture(scope="module")
def client():
    with dask_client(workers=2, memory_limit="1GiB") as c:
        yield c


def in_memory(volume, voxel_size=1.0):
    """The in-memory pipeline with the same thinning."""
    skeleton = lp.skeletonize(volume, method="subfield")
    graph = lp.skeleton_graph(skeleton, voxel_size)
    labels = lp.partition(volume, skeleton, graph=graph, voxel_size=voxel_size)
    return skeleton, graph, labels


def relabelled(graph, labels, like):
    """``labels`` (regions of ``graph``'s branches) renumbered as the branches of ``like``."""
    key = {tuple(min(map(tuple, b.voxels.tolist()))): i for i, b in enumerate(like.branches)}
    perm = np.zeros(len(graph.branches) + 1, np.int64)
    for i, b in enumerate(graph.branches):
        perm[i + 1] = key[min(map(tuple, b.voxels.tolist()))] + 1
    return perm[labels]


def assert_same_region_graph(a, b):
    assert np.array_equal(a.volumes, b.volumes)
    assert np.allclose(a.centroids, b.centroids, rtol=0, atol=1e-9)
    assert np.array_equal(a.surface_areas, b.surface_areas)
    assert np.array_equal(a.contacts.pairs, b.contacts.pairs)
    assert np.array_equal(a.contacts.areas, b.contacts.areas)


def test_chunked_pipeline_equals_the_in_memory_pipeline_at_128(tmp_path, client):
    volume = lp.blobs(128, porosity=0.35, blobiness=1.5, seed=11)
    voxel_size = (1.0, 1.0, 0.5)
    result = analyse(
        volume, tmp_path / "out.zarr", client, chunks=64, voxel_size=voxel_size, progress=False
    )
    skeleton, graph, labels = in_memory(volume, voxel_size)
    store = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    assert np.array_equal(store["skeleton"][...], skeleton)
    # the same branches: voxels, lengths, kinds; the same junctions and end points
    got = {
        tuple(map(tuple, b.voxels.tolist())): (round(b.length, 9), b.kind)
        for b in result.skeleton_graph.branches
    }
    want = {
        tuple(sorted(map(tuple, b.voxels.tolist()))): (round(b.length, 9), b.kind)
        for b in graph.branches
    }
    assert got == want
    assert np.allclose(result.skeleton_graph.junctions, graph.junctions)
    chunked_labels = store["labels"][...]
    mine = relabelled(graph, labels, result.skeleton_graph)
    # equal wherever the nearest branch is unique; both are nearest branches at the rest
    differ = mine != chunked_labels
    assert differ.mean() < 1e-3
    # attributes reduced across chunks are region_graph's on the same labels, exactly
    reference = lp.region_graph(chunked_labels, voxel_size, check_connectivity=False)
    assert_same_region_graph(result.region_graph, reference)
    # and the decomposition runs unchanged on the result
    runs = [
        lp.simulate_decomposition(g, t_final=20.0, n_records=5)
        for g in (result.region_graph, reference)
    ]
    assert np.allclose(runs[0].total_carbon, runs[1].total_carbon, rtol=1e-12)
    assert runs[0].mass_balance_error < 1e-9


def test_labels_and_attributes_do_not_depend_on_the_chunks(tmp_path, client):
    store = blobs_to_zarr(
        tmp_path / "v.zarr", (96, 112, 104), chunks=(96, 112, 104), porosity=0.4, sigma=2.5, seed=4
    )
    results = [
        analyse(store, tmp_path / f"out{i}.zarr", client, chunks=chunks, halo=halo, progress=False)
        for i, (chunks, halo) in enumerate(
            [((96, 112, 104), 8), ((48, 56, 52), 16), ((40, 40, 40), 8)]
        )
    ]
    first = results[0]
    for other in results[1:]:
        assert np.array_equal(other.region_graph.labels[...], first.region_graph.labels[...])
        assert_same_region_graph(other.region_graph, first.region_graph)
        skeletons = [zarr.open_array(str(r.store / "skeleton"))[...] for r in (first, other)]
        assert np.array_equal(*skeletons)


def test_partition_widens_its_halo_for_large_pores(tmp_path, client):
    # a fat tube: its voxels lie up to 9 voxels from the skeleton, more than a halo of 8
    net = lp.tube_network(48, radius=9.0)
    result = analyse(net.volume, tmp_path / "out.zarr", client, chunks=16, halo=8, progress=False)
    assert result.partition_halo > 8
    skeleton, graph, labels = in_memory(net.volume)
    mine = relabelled(graph, labels, result.skeleton_graph)
    assert np.array_equal(mine, result.region_graph.labels[...])
    assert result.region_graph.n_nodes == len(graph.branches)


def test_bad_inputs_give_one_clear_error_each(tmp_path, client):
    import tifffile

    grey = zarr.create_array(
        str(tmp_path / "grey.zarr"), shape=(32, 32, 32), chunks=(16, 16, 16), dtype="uint8"
    )
    grey[...] = np.broadcast_to(np.arange(32, dtype=np.uint8)[:, None, None], (32, 32, 32))
    with pytest.raises(ValueError, match="binary"):
        analyse(tmp_path / "grey.zarr", tmp_path / "o1.zarr", client, progress=False)
    solid = zarr.create_array(
        str(tmp_path / "solid.zarr"),
        shape=(32, 32, 32),
        chunks=(16, 16, 16),
        dtype=bool,
        fill_value=False,
    )
    with pytest.raises(ValueError, match="all solid"):
        analyse(solid, tmp_path / "o2.zarr", client, progress=False)
    with pytest.raises(ValueError, match="chunks must be an int or have 3 entries"):
        analyse(solid, tmp_path / "o3.zarr", client, chunks=(16, 16), progress=False)
    flat = zarr.create_array(
        str(tmp_path / "flat.zarr"), shape=(32, 32), chunks=(16, 16), dtype=bool
    )
    with pytest.raises(ValueError, match="3-D"):
        analyse(flat, tmp_path / "o4.zarr", client, progress=False)
    with tifffile.TiffWriter(tmp_path / "stack.tif") as tif:
        tif.write(np.zeros((8, 8), np.uint8))
        tif.write(np.zeros((8, 9), np.uint8))
    with pytest.raises(ValueError, match="inconsistent pages"):
        analyse(tmp_path / "stack.tif", tmp_path / "o5.zarr", client, progress=False)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("years of work")
    with pytest.raises(ValueError, match="exists"):
        analyse(solid, tmp_path / "mine", client, progress=False)
    with pytest.raises(ValueError, match="not written by labkit.pores.analyse"):
        analyse(solid, tmp_path / "mine", client, progress=False, overwrite=True)
    assert (tmp_path / "mine" / "thesis.txt").read_text() == "years of work"
    # nothing half-written is left behind by the failures
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "flat.zarr",
        "grey.zarr",
        "mine",
        "solid.zarr",
        "stack.tif",
    ]


def test_lazy_volumes_read_what_was_written(tmp_path):
    import tifffile

    volume = lp.blobs((12, 20, 24), porosity=0.4, seed=2)
    tifffile.imwrite(tmp_path / "v.tif", volume.astype(np.uint8))
    (tmp_path / "v.raw").write_bytes(b"HEAD" + volume.astype(np.uint8).tobytes())
    z = zarr.create_array(
        str(tmp_path / "v.zarr"), shape=volume.shape, chunks=(8, 8, 8), dtype=bool
    )
    z[...] = volume
    raw = open_volume(tmp_path / "v.raw", shape=volume.shape, dtype="uint8", offset=4)
    for lazy in [open_volume(tmp_path / "v.tif"), raw, open_volume(tmp_path / "v.zarr")]:
        assert lazy.shape == volume.shape
        assert np.array_equal(lazy[3:9, 2:17, 5:6].astype(bool), volume[3:9, 2:17, 5:6])
    with pytest.raises(ValueError, match="bytes"):
        open_volume(tmp_path / "v.raw", shape=volume.shape, dtype="uint16")
    with pytest.raises(ValueError, match="shape and dtype"):
        open_volume(tmp_path / "v.raw")


def test_measures_summed_chunk_by_chunk_give_the_region_graph(monkeypatch):
    """Chunk measures added one at a time, merging the contact keys after every chunk, give
    :func:`lp.region_graph` of the whole label image."""
    from labkit.pores.chunked_pipeline import _measure_chunk, _MeasureSums

    volume = lp.blobs(40, porosity=0.4, seed=5)
    _, graph, labels = in_memory(volume)
    want = lp.region_graph(labels, (1.0, 2.0, 0.5), check_connectivity=False)
    monkeypatch.setattr(_MeasureSums, "merge_at", 1)
    sums = _MeasureSums(len(graph.branches))
    edges = [0, 13, 27, 40]
    for z in range(3):
        for y in range(3):
            for x in range(3):
                lo = (edges[z], edges[y], edges[x])
                hi = (edges[z + 1], edges[y + 1], edges[x + 1])
                sums.add(_measure_chunk(labels, lo, hi))
    assert sums._merged > 0  # the keys were merged on the way
    got = sums.graph(labels, (1.0, 2.0, 0.5))
    assert_same_region_graph(got, want)
    assert np.allclose(got.contacts.distances, want.contacts.distances, rtol=0, atol=1e-9)


def test_graph_from_voxels_is_skeleton_graph_on_blobs():
    volume = lp.blobs(56, porosity=0.35, seed=8)
    skeleton = lp.skeletonize(volume, method="subfield")
    for voxel_size in [1.0, (1.0, 0.5, 2.0)]:
        a = lp.skeleton_graph(skeleton, voxel_size)
        b = graph_from_voxels(np.argwhere(skeleton), skeleton.shape, voxel_size)
        assert np.allclose(a.junctions, b.junctions)
        assert np.array_equal(a.endpoints, b.endpoints)
        assert np.array_equal(a.junction_voxels, b.junction_voxels)
        want = {
            tuple(sorted(map(tuple, x.voxels.tolist()))): (round(x.length, 9), x.kind)
            for x in a.branches
        }
        got = {
            tuple(map(tuple, x.voxels.tolist())): (round(x.length, 9), x.kind) for x in b.branches
        }
        assert got == want
        # the branches are kept as columns: the same graph as a list of Branch objects
        assert isinstance(b.branches, lp.BranchTable) and len(b.branches) == len(a.branches)
        da, db = a.to_dict(), b.to_dict()
        assert db.pop("total_length") == pytest.approx(da.pop("total_length"), rel=1e-12)
        assert db == da
        assert np.array_equal(b.lengths, [x.length for x in b.branches])
        image = b.branch_label_image()
        for k in (0, len(b.branches) // 2, -1):
            voxels = b.branches[k].voxels
            assert (image[tuple(voxels.T)] == k % len(b.branches) + 1).all()


def test_box_seeds_are_the_seeds_inside_the_box(tmp_path):
    # the partition reads a box's seeds chunk by chunk; they must be exactly those a filter
    # over all seeds finds, on an unequal grid and for boxes that cross chunks or the volume
    from labkit.pores.chunk_seeds import read_box_seeds, write_chunk_seeds
    from labkit.pores.chunked import chunk_grid

    rng = np.random.default_rng(3)
    grid = chunk_grid((30, 25, 20), ((7, 13, 10), (25,), (5, 5, 4, 6)))
    coords = np.unique(rng.integers(0, (30, 25, 20), size=(400, 3)), axis=0)
    sizes = np.array([150, 1, len(coords) - 151])
    folder = write_chunk_seeds(tmp_path / "seeds", grid, coords, sizes)
    labels = np.repeat([1, 2, 3], sizes)
    for _ in range(20):
        lo = rng.integers(0, (30, 25, 20))
        hi = lo + rng.integers(1, 18, size=3)
        inside = np.all((coords >= lo) & (coords < hi), axis=1)
        want = np.column_stack([coords[inside], labels[inside]])
        got = read_box_seeds(folder, grid, tuple(lo), tuple(np.minimum(hi, (30, 25, 20))))
        assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, want.tolist()))
