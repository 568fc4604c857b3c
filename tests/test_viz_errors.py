"""labkit.viz: bad input fails early with an error that names the argument."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.viz import apps, demo
from labkit.viz.fields import field_frame, field_viewer
from labkit.viz.intrinsic import intrinsic_dimension_at
from labkit.viz.pores import pore_view
from labkit.viz.spectrum import spectrum_explorer, spectrum_view
from labkit.viz.surface import surface_slice
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
        (lambda: spectrum_view(demo.demo_spectrum(n=20), top_k=0), ValueError, "top_k"),
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
        (lambda: pore_view(np.zeros((4, 4, 4), int)), ValueError, "pore voxels"),
        (lambda: pore_view(np.ones((4, 4, 4))), TypeError, "integer"),
        (lambda: pore_view(np.ones((4, 4, 4), int), position=4), ValueError, "position"),
        (lambda: pore_view(np.ones((4, 4, 4), int), colour="values"), ValueError, "colour"),
        (lambda: ema([1.0, 2.0], 1.0), ValueError, "smoothing"),
        (lambda: training_view({"loss": [1.0, 2.0], "lr": [0.1]}), ValueError, "history.lr"),
        (lambda: training_view({"loss": [1.0], "val_loss": [1.0]}), ValueError, "val_steps"),
        (lambda: training_view({"losses": [1.0]}), TypeError, "history"),
        (lambda: training_monitor({"loss": [1.0, 2.0]}, refresh_ms=5), ValueError, "refresh_ms"),
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


def test_results_file_round_trip_builds_each_explorer(tmp_path):
    results = {
        "spectrum": demo.demo_spectrum(n=40),
        "surface": demo.demo_surface(n=7),
        "intrinsic": demo.demo_intrinsic(),
        "training": demo.demo_history(n_steps=10),
    }
    for name, result in results.items():
        path = tmp_path / f"{name}.json"
        path.write_text(__import__("json").dumps(result.to_dict()))
        loaded = apps.load_results(path)
        assert type(apps.build(name, path)).__name__ == "Column"
        if name == "spectrum":
            assert set(loaded.blocks) == {"layer 1", "layer 2"}
            np.testing.assert_allclose(
                loaded.blocks["layer 2"].eigenvalues, result.blocks["layer 2"].eigenvalues
            )
    pores = tmp_path / "pores.npz"
    np.savez(pores, labels=demo.demo_pores(n=8).labels)
    assert type(apps.build("pores", pores)).__name__ == "Column"
    bad = tmp_path / "r.txt"
    bad.write_text("{}")
    with pytest.raises(ValueError, match=r"\.json or \.npz"):
        apps.load_results(bad)
