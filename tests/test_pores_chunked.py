"""Chunked subfield thinning: voxel-identical whatever the chunks, in process and on Dask."""

import threading

import numpy as np
import pytest
from _dask import cli_cluster, kill_one_worker

import labkit.pores as lp
from labkit.cluster import dask_client
from labkit.pores.chunked import chunk_grid, thin_chunked
from labkit.pores.subfield import thin_subfield

SHAPE = (96, 112, 128)


@pytest.fixture(scope="module")
def blobs_and_skeleton():
    volume = lp.blobs(SHAPE, porosity=0.35, blobiness=1.5, seed=7)
    return volume, thin_subfield(volume)


@pytest.mark.parametrize(
    "chunks, halo",
    [
        (SHAPE, 8),  # one chunk
        ((48, 56, 64), 8),  # eight equal chunks
        ((48, 56, 64), 16),
        (((30, 41, 25), (37, 38, 37), (50, 33, 45)), 8),  # 27 unequal chunks
        (((30, 41, 25), (37, 38, 37), (50, 33, 45)), 11),
    ],
)
def test_skeleton_is_voxel_identical_whatever_the_chunks(blobs_and_skeleton, chunks, halo):
    volume, skeleton = blobs_and_skeleton
    state = thin_chunked(volume, chunks, halo=halo)
    assert np.array_equal(state != 0, skeleton)


def test_chunk_grid_and_bad_arguments():
    assert chunk_grid((5, 6, 7), (2, 6, 10)).bounds == ((0, 2, 4, 5), (0, 6), (0, 7))
    volume = lp.blobs(24, seed=0)
    with pytest.raises(ValueError, match="halo"):
        thin_chunked(volume, 8, halo=4)
    with pytest.raises(ValueError, match="add up"):
        thin_chunked(volume, ((10, 10), (24,), (24,)))
    with pytest.raises(ValueError, match="3 entries"):
        thin_chunked(volume, (8, 8))
    with pytest.raises(ValueError, match="3-D"):
        thin_chunked(np.zeros((4, 4), bool), 2)
    grey = volume.astype(np.uint8) * 200
    with pytest.raises(ValueError, match="binary .* holds 200"):
        thin_chunked(grey, 12, halo=8)


def test_pipeline_on_a_cli_cluster_with_a_worker_killed_mid_run(tmp_path):
    import zarr
    from test_pores_chunked_pipeline import in_memory, relabelled

    from labkit.pores.chunked_pipeline import analyse

    volume = lp.blobs((64, 72, 80), porosity=0.35, seed=3)
    source = zarr.create_array(
        str(tmp_path / "volume.zarr"), shape=volume.shape, chunks=(32, 36, 40), dtype=bool
    )
    source[...] = volume
    with cli_cluster(tmp_path / "cluster", workers=2) as address:
        with dask_client(address) as client:
            # the workers import labkit (numba loads its cache) before the run
            client.run(lambda: __import__("labkit.pores.chunked_pipeline"))
            killed = []
            killer = threading.Thread(
                target=lambda: killed.append(
                    kill_one_worker(client, when=lambda c: any(c.processing().values()))
                )
            )
            killer.start()
            result = analyse(
                tmp_path / "volume.zarr", tmp_path / "out.zarr", address, progress=False
            )
            killer.join()
    assert killed
    skeleton, graph, labels = in_memory(volume)
    store = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    assert np.array_equal(store["skeleton"][...], skeleton)
    assert np.array_equal(relabelled(graph, labels, result.skeleton_graph), store["labels"][...])


def test_skeletonize_reads_a_store_chunk_by_chunk(tmp_path, blobs_and_skeleton):
    import zarr

    volume, skeleton = blobs_and_skeleton
    store = zarr.create_array(
        str(tmp_path / "v.zarr"), shape=SHAPE, chunks=(48, 56, 64), dtype=bool
    )
    store[...] = volume
    assert np.array_equal(lp.skeletonize(store, method="subfield"), skeleton)
    assert np.array_equal(lp.skeletonize(tmp_path / "v.zarr", method="subfield"), skeleton)
