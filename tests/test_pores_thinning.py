"""labkit.pores.thinning: voxel for voxel the same skeleton as scikit-image's 3-D thinning."""

from __future__ import annotations

import itertools

import numba
import numpy as np
import pytest
from skimage.morphology import skeletonize

import labkit.pores as lp
from labkit.pores.thinning import euler_table, thin


def assert_same_as_skimage(volume: np.ndarray) -> np.ndarray:
    ours = thin(volume)
    reference = skeletonize(volume.astype(bool))
    assert ours.dtype == bool and ours.shape == volume.shape
    differ = np.argwhere(ours != reference)
    assert differ.size == 0, f"{len(differ)} voxels differ, first at {differ[:3].tolist()}"
    return ours


@pytest.mark.parametrize(
    ("shape", "porosity", "blobiness", "seed"),
    [
        (48, 0.2, 1.0, 0),
        (48, 0.35, 1.0, 1),
        (48, 0.6, 1.0, 2),
        (56, 0.35, 2.0, 3),
        (64, 0.2, 2.0, 4),
        (64, 0.6, 1.5, 5),
        ((7, 40, 23), 0.5, 1.0, 6),
    ],
)
def test_blobs_match_skimage(shape, porosity, blobiness, seed):
    volume = lp.blobs(shape, porosity=porosity, blobiness=blobiness, seed=seed)
    skeleton = assert_same_as_skimage(volume)
    assert (skeleton <= volume).all() and 0 < skeleton.sum() < volume.sum()


@pytest.mark.parametrize("seed", [0, 1])
def test_overlapping_spheres_match_skimage(seed):
    assert_same_as_skimage(lp.overlapping_spheres(48, radius=5.0, porosity=0.6, seed=seed))


def test_tube_network_matches_skimage():
    assert_same_as_skimage(lp.tube_network(40, radius=3.0).volume)


@pytest.mark.parametrize(
    ("shape", "density", "seed"),
    [((20, 20, 20), 0.3, 0), ((20, 20, 20), 0.5, 1), ((16, 25, 9), 0.7, 2), ((12, 12, 12), 0.9, 3)],
)
def test_random_noise_matches_skimage(shape, density, seed):
    volume = np.random.default_rng(seed).random(shape) < density
    assert_same_as_skimage(volume)


def _plates() -> list[np.ndarray]:
    plates = []
    for axis in range(3):
        volume = np.zeros((9, 11, 13), dtype=bool)
        index = [slice(1, -1)] * 3
        index[axis] = 4
        volume[tuple(index)] = True
        plates.append(volume)
    return plates


def _box_but_one() -> np.ndarray:
    volume = np.ones((10, 12, 9), dtype=bool)
    volume[4, 6, 3] = False
    return volume


def _single_voxel() -> np.ndarray:
    volume = np.zeros((5, 5, 5), dtype=bool)
    volume[2, 2, 2] = True
    return volume


def _bar(width: int) -> np.ndarray:
    volume = np.zeros((30, width + 4, width + 4), dtype=bool)
    volume[2:-2, 2:-2, 2:-2] = True
    return volume


@pytest.mark.parametrize(
    "volume",
    [
        *_plates(),
        _single_voxel(),
        _box_but_one(),
        np.ones((6, 7, 8), dtype=bool),  # every voxel touches or is next to the array border
        np.zeros((4, 5, 6), dtype=bool),
        np.ones((1, 1, 1), dtype=bool),
        _bar(4),  # thins away entirely in scikit-image 0.26 (its issue #3757)
        _bar(5),
        np.random.default_rng(7).random((1, 30, 40)) < 0.6,  # one plane: the 2-D sweeps
        np.random.default_rng(8).random((30, 1, 40)) < 0.6,
        np.random.default_rng(9).random((3, 30, 2)) < 0.6,
    ],
    ids=[
        "plate-z",
        "plate-y",
        "plate-x",
        "single-voxel",
        "box-but-one",
        "full-box",
        "empty",
        "one-voxel-array",
        "bar-4",
        "bar-5",
        "one-plane-z",
        "one-plane-y",
        "thin-x",
    ],
)
def test_odd_shapes_match_skimage(volume):
    assert_same_as_skimage(volume)


def test_integer_input_is_accepted_and_not_modified():
    volume = lp.blobs(24, porosity=0.4, seed=3).astype(np.uint8)
    before = volume.copy()
    assert_same_as_skimage(volume)
    np.testing.assert_array_equal(volume, before)


def test_result_does_not_depend_on_thread_count():
    volume = lp.blobs(40, porosity=0.35, seed=9)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = thin(volume)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(thin(volume), single)


def _euler_characteristic(volume: np.ndarray) -> int:
    """Vertices - edges + faces - cubes of the union of closed unit cubes at the voxels."""
    cubes = np.pad(volume, 1)
    size = [n - 1 for n in cubes.shape]
    # corner view ``d``: the voxel at offset d of the 2x2x2 block around each lattice vertex
    corner = {
        d: cubes[d[0] : d[0] + size[0], d[1] : d[1] + size[1], d[2] : d[2] + size[2]]
        for d in itertools.product((0, 1), repeat=3)
    }
    vertices = np.logical_or.reduce(list(corner.values())).sum()
    edges = faces = 0
    for axis in range(3):
        edges += np.logical_or.reduce([c for d, c in corner.items() if d[axis] == 0]).sum()
        across = tuple(int(a == axis) for a in range(3))
        faces += (corner[0, 0, 0] | corner[across]).sum()
    return int(vertices - edges + faces - cubes.sum())


def test_euler_characteristic_helper_on_known_shapes():
    torus = np.ones((1, 3, 3), dtype=bool)
    torus[0, 1, 1] = False
    two_touching = np.zeros((2, 2, 2), dtype=bool)
    two_touching[0, 0, 0] = two_touching[1, 1, 1] = True
    assert _euler_characteristic(np.ones((1, 1, 1), dtype=bool)) == 1
    assert _euler_characteristic(torus) == 0
    assert _euler_characteristic(np.ones((3, 3, 3), dtype=bool)) == 1
    assert _euler_characteristic(two_touching) == 1  # closed cubes sharing a vertex: connected


def test_euler_table_gives_the_change_of_euler_characteristic():
    table = euler_table()
    rng = np.random.default_rng(0)
    for _ in range(300):
        cube = rng.random((3, 3, 3)) < rng.uniform(0.1, 0.9)
        cube[1, 1, 1] = True
        change = 0
        for octant in range(8):
            oz, oy, ox = octant >> 2 & 1, octant >> 1 & 1, octant & 1
            block = cube[oz : oz + 2, oy : oy + 2, ox : ox + 2].ravel()
            change += table[octant, int((block * (1 << np.arange(8))).sum())]
        without = cube.copy()
        without[1, 1, 1] = False
        assert change == 8 * (_euler_characteristic(cube) - _euler_characteristic(without))


def test_bad_input_is_rejected_with_the_argument_named():
    with pytest.raises(TypeError, match="volume"):
        thin([[[1]]])
    with pytest.raises(ValueError, match="3-D"):
        thin(np.ones((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="binary"):
        thin(np.full((3, 3, 3), 2))
    with pytest.raises(TypeError, match="dtype"):
        thin(np.ones((3, 3, 3), dtype=complex))


@pytest.mark.parametrize("chosen", [None, "omp"])
def test_parallel_kernels_use_a_quiet_threading_layer_unless_chosen(chosen):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    if chosen:
        env["NUMBA_THREADING_LAYER"] = chosen
    code = (
        "import numba, labkit.pores as lp\n"
        "lp.skeletonize(lp.blobs(16, porosity=0.4, seed=0))\n"
        "print(numba.threading_layer())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == (chosen or "workqueue")


def test_importing_the_parallel_kernels_leaves_numba_alone():
    """No threading-layer choice at import (issue 16); the first parallel call makes it."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    code = (
        "import numba, numpy as np\n"
        "import labkit.pores, labkit.pores.nearest, labkit.pores.subfield, labkit.pores.chunked\n"
        "print(numba.config.THREADING_LAYER)\n"
        "from labkit.pores.nearest import nearest_seed_labels\n"
        "nearest_seed_labels(np.array([[0, 0, 0]]), np.array([1]), (2, 2, 2))\n"
        "print(numba.threading_layer())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["default", "workqueue"]
