"""Synthetic volumes, binarisation and file loading for labkit.pores."""

import numpy as np
import pytest
from scipy import ndimage

import labkit.pores as lp


def test_same_seed_gives_same_volume():
    assert np.array_equal(lp.blobs(24, 0.4, 1.5, seed=7), lp.blobs(24, 0.4, 1.5, seed=7))
    assert not np.array_equal(lp.blobs(24, 0.4, 1.5, seed=7), lp.blobs(24, 0.4, 1.5, seed=8))
    a = lp.overlapping_spheres(24, 3.0, 0.5, seed=2)
    assert np.array_equal(a, lp.overlapping_spheres(24, 3.0, 0.5, seed=2))


@pytest.mark.parametrize("porosity", [0.2, 0.35, 0.6])
def test_blobs_meet_porosity_to_one_voxel(porosity):
    v = lp.blobs((20, 22, 24), porosity=porosity, blobiness=2.0, seed=1)
    assert v.dtype == bool
    assert abs(v.sum() - porosity * v.size) <= 0.5


def test_overlapping_spheres_follow_the_boolean_model():
    # Away from the faces the pore fraction of a Boolean model is exp(-n * 4/3 pi r^3).
    r, target = 3.0, 0.55
    v = lp.overlapping_spheres(64, radius=r, porosity=target, seed=0)
    interior = v[4:-4, 4:-4, 4:-4]
    assert abs(interior.mean() - target) < 0.03


def test_tube_network_is_the_union_of_capsules():
    nodes = np.array([[5.0, 5.0, 5.0], [5.0, 5.0, 15.0]])
    net = lp.tube_network(20, radius=2.0, nodes=nodes, edges=[[0, 1]])
    z, y, x = np.indices(net.volume.shape)
    along = np.clip(x, 5, 15)
    expected = (z - 5) ** 2 + (y - 5) ** 2 + (x - along) ** 2 <= 4.0
    assert np.array_equal(net.volume, expected)
    assert net.to_dict()["n_branches"] == 1 and len(net.endpoints) == 2


def test_binarize_recovers_a_noisy_two_phase_volume():
    truth = lp.blobs(24, porosity=0.4, seed=3)
    rng = np.random.default_rng(0)
    grey = np.where(truth, 60.0, 190.0) + rng.uniform(-20, 20, truth.shape)  # classes never overlap
    assert np.array_equal(lp.binarize(grey), truth)
    assert np.array_equal(lp.binarize(-grey, pore="bright"), truth)
    assert np.array_equal(lp.binarize(grey, threshold=125.0), truth)


def test_porosity_and_check_volume():
    v = lp.blobs(16, porosity=0.25, seed=0)
    assert lp.porosity(v.astype(np.uint8)) == pytest.approx(v.mean())
    assert ndimage.label(v)[1] >= 1


@pytest.mark.parametrize(
    "volume, error, match",
    [
        (np.zeros((4, 4, 4), bool), ValueError, "all solid"),
        (np.ones((4, 4, 4), bool), ValueError, "all pore"),
        (np.arange(64).reshape(4, 4, 4), ValueError, "binary"),
        (np.zeros((4, 4), bool), ValueError, "3-D"),
        ([[[True]]], TypeError, "volume"),
    ],
)
def test_bad_volumes_are_named(volume, error, match):
    with pytest.raises(error, match=match):
        lp.check_volume(volume)
    with pytest.raises(error, match=match):
        lp.skeletonize(volume)


def test_bad_generator_arguments():
    with pytest.raises(ValueError, match="porosity"):
        lp.blobs(16, porosity=1.0)
    with pytest.raises(ValueError, match="blobiness"):
        lp.blobs(16, blobiness=0)
    with pytest.raises(ValueError, match="shape"):
        lp.blobs((16, 16))
    with pytest.raises(ValueError, match="threshold"):
        lp.binarize(np.zeros((3, 3, 3)), threshold="mean")
    with pytest.raises(ValueError, match="constant"):
        lp.binarize(np.zeros((3, 3, 3)))


def test_npy_raw_and_tiff_round_trips(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    grey = np.random.default_rng(1).integers(0, 255, (5, 6, 7)).astype(np.uint8)
    lp.save_npy(tmp_path / "v.npy", grey)
    loaded = lp.load_npy(tmp_path / "v.npy", voxel_size=(2.0, 1.0, 0.5))
    assert np.array_equal(loaded.data, grey) and loaded.voxel_size == (2.0, 1.0, 0.5)

    grey.astype(np.uint16).tofile(tmp_path / "v.raw")
    raw = lp.load_raw(tmp_path / "v.raw", (5, 6, 7), dtype="uint16")
    assert np.array_equal(raw.data, grey)
    np.asfortranarray(grey).T.tofile(tmp_path / "f.raw")  # x fastest on disk
    raw_f = lp.load_raw(tmp_path / "f.raw", (5, 6, 7), dtype="uint8", order="F")
    assert np.array_equal(raw_f.data, grey)

    tifffile.imwrite(tmp_path / "v.tif", grey)
    assert np.array_equal(lp.load_tiff(tmp_path / "v.tif").data, grey)
    assert lp.load_tiff(tmp_path / "v.tif").to_dict()["shape"] == [5, 6, 7]


def test_bad_files_and_voxel_sizes(tmp_path):
    np.zeros(10, np.uint8).tofile(tmp_path / "short.raw")
    with pytest.raises(ValueError, match="raw file size 10 bytes"):
        lp.load_raw(tmp_path / "short.raw", (2, 3, 4))
    with pytest.raises(ValueError, match="not an existing file"):
        lp.load_npy(tmp_path / "missing.npy")
    np.save(tmp_path / "flat.npy", np.zeros((3, 3)))
    with pytest.raises(ValueError, match="3-D"):
        lp.load_npy(tmp_path / "flat.npy")
    for bad in (0.0, -1.0, (1.0, -2.0, 1.0), (1.0, 1.0, float("nan"))):
        with pytest.raises(ValueError, match="voxel_size"):
            lp.check_voxel_size(bad)
    with pytest.raises(ValueError, match="voxel_size"):
        lp.load_npy(tmp_path / "flat.npy", voxel_size=(1.0, 0.0, 1.0))


def test_save_npy_leaves_nothing_half_written(tmp_path, monkeypatch):
    target = tmp_path / "v.npy"

    def broken_save(fh, array, allow_pickle=False):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        lp.save_npy(target, np.zeros((2, 2, 2)))
    assert list(tmp_path.iterdir()) == []
