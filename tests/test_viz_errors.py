"""labkit.viz: bad input fails early with an error that names the argument."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _viz_drawn import Drawn

from labkit._checks import to_plain
from labkit.viz import apps, demo
from labkit.viz.fields import field_frame, field_viewer
from labkit.viz.intrinsic import intrinsic_dimension_at
from labkit.viz.pores import pore_view, pore_viewer
from labkit.viz.spectrum import spectrum_explorer, spectrum_view
from labkit.viz.surface import surface_explorer, surface_grid, surface_slice
from labkit.viz.training import ema, training_monitor, training_view


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: field_viewer(np.zeros(5)), ValueError, "truth must be 2-D or 3-D"),
        (lambda: field_frame(np.zeros((2, 4)), np.zeros((2, 5))), ValueError, "prediction"),
        (lambda: field_frame(np.full((2, 4), np.nan)), ValueError, "truth must be finite"),
        (lambda: field_frame(np.zeros((2, 4)), index=2), ValueError, "index"),
        (lambda: field_viewer(np.zeros((3, 4)), index_values=[1, 2]), ValueError, "index_values"),
        (
            lambda: spectrum_view({"grid": [0, 1], "density": [1.0, 1.0]}, top_k=1),
            TypeError,
            "eigenvalues",
        ),
        (
            lambda: spectrum_view({"grid": [0, 1], "density": [1.0], "eigenvalues": [1]}, top_k=1),
            ValueError,
            "result.density",
        ),
        (
            lambda: spectrum_view({"grid": [0, 1], "density": [1, 1], "eigenvalues": [1]}, top_k=0),
            ValueError,
            "top_k",
        ),
        (lambda: spectrum_explorer({"a": 1}), TypeError, r"result\['a'\] must be a tuple"),
        (
            lambda: spectrum_explorer({"a": ({"grid": [0, 1], "density": [1, 1]}, [1.0])}, [2.0]),
            ValueError,
            "inside each model's tuple",
        ),
        (
            lambda: spectrum_explorer(
                {"grid": [0, 1], "density": [1, 1], "eigenvalues": [1], "blocks": [1]}
            ),
            TypeError,
            "result.blocks",
        ),
        (
            lambda: surface_slice({"x": [0, 1], "y": [0, 1], "loss": np.zeros((2, 2))}, along="z"),
            ValueError,
            "along",
        ),
        (lambda: surface_slice({"x": [0, 1], "y": [0, 1]}), TypeError, "'loss'"),
        (
            lambda: intrinsic_dimension_at([(1, 0.5)], baseline=1.0, fraction=1.5),
            ValueError,
            "fraction",
        ),
        (lambda: intrinsic_dimension_at([(1, 0.5, 3)], baseline=1.0), ValueError, "points"),
        (lambda: intrinsic_dimension_at([(0, 0.5)], baseline=1.0), ValueError, "d >= 1"),
        (lambda: intrinsic_dimension_at([(1, 0.5)], baseline="1"), TypeError, "baseline"),
        (lambda: pore_view(np.zeros((4, 4))), ValueError, "labels must be a 3-D"),
        (lambda: pore_view(np.zeros((4, 4, 4), int)), ValueError, "labels has no region"),
        (lambda: pore_view(np.full((2, 2, 2), 9)), ValueError, "relabel_sequential"),
        (
            lambda: pore_viewer(np.ones((4, 4, 4), int), parameters={"n": (1, 2, 1, 1)}),
            ValueError,
            "parameters need rerun",
        ),
        (lambda: pore_viewer(rerun=print, parameters={"n": (1, 2)}), TypeError, "parameters"),
        (lambda: pore_viewer(rerun=1, parameters={"n": (1, 2, 1, 1)}), TypeError, "rerun"),
        (lambda: pore_viewer(), TypeError, "labels"),
        (lambda: pore_view(np.ones((4, 4, 4))), TypeError, "integer"),
        (lambda: pore_view(np.ones((4, 4, 4), int), position=4), ValueError, "position"),
        (lambda: pore_view(np.ones((4, 4, 4), int), colour="values"), ValueError, "colour"),
        (lambda: ema([1.0, 2.0], 1.0), ValueError, "smoothing"),
        (
            lambda: training_view({"train_loss": [1.0, 2.0], "lr": [0.1]}),
            ValueError,
            "history.lr",
        ),
        (
            lambda: training_view({"train_loss": [1.0], "val_loss": [1.0]}),
            ValueError,
            "val_step",
        ),
        (lambda: training_view({"loss": [1.0]}), TypeError, "'train_loss'"),
        (
            lambda: training_monitor({"train_loss": [1.0, 2.0]}, refresh_ms=5),
            ValueError,
            "refresh_ms",
        ),
        (
            lambda: surface_grid({"x": [0, 1], "y": [0, 1], "loss": np.ones((2, 2))}, zoom=0.0),
            ValueError,
            "zoom",
        ),
        (lambda: surface_explorer({}), ValueError, "at least one surface"),
        (lambda: apps.serve("nope"), ValueError, "name"),
        (lambda: apps.serve("spectrum", port=70000), ValueError, "port"),
        (lambda: apps.serve("spectrum", port=-1), ValueError, "port"),
        (lambda: apps.serve(["spectrum", "pores"], results="x.json"), ValueError, "results"),
        (lambda: apps.load_results("/nonexistent/results.json"), ValueError, "results"),
    ],
)
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_results_file_round_trip_draws_each_explorer(tmp_path):
    density, top, blocks = demo.demo_spectrum(epochs=1, k=4, n_iter=6, n_probes=1)["MLP, trained"]
    spectrum = {
        "grid": density.grid,
        "density": density.density,
        "eigenvalues": top.eigenvalues,
        "blocks": {
            name: {"grid": d.grid, "density": d.density, "eigenvalues": blocks.eigenvalues[name]}
            for name, d in blocks.densities.items()
        },
    }
    surface = demo.demo_surface(n=5, epochs=1)
    sweep = demo.demo_intrinsic(dims=(2, 40), seeds=(0,))
    history = demo.demo_history(epochs=2)
    results = {
        "spectrum": (spectrum, density.density),
        "surface": (surface.to_dict(), surface.loss.T),
        "intrinsic": (sweep.to_dict(), sweep.scores.ravel()),
        "training": (history.to_dict(), history.train_loss),
    }
    for name, (result, drawn_values) in results.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(to_plain(result)))
        assert Drawn(apps.build(name, path)).shows(drawn_values), name
    loaded = apps.load_results(tmp_path / "spectrum.json")
    assert set(loaded.blocks) == {"0", "2"}
    np.testing.assert_allclose(loaded.blocks["2"].eigenvalues, blocks.eigenvalues["2"])
    pores = tmp_path / "pores.npz"
    labels = demo.demo_pores(16)
    np.savez(pores, labels=labels)
    assert Drawn(apps.build("pores", pores)).shows(pore_view(labels, position=8).slice_values.T)
    bad = tmp_path / "r.txt"
    bad.write_text("{}")
    with pytest.raises(ValueError, match=r"\.json or \.npz"):
        apps.load_results(bad)
