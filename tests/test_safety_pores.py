"""Issue 21, pores: an empty volume, a huge label, a bad TIFF and a NaN initial state are each
named at the entry, before any allocation or solver runs."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import labkit.pores as lp


def test_empty_volume_is_called_empty_not_all_solid():
    for call in (lp.porosity, lp.skeletonize, lp.check_volume):
        with pytest.raises(ValueError, match=r"volume is empty \(shape \(0, 0, 0\)\)"):
            call(np.zeros((0, 0, 0), dtype=bool))


def test_a_huge_label_is_refused_before_allocating():
    labels = np.zeros((4, 4, 4), np.int64)
    labels[0, 0, 0], labels[1, 1, 1] = 1, 2**62
    with pytest.raises(
        ValueError, match=r"labels must run 1..n .*largest label 4611686018427387904"
    ):
        lp.region_graph(labels)
    labels[1, 1, 1] = 2  # the same volume with sequential labels works
    assert lp.region_graph(labels).n_nodes == 2


def test_truncated_tiff_and_text_named_tif(tmp_path):
    good = tmp_path / "v.tif"
    tifffile.imwrite(good, np.arange(5 * 6 * 7, dtype=np.uint16).reshape(5, 6, 7))
    assert lp.load_tiff(good).data.shape == (5, 6, 7)
    truncated = tmp_path / "cut.tif"
    truncated.write_bytes(good.read_bytes()[:100])
    text = tmp_path / "notes.tif"
    text.write_text("these are my notes, not an image\n")
    for path in (truncated, text):
        with pytest.raises(ValueError, match=f"{path.name}' is not a readable TIFF stack"):
            lp.load_tiff(path)


def test_nan_initial_state_is_named_not_a_solver_failure():
    labels = np.zeros((3, 3, 4), np.int32)
    labels[1, 1, :2], labels[1, 1, 2:] = 1, 2
    graph = lp.region_graph(labels)
    state = lp.initial_state(graph, dom=1.0, mb=0.05)
    state["dom"] = state["dom"].copy()
    state["dom"][1] = np.nan
    with pytest.raises(ValueError, match=r"initial\['dom'\] must hold finite"):
        lp.simulate_decomposition(graph, initial=state, t_final=1.0, dt=0.1)


def test_voxel_size_whose_volume_overflows():
    labels = np.ones((2, 2, 2), np.int32)
    with pytest.raises(ValueError, match="voxel_size .* outside the float range"):
        lp.region_graph(labels, voxel_size=1e102)


def test_relative_l2_of_huge_fields_is_finite():
    from labkit.viz import relative_l2

    truth = np.array([3e200, 4e200])
    assert relative_l2(truth * 0.5, truth) == pytest.approx(0.5)
    assert relative_l2(np.array([3.0, 4.0]), np.array([0.0, 4.0])) == pytest.approx(0.75)
