"""labkit.viz: the numbers the explorers show, checked against independent references."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from labkit.viz import demo
from labkit.viz.fields import field_frame, field_viewer, relative_l2
from labkit.viz.intrinsic import intrinsic_dimension_at, intrinsic_explorer, mean_by_dim
from labkit.viz.pores import pore_view, pore_viewer, render_pores
from labkit.viz.spectrum import spectrum_explorer, spectrum_view
from labkit.viz.surface import surface_explorer, surface_grid, surface_slice
from labkit.viz.training import ema, training_monitor, training_view


@pytest.mark.parametrize("smoothing", [0.0, 0.5, 0.9, 0.99])
def test_ema_matches_pandas_adjusted_ewm(smoothing):
    values = np.random.default_rng(0).normal(size=200).cumsum()
    expected = pd.Series(values).ewm(alpha=1 - smoothing, adjust=True).mean().to_numpy()
    np.testing.assert_allclose(ema(values, smoothing), expected, rtol=1e-12, atol=1e-12)


def test_training_view_smooths_over_the_whole_history_then_cuts_the_window():
    history = demo.demo_history(n_steps=40)
    view = training_view(history, smoothing=0.8, window=(10, 25))
    keep = (history.steps >= 10) & (history.steps <= 25)
    np.testing.assert_array_equal(view.steps, history.steps[keep])
    np.testing.assert_allclose(view.smoothed, ema(history.loss, 0.8)[keep])
    assert set(view.val_steps) == {19}
    assert training_view({"loss": [1.0, 2.0]}).lr is None


def test_relative_l2_of_a_scaled_field_is_the_scale_error():
    truth = np.random.default_rng(1).normal(size=(3, 16, 16))
    frame = field_frame(truth, 1.03 * truth, index=2)
    assert frame.rel_l2 == pytest.approx(0.03, rel=1e-12)
    np.testing.assert_allclose(frame.error, 0.03 * truth[2])
    assert field_frame(truth, 1.03 * truth, index=2, absolute=True).error.min() >= 0
    assert relative_l2(np.zeros(3), np.zeros(3)) == 0.0


def test_demo_fields_finite_differences_converge_at_second_order():
    errors = []
    for nx in (64, 128):
        f = demo.demo_fields(nx=nx, n_times=3, nu=0.01)
        errors.append(relative_l2(f.prediction[-1], f.truth[-1]))
    assert 3.5 < errors[0] / errors[1] < 4.5


def test_intrinsic_dimension_of_a_known_accuracy_curve():
    dims = np.unique(np.round(np.logspace(0, 3, 400)))
    scale = 10.0
    points = [(d, 1 - math.exp(-d / scale)) for d in dims]
    exact = scale * math.log(10)  # 1 - exp(-d/scale) = 0.9
    r = intrinsic_dimension_at(points, baseline=1.0, fraction=0.9)
    assert r.d_int == dims[np.searchsorted(dims, exact)]
    assert r.d_int_interpolated == pytest.approx(exact, rel=2e-3)
    assert math.isnan(intrinsic_dimension_at(points, baseline=2.0).d_int)


def test_mean_by_dim_matches_pandas_groupby():
    points = demo.demo_intrinsic(n_seeds=3).points
    dims, means = mean_by_dim(points)
    frame = pd.DataFrame(points, columns=["d", "acc"]).groupby("d")["acc"].mean()
    np.testing.assert_array_equal(dims, frame.index.to_numpy(float))
    np.testing.assert_allclose(means, frame.to_numpy())


def test_demo_intrinsic_full_space_reaches_the_least_squares_baseline():
    r = demo.demo_intrinsic()
    assert r.baseline == pytest.approx(1.0, abs=1e-9)  # 40 samples, 200 parameters: exact fit
    full = [acc for d, acc in r.points if d == 200]
    np.testing.assert_allclose(full, r.baseline, atol=1e-9)
    assert intrinsic_dimension_at(r.points, r.baseline).d_int <= 40


def test_surface_slices_of_a_known_function_in_both_indexings():
    x, y = np.linspace(-1, 1, 7), np.linspace(-2, 2, 5)
    loss_xy = x[None, :] ** 2 + 2 * y[:, None] ** 2
    for result, indexing in (
        ({"x": x, "y": y, "loss": loss_xy}, "xy"),
        ({"x": x, "y": y, "loss": loss_xy.T}, "ij"),
    ):
        along_x = surface_slice(result, along="x", index=1, indexing=indexing)
        np.testing.assert_allclose(along_x.loss, x**2 + 2 * y[1] ** 2)
        along_y = surface_slice(result, along="y", index=6, indexing=indexing)
        np.testing.assert_allclose(along_y.loss, x[6] ** 2 + 2 * y**2)
    with pytest.raises(ValueError, match="result.loss"):
        surface_grid({"x": x, "y": y, "loss": loss_xy.T})


def test_spectrum_view_takes_the_largest_eigenvalues_and_log_density():
    s = demo.demo_spectrum(n=120)
    assert np.trapezoid(s.density, s.grid) == pytest.approx(1.0, rel=1e-6)
    view = spectrum_view(s, top_k=5)
    np.testing.assert_array_equal(view.eigenvalues, np.sort(s.eigenvalues)[::-1][:5])
    assert view.eigenvalues[2] > (1 + math.sqrt(0.5)) ** 2  # three outliers above the MP edge
    log_view = spectrum_view(s, top_k=1, log_density=True)
    positive = s.density > 1e-6 * s.density.max()
    np.testing.assert_allclose(log_view.density[positive], np.log10(s.density[positive]), atol=1e-5)


def test_pore_view_keeps_the_voxels_on_the_near_side_of_the_plane():
    labels = demo.demo_pores(n=16).labels
    for axis, a in (("x", 0), ("y", 1), ("z", 2)):
        view = pore_view(labels, axis=axis, position=5)
        expected = np.take(labels, np.arange(6), axis=a)
        np.testing.assert_array_equal(view.kept, expected)
        cut = np.take(labels, 5, axis=a)
        np.testing.assert_array_equal(np.isnan(view.slice_values), cut == 0)
        np.testing.assert_array_equal(view.slice_values[cut > 0], cut[cut > 0])
    values = np.linspace(0, 1, labels.max() + 1)
    v = pore_view(labels, colour="values", values=values, position=3)
    np.testing.assert_allclose(v.values[v.kept > 0], values[v.kept[v.kept > 0]])


def test_render_pores_draws_more_pore_as_the_clip_plane_moves_out():
    labels = demo.demo_pores(n=16).labels

    def coloured(position: int) -> int:
        image = render_pores(pore_view(labels, position=position), size=(200, 200))
        assert image.shape == (200, 200, 3)
        return int(np.count_nonzero(np.abs(image.astype(int) - 255).sum(axis=2) > 30))

    assert coloured(2) < coloured(8) < coloured(15)


def test_every_explorer_builds_on_its_demo_and_to_dict_is_json():
    h = demo.demo_history(n_steps=25)
    f = demo.demo_fields(nx=16, n_times=4, ndim=2)
    layouts = [
        training_monitor(h),
        field_viewer(f.truth, f.prediction),
        field_viewer(f.truth[:, :, 0]),
        spectrum_explorer(demo.demo_spectrum(n=60)),
        surface_explorer(demo.demo_surface(n=9)),
        intrinsic_explorer(demo.demo_intrinsic()),
        pore_viewer(demo.demo_pores(n=12).labels),
    ]
    assert all(type(layout).__name__ == "Column" for layout in layouts)
    for result in (h, f, demo.demo_spectrum(n=60), demo.demo_pores(n=8)):
        json.dumps(result.to_dict())


def test_training_monitor_follows_a_growing_history():
    import panel as pn
    from bokeh.document import Document

    history = {"loss": [1.0, 0.8, 0.7], "lr": [0.1, 0.1, 0.1]}
    monitor = training_monitor(history)
    doc = Document()
    doc.add_root(monitor.get_root(doc))
    window = monitor.select(pn.widgets.IntRangeSlider)[0]
    history["loss"] += [0.6, 0.5, 0.4]
    history["lr"] += [0.05, 0.05, 0.05]
    monitor.refresh()
    assert (window.end, window.value) == (5, (0, 5))
    lengths = [
        len(model.data["x"] if "x" in model.data else next(iter(model.data.values())))
        for model in doc.models
        if type(model).__name__ == "ColumnDataSource" and model.data
    ]
    assert 6 in lengths


@pytest.mark.parametrize(
    "values, start, end, shown",
    [(np.arange(1, 5), 1, 4, 3), (np.array([0.1, 0.5, 2.0, 4.0]), 0, 3, 2.0)],
)
def test_field_viewer_slider_shows_the_index_values(values, start, end, shown):
    import panel as pn

    truth = np.random.default_rng(0).normal(size=(4, 8, 8))
    view = field_viewer(truth, truth + 0.1, index_name="step", index_values=values)
    slider = view.select(pn.widgets.IntSlider)[0]
    assert (slider.start, slider.end) == (start, end)
    slider.value = start + 2
    title = view.select(pn.pane.HoloViews)[0].object[()][0].opts.get().kwargs["title"]
    assert title == f"truth, step = {shown:.4g}"
