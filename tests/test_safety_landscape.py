"""Issue 21, landscape: a NaN weight, a non-scalar loss, inputs that do not fit and an empty
grid each get a message naming the argument instead of a grid of NaN or a torch error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labkit.landscape import hessian_trace, loss_closure, loss_surface, top_eigenvalues

mse = torch.nn.functional.mse_loss


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))


def _data(features: int = 3):
    gen = torch.Generator().manual_seed(1)
    return torch.randn(8, features, generator=gen), torch.randn(8, 1, generator=gen)


def test_nan_weight_is_named_for_surface_and_spectrum():
    net = _net()
    with torch.no_grad():
        net[2].weight[0, 1] = float("nan")
    with pytest.raises(ValueError, match=r"params\['2.weight'\] holds NaN"):
        loss_surface(net, mse, _data(), grid=np.linspace(-1, 1, 3))
    loss_fn, params = loss_closure(net, mse, _data())
    with pytest.raises(ValueError, match=r"params\['2.weight'\] holds NaN"):
        top_eigenvalues(loss_fn, params, k=1)
    with pytest.raises(ValueError, match=r"params\['2.weight'\] holds NaN"):
        hessian_trace(loss_fn, params)


def test_nan_data_is_named():
    x, y = _data()
    x[3, 1] = float("inf")
    with pytest.raises(ValueError, match="data batch 0 holds NaN or inf"):
        loss_surface(_net(), mse, (x, y), grid=np.linspace(-1, 1, 3))


def test_loss_that_returns_a_tensor_is_named():
    def per_sample(out, y):
        return (out - y).pow(2).mean(dim=1)

    with pytest.raises(TypeError, match=r"loss must return a scalar tensor, got \(8,\)"):
        loss_surface(_net(), per_sample, _data(), grid=np.linspace(-1, 1, 3))


def test_inputs_with_the_wrong_number_of_features():
    with pytest.raises(ValueError, match=r"data: inputs of shape \(8, 5\) do not fit the model"):
        loss_surface(_net(), mse, _data(features=5), grid=np.linspace(-1, 1, 3))


@pytest.mark.parametrize("grid", [np.array([]), [], (np.linspace(0, 1, 3), np.array([]))])
def test_empty_grid_is_named(grid):
    with pytest.raises(ValueError, match="grid must be"):
        loss_surface(_net(), mse, _data(), grid=grid)


def test_finite_case_still_matches_the_direct_loss():
    net, (x, y) = _net(), _data()
    res = loss_surface(net, mse, (x, y), grid=np.linspace(-1, 1, 3))
    assert np.isfinite(res.loss).all()
    assert res.origin_loss == pytest.approx(float(mse(net(x), y).detach()), rel=1e-6)


def test_a_grid_where_the_loss_overflows_is_named():
    with pytest.raises(ValueError, match=r"NaN or inf at 2 of 3 grid points .* smaller grid"):
        loss_surface(_net(), mse, _data(), directions=1, grid=np.array([-1e30, 0.0, 1e30]))
