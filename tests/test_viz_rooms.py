"""The explorers read the rooms' own result objects as they come (no conversion step), and draw
their values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _viz_drawn import Drawn

from labkit.viz.intrinsic import intrinsic_dimension_at, intrinsic_explorer, mean_by_dim
from labkit.viz.spectrum import spectrum_explorer, spectrum_view
from labkit.viz.surface import surface_explorer, surface_slice
from labkit.viz.training import training_monitor, training_view


def _tiny_regression():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    x = torch.randn(32, 2)
    return model, (x, x.sum(dim=1, keepdim=True))


def test_surface_explorer_reads_a_loss_surface_result():
    from labkit import landscape

    model, batch = _tiny_regression()
    grid = (np.linspace(-1, 1, 5), np.linspace(-0.5, 0.5, 3))
    result = landscape.loss_surface(model, torch.nn.functional.mse_loss, batch, grid=grid)
    # SurfaceResult: loss[i, j] at (coords[0][i], coords[1][j])
    cut = surface_slice(result, along="x", index=2)
    np.testing.assert_allclose(cut.coords, grid[0])
    np.testing.assert_allclose(cut.loss, np.asarray(result.loss)[:, 2])
    assert cut.fixed == pytest.approx(grid[1][2])
    drawn = Drawn(surface_explorer(result))
    assert drawn.shows(result.loss.T) and drawn.shows(result.loss[:, 1])


def test_spectrum_explorer_reads_density_eigen_and_block_results():
    from labkit import landscape

    model, batch = _tiny_regression()
    loss_fn, params = landscape.loss_closure(model, torch.nn.functional.mse_loss, batch)
    density = landscape.spectral_density(loss_fn, params, n_iter=10, n_probes=2, grid_size=200)
    top = landscape.top_eigenvalues(loss_fn, params, k=3)
    blocks = landscape.block_spectra(loss_fn, params, k=2, n_iter=5, n_probes=1)
    view = spectrum_view(density, eigenvalues=top, top_k=2)
    np.testing.assert_allclose(view.eigenvalues, np.sort(top.eigenvalues)[::-1][:2])
    explorer = spectrum_explorer(density, top, blocks=blocks)
    drawn = Drawn(explorer)
    assert drawn.shows(density.density) and drawn.shows(np.sort(top.eigenvalues)[::-1])
    (block,) = [w for w in explorer.select(lambda o: getattr(o, "label", "") == "block")]
    assert block.options == ["whole model", "block 0", "block 2"]
    block.value = "block 2"
    assert drawn.shows(blocks.densities["2"].density)
    assert drawn.shows(np.sort(blocks.eigenvalues["2"])[::-1])


def test_intrinsic_explorer_reads_a_sweep_result():
    from concurrent.futures import ThreadPoolExecutor

    from labkit.landscape import IntrinsicDimensionResult, intrinsic_dimension

    # a known score curve (2 seeds): mean scores 0.25, 0.55, 0.91, 0.98 at d = 1, 4, 16, 64
    table = {1: (0.2, 0.3), 4: (0.5, 0.6), 16: (0.86, 0.96), 64: (0.97, 0.99)}
    with ThreadPoolExecutor(1) as pool:
        sweep = intrinsic_dimension(
            lambda d, seed: 1.0 if d is None else table[d][seed],
            table, seeds=[0, 1], executor=pool, progress=False,
        )  # fmt: skip
    assert isinstance(sweep, IntrinsicDimensionResult)
    r = intrinsic_dimension_at(sweep, sweep.baseline, 0.9)
    assert r.d_int == sweep.d_int90 == 16
    np.testing.assert_allclose(mean_by_dim(sweep)[1], [0.25, 0.55, 0.91, 0.98])
    drawn = Drawn(intrinsic_explorer(sweep))
    assert drawn.shows([0.2, 0.3, 0.5, 0.6, 0.86, 0.96, 0.97, 0.99])
    assert drawn.shows([0.25, 0.55, 0.91, 0.98])


def test_training_monitor_reads_a_fit_history():
    from torch.utils.data import TensorDataset

    from labkit.train import History, TrainConfig, fit

    model, (x, y) = _tiny_regression()
    history = fit(
        model, TensorDataset(x, y), TensorDataset(x[:8], y[:8]),
        loss=torch.nn.functional.mse_loss, config=TrainConfig(epochs=3, batch_size=8, lr=1e-2),
    )  # fmt: skip
    assert isinstance(history, History)
    view = training_view(history, smoothing=0.0)
    np.testing.assert_array_equal(view.train_loss, history.train_loss)
    np.testing.assert_array_equal(view.val_step, [4, 8, 12])  # 4 steps per epoch
    drawn = Drawn(training_monitor(history))
    for values in (history.train_loss, history.val_loss, history.lr, history.step):
        assert drawn.shows(values)
