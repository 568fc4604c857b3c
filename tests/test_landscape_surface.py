"""Loss surfaces and their directions, against plain per-point evaluation and HVPs."""

import copy

import numpy as np
import pytest
import torch

from labkit.landscape import (
    filter_normalize,
    hvp,
    interpolation_direction,
    loss_closure,
    loss_surface,
    pca_directions,
    random_direction,
)
from labkit.landscape.params import dot

F = torch.nn.functional


def cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 6 * 6, 3),
    )


def data(n=24):
    gen = torch.Generator().manual_seed(1)
    return torch.randn(n, 1, 8, 8, generator=gen), torch.randint(0, 3, (n,), generator=gen)


def loss_at(model, params, x, y):
    """Reference: copy the model, load the parameters, evaluate in eval mode."""
    m = copy.deepcopy(model).eval()
    m.load_state_dict({**m.state_dict(), **params})
    with torch.no_grad():
        return float(F.cross_entropy(m(x), y))


@pytest.mark.parametrize("bias", ["zero", "keep"])
def test_filter_normalized_direction_has_filter_norms(bias):
    params = {k: v.detach() for k, v in cnn().named_parameters()}
    d = random_direction(params, seed=3, bias=bias)
    for name, p in params.items():
        if p.ndim > 1:
            torch.testing.assert_close(
                d[name].flatten(1).norm(dim=1), p.flatten(1).norm(dim=1), rtol=1e-5, atol=0
            )
        elif bias == "zero":
            assert torch.count_nonzero(d[name]) == 0
        else:
            torch.testing.assert_close(d[name].norm(), p.norm())
    raw = {k: torch.randn_like(p) for k, p in params.items()}
    layer = filter_normalize(raw, params, normalization="layer", bias="keep")
    for name, p in params.items():
        torch.testing.assert_close(layer[name].norm(), p.norm())


def test_surface_at_origin_equals_loss_at_solution_and_matches_reference():
    model, (x, y) = cnn(), data()
    res = loss_surface(model, F.cross_entropy, (x, y), grid=np.linspace(-1, 1, 5), seed=7)
    params = {k: v.detach() for k, v in model.named_parameters()}
    at_solution = loss_at(model, params, x, y)
    assert res.loss.shape == (5, 5)
    assert res.loss[2, 2] == pytest.approx(at_solution, rel=1e-6)
    assert res.origin_loss == pytest.approx(at_solution, rel=1e-6)
    d1, d2 = res.directions
    for i, j in [(0, 0), (4, 1), (3, 4)]:
        a, b = res.coords[0][i], res.coords[1][j]
        moved = {k: params[k] + a * d1[k] + b * d2[k] for k in params}
        assert res.loss[i, j] == pytest.approx(loss_at(model, moved, x, y), rel=1e-5)


def test_chunking_and_loaders_do_not_change_values():
    model, (x, y) = cnn(), data()
    grid = np.linspace(-0.5, 0.5, 7)
    ref = loss_surface(model, F.cross_entropy, (x, y), grid=grid, chunk_size=49)
    one = loss_surface(model, F.cross_entropy, (x, y), grid=grid, chunk_size=5, vectorize=True)
    loop = loss_surface(model, F.cross_entropy, (x, y), grid=grid, chunk_size=7, vectorize=False)
    np.testing.assert_allclose(loop.loss, ref.loss, rtol=1e-6)
    assert one.vectorized and not loop.vectorized
    loader = [(x[:10], y[:10]), (x[10:], y[10:])]
    split = loss_surface(model, F.cross_entropy, loader, grid=grid)
    np.testing.assert_allclose(one.loss, ref.loss, rtol=1e-6)
    np.testing.assert_allclose(split.loss, ref.loss, rtol=1e-5)


def test_curvature_at_minimum_matches_hessian_quadratic_form():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    model = model.double()
    x = torch.randn(30, 3, dtype=torch.float64)
    y = torch.sin(x.sum(1, keepdim=True))
    h = 1e-3
    res = loss_surface(model, F.mse_loss, (x, y), grid=np.array([-h, 0.0, h]), seed=2)
    loss_fn, params = loss_closure(model, F.mse_loss, (x, y))
    for d, curv in zip(res.directions, res.curvature(), strict=True):
        dHd = float(dot(d, hvp(loss_fn, params, d)))
        assert curv == pytest.approx(dHd, rel=1e-4)


def test_interpolation_between_two_solutions():
    model_a, (x, y) = cnn(), data()
    torch.manual_seed(5)
    model_b = cnn()
    for p in model_b.parameters():
        p.data += 0.3 * torch.randn_like(p)
    a = {k: v.detach() for k, v in model_a.named_parameters()}
    b = {k: v.detach() for k, v in model_b.named_parameters()}
    res = loss_surface(
        model_a,
        F.cross_entropy,
        (x, y),
        directions=[interpolation_direction(a, b)],
        grid=np.linspace(-0.5, 1.5, 9),
    )
    assert res.loss.shape == (9,)
    assert res.loss[2] == pytest.approx(loss_at(model_a, a, x, y), rel=1e-6)
    assert res.loss[6] == pytest.approx(loss_at(model_a, b, x, y), rel=1e-5)


def test_pca_directions_recover_the_plane_of_a_trajectory():
    gen = torch.Generator().manual_seed(0)
    u, v = torch.linalg.qr(torch.randn(50, 2, generator=gen))[0].T
    end = torch.randn(50, generator=gen)
    ts = torch.linspace(0, 1, 12)
    traj = [{"w": end + 3 * (1 - t) * u + 0.5 * torch.sin(6 * t) * v} for t in ts]
    res = pca_directions(traj, 2)
    basis = torch.stack([d["w"] for d in res.directions])
    torch.testing.assert_close(basis @ basis.T, torch.eye(2), atol=1e-5, rtol=0)
    for w in (u, v):
        assert float((basis @ w).norm()) == pytest.approx(1.0, abs=1e-5)
    assert res.explained_variance_ratio.sum() == pytest.approx(1.0, abs=1e-6)
    assert res.path.shape == (12, 2)
    np.testing.assert_allclose(np.linalg.norm(res.path[-1]), 0.0, atol=1e-6)


def test_bad_directions_and_grids():
    model, batch = cnn(), data()
    params = {k: v.detach() for k, v in model.named_parameters()}
    wrong = dict(params)
    wrong.pop("0.bias")
    with pytest.raises(ValueError, match=r"directions\[0\].*missing \['0.bias'\]"):
        loss_surface(model, F.cross_entropy, batch, directions=[wrong])
    shaped = {**params, "4.weight": torch.zeros(2, 2)}
    with pytest.raises(ValueError, match=r"4.weight.*shape"):
        loss_surface(model, F.cross_entropy, batch, directions=[shaped])
    with pytest.raises(ValueError, match="directions must be 1 or 2"):
        loss_surface(model, F.cross_entropy, batch, directions=3)
    with pytest.raises(ValueError, match="grid"):
        loss_surface(model, F.cross_entropy, batch, grid=(np.zeros(3),))
    with pytest.raises(ValueError, match="normalization"):
        loss_surface(model, F.cross_entropy, batch, normalization="global")
    with pytest.raises(ValueError, match="trajectory"):
        pca_directions([params])


@pytest.mark.parametrize("train", [False, True])
def test_first_layer_factoring_matches_full_evaluation(train):
    """The first layer's output is linear in its parameters: factoring it changes no value."""
    torch.manual_seed(2)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.BatchNorm1d(16), torch.nn.SiLU(), torch.nn.Linear(16, 3)
    )
    mlp[0].bias.requires_grad_(False)  # a frozen first-layer tensor stays at its value
    x, y = torch.randn(20, 8), torch.randint(0, 3, (20,))
    grid = np.linspace(-1, 1, 6)
    kwargs = dict(grid=grid, bias="keep", seed=4, train=train)
    for model, data_ in ((mlp, (x, y)), (cnn(), data())):
        fast = loss_surface(model, F.cross_entropy, data_, **kwargs)
        full = loss_surface(model, F.cross_entropy, data_, factor_first_layer=False, **kwargs)
        assert fast.first_layer_factored and not full.first_layer_factored
        np.testing.assert_allclose(fast.loss, full.loss, rtol=2e-5)


def test_models_that_do_not_start_with_a_linear_layer_run_whole():
    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = cnn()

        def forward(self, x):
            return self.net(x)

    x, y = data()
    res = loss_surface(Wrapped(), F.cross_entropy, (x, y), grid=np.linspace(-1, 1, 3))
    assert not res.first_layer_factored
    ref = loss_surface(cnn(), F.cross_entropy, (x, y), grid=np.linspace(-1, 1, 3))
    np.testing.assert_allclose(res.loss, ref.loss, rtol=1e-5)
