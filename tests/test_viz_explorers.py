"""labkit.viz: the numbers the explorers show, checked against independent references.

Every explorer is rendered into a live Bokeh document and what its plots draw is read back and
compared with the values of its input (``_viz_drawn.Drawn``), before and after a widget moves.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import param
import pytest
from _viz_drawn import Drawn

from labkit._checks import to_plain
from labkit.viz import demo
from labkit.viz.fields import field_frame, field_viewer, relative_l2
from labkit.viz.intrinsic import intrinsic_dimension_at, intrinsic_explorer, mean_by_dim
from labkit.viz.pores import pore_view, pore_viewer, render_pores
from labkit.viz.spectrum import spectrum_explorer, spectrum_view
from labkit.viz.surface import surface_explorer, surface_grid, surface_slice
from labkit.viz.training import ema, training_monitor, training_view


@pytest.fixture(scope="module")
def history():
    return demo.demo_history(epochs=5)


@pytest.fixture(scope="module")
def spectra():
    return demo.demo_spectrum(epochs=2, k=6, n_iter=10, n_probes=3)


@pytest.fixture(scope="module")
def labels():
    return demo.demo_pores(16)


def _widget(layout, kind, label):
    import panel as pn

    (widget,) = [w for w in layout.select(getattr(pn.widgets, kind)) if w.label == label]
    return widget


@pytest.mark.parametrize("smoothing", [0.0, 0.5, 0.9, 0.99])
def test_ema_matches_pandas_adjusted_ewm(smoothing):
    values = np.random.default_rng(0).normal(size=200).cumsum()
    expected = pd.Series(values).ewm(alpha=1 - smoothing, adjust=True).mean().to_numpy()
    np.testing.assert_allclose(ema(values, smoothing), expected, rtol=1e-12, atol=1e-12)


def test_training_view_smooths_over_the_whole_history_then_cuts_the_window(history):
    steps = np.asarray(history.step)
    view = training_view(history, smoothing=0.8, window=(10, 25))
    keep = (steps >= 10) & (steps <= 25)
    np.testing.assert_array_equal(view.step, steps[keep])
    np.testing.assert_allclose(view.smoothed, ema(history.train_loss, 0.8)[keep])
    assert view.val_step.tolist() == [16, 24]  # fit evaluates at each epoch end (8 steps)
    assert training_view({"train_loss": [1.0, 2.0]}).lr is None


def test_training_monitor_draws_the_fit_history_and_its_window(history):
    monitor = training_monitor(history, smoothing=0.5)
    drawn = Drawn(monitor)
    for values in (history.train_loss, history.lr, history.val_loss, history.step):
        assert drawn.shows(values)
    assert drawn.shows(ema(history.train_loss, 0.5))
    window = _widget(monitor, "IntRangeSlider", "steps")
    window.value = (9, 30)
    keep = (np.asarray(history.step) >= 9) & (np.asarray(history.step) <= 30)
    assert drawn.shows(np.asarray(history.train_loss)[keep])
    assert drawn.shows(ema(history.train_loss, 0.5)[keep])
    assert not drawn.shows(history.train_loss)


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


def test_field_viewer_draws_truth_prediction_and_error_of_the_chosen_frame():
    import panel as pn

    f = demo.demo_fields(nx=16, n_times=4, ndim=2)
    viewer = field_viewer(f.truth, f.prediction, index_name="time")
    drawn = Drawn(viewer)
    # images are drawn with their rows along y: the transpose of [x, y] fields
    for image in (f.truth[0], f.prediction[0], f.prediction[0] - f.truth[0]):
        assert drawn.shows(image.T)
    viewer.select(pn.widgets.IntSlider)[0].value = 3
    assert drawn.shows(f.truth[3].T) and drawn.shows((f.prediction[3] - f.truth[3]).T)
    assert not drawn.shows(f.truth[0].T)
    line = Drawn(field_viewer(f.truth[:, :, 0]))
    assert line.shows(f.truth[0, :, 0]) and line.shows(np.arange(16) / 16)


def test_intrinsic_dimension_of_a_known_accuracy_curve():
    dims = np.unique(np.round(np.logspace(0, 3, 400)))
    scale = 10.0
    points = [(d, 1 - math.exp(-d / scale)) for d in dims]
    exact = scale * math.log(10)  # 1 - exp(-d/scale) = 0.9
    r = intrinsic_dimension_at(points, baseline=1.0, fraction=0.9)
    assert r.d_int == dims[np.searchsorted(dims, exact)]
    assert r.d_int_interpolated == pytest.approx(exact, rel=2e-3)
    assert math.isnan(intrinsic_dimension_at(points, baseline=2.0).d_int)


def test_mean_by_dim_of_a_sweep_matches_pandas_groupby():
    r = demo.demo_intrinsic()
    rows = [(d, s) for d, row in zip(r.dims, r.scores, strict=True) for s in row]
    dims, means = mean_by_dim(r)
    frame = pd.DataFrame(rows, columns=["d", "acc"]).groupby("d")["acc"].mean()
    np.testing.assert_array_equal(dims, frame.index.to_numpy(float))
    np.testing.assert_allclose(means, frame.to_numpy())


def test_demo_intrinsic_full_space_reaches_the_least_squares_baseline():
    r = demo.demo_intrinsic()
    assert r.baseline == pytest.approx(1.0, abs=1e-9)  # 40 samples, 200 parameters: exact fit
    np.testing.assert_allclose(r.scores[r.dims == 200], r.baseline, atol=1e-9)
    # the explorer's d_int (its own reading of the scores) and the room's d_int90 agree
    assert intrinsic_dimension_at(r, r.baseline).d_int == r.d_int90 <= 40


def test_intrinsic_explorer_draws_every_run_and_the_mean_per_dimension():
    r = demo.demo_intrinsic(seeds=(0, 1))
    drawn = Drawn(intrinsic_explorer(r))
    assert drawn.shows(np.repeat(r.dims, 2)) and drawn.shows(r.scores.ravel())
    assert drawn.shows(r.scores.mean(axis=1))


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


def test_surface_explorer_draws_the_picked_surface_zoomed_and_its_slice():
    x, y = np.linspace(-1, 1, 9), np.linspace(-2, 2, 5)
    bowl = x[None, :] ** 2 + 2 * y[:, None] ** 2
    saddle = x[None, :] ** 2 - y[:, None] ** 2 + 5
    explorer = surface_explorer(
        {"bowl": {"x": x, "y": y, "loss": bowl}, "saddle": {"x": x, "y": y, "loss": saddle}}
    )
    drawn = Drawn(explorer)
    assert drawn.shows(bowl) and drawn.shows(bowl[2])  # the image and the slice at y = 0
    _widget(explorer, "Select", "surface").value = "saddle"
    _widget(explorer, "FloatSlider", "zoom").value = 0.5
    assert drawn.shows(saddle[1:4, 2:7])  # |x| <= 0.5, |y| <= 1
    position = _widget(explorer, "IntSlider", "slice index")
    assert position.end == 2
    position.value = 0
    assert drawn.shows(saddle[1, 2:7]) and not drawn.shows(bowl)


def test_surface_explorer_draws_a_loss_surface_result():
    surface = demo.demo_surface(n=7, epochs=1)
    drawn = Drawn(surface_explorer(surface))
    assert drawn.shows(surface.loss.T)  # loss[i, j] at (coords[0][i], coords[1][j])
    assert drawn.shows(surface.loss[:, 3]) and drawn.shows(surface.coords[0])


def test_spectrum_view_takes_the_largest_eigenvalues_and_log_density(spectra):
    density, top, _ = spectra["MLP, trained"]
    assert np.trapezoid(density.density, density.grid) == pytest.approx(1.0, rel=1e-6)
    view = spectrum_view(density, top_k=5, eigenvalues=top)
    np.testing.assert_array_equal(view.eigenvalues, np.sort(top.eigenvalues)[::-1][:5])
    log_view = spectrum_view(density, top_k=1, log_density=True, eigenvalues=top.eigenvalues)
    positive = density.density > 1e-6 * density.density.max()
    np.testing.assert_allclose(
        log_view.density[positive], np.log10(density.density[positive]), atol=1e-5
    )
    fewer = spectrum_view(density, top_k=1, eigenvalues=top, probes=1)
    np.testing.assert_allclose(fewer.density, density.first_probes(1).density)


def test_demo_spectrum_top_eigenvalues_are_the_dense_hessians():
    import torch

    from labkit.landscape import loss_closure
    from labkit.landscape.params import flatten, unflatten

    model, data, _ = demo._trained(2, 0)
    loss_fn, params = loss_closure(model, torch.nn.functional.mse_loss, data)
    flat = flatten({n: p.detach() for n, p in params.items()})
    hessian = torch.autograd.functional.hessian(lambda z: loss_fn(unflatten(z, params)), flat)
    exact = np.linalg.eigvalsh(hessian.numpy())[::-1]
    _, top, _ = demo.demo_spectrum(epochs=2, k=4, n_iter=6, n_probes=1)["MLP, trained"]
    np.testing.assert_allclose(top.eigenvalues, exact[:4], rtol=1e-3)


def test_spectrum_explorer_draws_the_picked_model_block_and_probes(spectra):
    explorer = spectrum_explorer(spectra, top_k=4)
    drawn = Drawn(explorer)
    density, top, blocks = spectra["MLP, trained"]
    assert drawn.shows(density.density) and drawn.shows(np.sort(top.eigenvalues)[::-1][:4])
    _widget(explorer, "Select", "model").value = "MLP, at initialisation"
    density, top, blocks = spectra["MLP, at initialisation"]
    assert drawn.shows(density.density) and drawn.shows(np.sort(top.eigenvalues)[::-1][:4])
    block = _widget(explorer, "Select", "block")
    assert block.options == ["whole model", *(f"block {b}" for b in blocks.densities)]
    block.value = "block 2"
    top_k = _widget(explorer, "IntSlider", "top k")
    assert (top_k.value, top_k.end) == (3, 3)  # the block has 3 eigenvalues: k runs to 3
    top_k.value = 2
    _widget(explorer, "IntSlider", "SLQ probes").value = 1
    assert drawn.shows(blocks.densities["2"].first_probes(1).density)
    assert drawn.shows(np.sort(blocks.eigenvalues["2"])[::-1][:2])
    assert not drawn.shows(density.density)


def test_pore_view_keeps_the_voxels_on_the_near_side_of_the_plane(labels):
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


def test_pore_view_shows_a_boolean_volume_as_one_region(labels):
    pore = labels > 0
    view = pore_view(pore, position=7)
    np.testing.assert_array_equal(view.kept, pore[:, :, :8].astype(int))
    np.testing.assert_array_equal(view.slice_values, np.where(pore[:, :, 7], 1.0, np.nan))


def test_render_pores_draws_more_pore_as_the_clip_plane_moves_out(labels):
    def coloured(position: int) -> int:
        image = render_pores(pore_view(labels, position=position), size=(200, 200))
        assert image.shape == (200, 200, 3)
        return int(np.count_nonzero(np.abs(image.astype(int) - 255).sum(axis=2) > 30))

    assert coloured(2) < coloured(8) < coloured(15)


def test_pore_viewer_draws_the_slice_at_the_clipping_plane(labels):
    viewer = pore_viewer(labels)
    drawn = Drawn(viewer)
    shown = lambda position: pore_view(labels, position=position).slice_values.T  # noqa: E731
    assert drawn.shows(shown(8))
    _widget(viewer, "IntSlider", "clip at").value = 3
    assert drawn.shows(shown(3)) and not drawn.shows(shown(8))


def test_pore_viewer_reruns_its_pipeline_when_a_parameter_moves():
    calls = []

    def pipeline(porosity):
        calls.append(porosity)
        return demo.demo_pores(16, porosity=porosity)

    viewer = pore_viewer(rerun=pipeline, parameters={"porosity": (0.3, 0.5, 0.1, 0.3)})
    drawn = Drawn(viewer)
    shown = lambda p: pore_view(demo.demo_pores(16, porosity=p), position=8).slice_values.T  # noqa: E731
    assert drawn.shows(shown(0.3))
    slider = _widget(viewer, "FloatSlider", "porosity")
    for value in (0.5, 0.3, 0.5):  # as a browser sends a move: the value, then on release
        slider.value = value
        with param.edit_constant(slider):
            slider.value_throttled = value
    assert drawn.shows(shown(0.5)) and not drawn.shows(shown(0.3))
    assert calls == [0.3, 0.5]  # each setting computed once, then cached


def test_results_are_json(history, spectra):
    density, top, blocks = spectra["MLP, trained"]
    for result in (history, demo.demo_fields(nx=8, n_times=2), demo.demo_intrinsic(), top):
        text = json.dumps(result.to_dict())
        assert json.loads(text) == to_plain(result.to_dict())


def test_training_monitor_follows_a_growing_history():
    import panel as pn

    history = {"train_loss": [1.0, 0.8, 0.7], "lr": [0.1, 0.1, 0.1]}
    monitor = training_monitor(history)
    drawn = Drawn(monitor)
    window = monitor.select(pn.widgets.IntRangeSlider)[0]
    history["train_loss"] += [0.6, 0.5, 0.4]
    history["lr"] += [0.05, 0.05, 0.05]
    monitor.refresh()
    assert (window.end, window.value) == (5, (0, 5))
    assert drawn.shows(history["train_loss"]) and drawn.shows(history["lr"])


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
