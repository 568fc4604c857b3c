"""The explorers read the rooms' own result objects as they come (no conversion step)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labkit.viz.intrinsic import intrinsic_dimension_at, intrinsic_explorer
from labkit.viz.spectrum import spectrum_explorer, spectrum_view
from labkit.viz.surface import surface_explorer, surface_slice
from labkit.viz.training import training_monitor, training_view


def _tiny_regression():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    x = torch.randn(32, 2)
    return model, (x, x.sum(dim=1, keepdim=True))


def test_surface_explorer_reads_a_loss_surface_result():
    landscape = pytest.importorskip("labkit.landscape")
    model, batch = _tiny_regression()
    grid = (np.linspace(-1, 1, 5), np.linspace(-0.5, 0.5, 3))
    result = landscape.loss_surface(model, torch.nn.functional.mse_loss, batch, grid=grid)
    # SurfaceResult: loss[i, j] at (coords[0][i], coords[1][j])
    cut = surface_slice(result, along="x", index=2)
    np.testing.assert_allclose(cut.coords, grid[0])
    np.testing.assert_allclose(cut.loss, np.asarray(result.loss)[:, 2])
    assert cut.fixed == pytest.approx(grid[1][2])
    assert type(surface_explorer(result)).__name__ == "Column"


def test_spectrum_explorer_reads_density_and_eigen_results():
    landscape = pytest.importorskip("labkit.landscape")
    model, batch = _tiny_regression()
    loss_fn, params = landscape.loss_closure(model, torch.nn.functional.mse_loss, batch)
    density = landscape.spectral_density(loss_fn, params, n_iter=10, n_probes=1, grid_size=200)
    top = landscape.top_eigenvalues(loss_fn, params, k=3)
    layout = spectrum_explorer(density, eigenvalues=top)
    assert type(layout).__name__ == "Column"
    view = spectrum_view({**density.__dict__, "eigenvalues": top.eigenvalues}, top_k=2)
    np.testing.assert_allclose(view.eigenvalues, np.sort(top.eigenvalues)[::-1][:2])


def test_intrinsic_explorer_reads_a_sweep_result():
    from types import SimpleNamespace

    dims = np.array([1, 4, 16, 64])
    scores = np.array([[0.2, 0.3], [0.5, 0.6], [0.85, 0.95], [0.97, 0.99]])
    sweep = SimpleNamespace(dims=dims, scores=scores, baseline=1.0, threshold=0.9)
    r = intrinsic_dimension_at(sweep, sweep.baseline, 0.9)
    assert r.d_int == 16  # mean scores 0.25, 0.55, 0.90, 0.98
    assert type(intrinsic_explorer(sweep)).__name__ == "Column"


def test_training_monitor_reads_a_fit_history():
    train = pytest.importorskip("labkit.train")
    history = train.History(
        step=[0, 1, 2, 3], train_loss=[1.0, 0.5, 0.25, 0.125], lr=[0.1] * 4,
        val_step=[3], val_loss=[0.2],
    )  # fmt: skip
    view = training_view(history, smoothing=0.0)
    np.testing.assert_array_equal(view.loss, history.train_loss)
    np.testing.assert_array_equal(view.val_steps, [3])
    assert type(training_monitor(history)).__name__ == "Column"
