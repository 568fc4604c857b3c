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


def test_tube_lattice_chunked_has_its_27_junctions_and_54_branches():
    from test_pores_subfield import tube_lattice

    net = tube_lattice(48, 3.0)
    state = thin_chunked(net.volume, ((20, 9, 19), (16, 16, 16), (11, 30, 7)), halo=8)
    graph = lp.skeleton_graph(state != 0)
    assert (len(graph.junctions), len(graph.branches)) == (27, 54)


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


def test_dask_cli_cluster_with_a_worker_killed_mid_run(tmp_path, blobs_and_skeleton):
    import zarr

    volume, skeleton = blobs_and_skeleton
    source = zarr.create_array(
        str(tmp_path / "volume.zarr"), shape=SHAPE, chunks=(32, 32, 32), dtype=bool
    )
    source[...] = volume
    with cli_cluster(tmp_path / "cluster", workers=2) as address:
        with dask_client(address) as client:
            # warm up the workers (numba loads its cache) before the timed-for-kill run
            client.run(lambda: __import__("labkit.pores.subfield"))
            killed = []
            killer = threading.Thread(
                target=lambda: killed.append(
                    kill_one_worker(client, when=lambda c: any(c.processing().values()))
                )
            )
            killer.start()
            state = thin_chunked(
                source, (32, 32, 32), halo=8, client=client, scratch=tmp_path / "scratch"
            )
            killer.join()
    assert killed
    assert np.array_equal(np.asarray(state[...]) != 0, skeleton)
