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


def mlp(*hidden_layers, out=3, bias=True):
    torch.manual_seed(3)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 12), *hidden_layers, torch.nn.Linear(12, out, bias=bias)
    )


def reference_surface(model, loss, x, y, res):
    """Point by point: move a copy of the model's weights, evaluate the whole model."""
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    a_axis, b_axis = res.coords if len(res.coords) == 2 else (res.coords[0], [0.0])
    d1, d2 = res.directions if len(res.directions) == 2 else (res.directions[0], None)
    out = np.empty((len(a_axis), len(b_axis)))
    for i, a in enumerate(a_axis):
        for j, b in enumerate(b_axis):
            moved = {k: p + a * d1[k] + (0 if d2 is None else b * d2[k]) for k, p in params.items()}
            m = copy.deepcopy(model).eval()
            m.load_state_dict({**m.state_dict(), **moved})
            with torch.no_grad():
                out[i, j] = float(loss(m(x), y))
    return out if len(res.coords) == 2 else out[:, 0]


@pytest.mark.parametrize(
    "layers",
    [
        [torch.nn.SiLU()],
        [torch.nn.Sigmoid()],
        [torch.nn.Tanh()],
        [torch.nn.ReLU(), torch.nn.Linear(12, 12), torch.nn.SiLU()],
    ],
    ids=["silu", "sigmoid", "tanh", "deeper"],
)
@pytest.mark.parametrize("factor", [True, False])
def test_mlp_surface_matches_point_by_point_reference(layers, factor):
    model = mlp(*layers)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 6, generator=gen), torch.randint(0, 3, (40,), generator=gen)
    grid = (np.linspace(-1.0, 1.0, 7), np.array([-0.8, -0.1, 0.0, 0.5, 1.2]))
    res = loss_surface(
        model, F.cross_entropy, (x, y), grid=grid, chunk_size=3, factor_first_layer=factor
    )
    assert res.method == "mlp rows" if factor else res.method in ("vmap", "loop")
    assert res.loss.shape == (7, 5)
    ref = reference_surface(model, F.cross_entropy, x, y, res)
    np.testing.assert_allclose(res.loss, ref, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("factor", [True, False])
def test_cnn_surface_matches_point_by_point_reference(factor):
    model, (x, y) = cnn(), data()
    grid = (np.linspace(-1.0, 1.0, 4), np.linspace(-0.5, 1.0, 5))
    res = loss_surface(model, F.cross_entropy, (x, y), grid=grid, factor_first_layer=factor)
    assert res.first_layer_factored == factor and res.method in ("vmap", "loop")
    ref = reference_surface(model, F.cross_entropy, x, y, res)
    np.testing.assert_allclose(res.loss, ref, rtol=1e-5)


def test_mlp_rows_other_losses_loaders_frozen_layers_and_one_direction():
    model = mlp(torch.nn.SiLU(), out=2, bias=False)
    model[2].weight.requires_grad_(False)  # frozen: stays at its value on the whole grid
    gen = torch.Generator().manual_seed(4)
    x, y = torch.randn(30, 6, generator=gen), torch.randn(30, 2, generator=gen)
    loader = [(x[:12], y[:12]), (x[12:], y[12:])]
    res = loss_surface(model, F.mse_loss, loader, grid=np.linspace(-1, 1, 5), bias="keep")
    assert res.method == "mlp rows"
    np.testing.assert_allclose(res.loss, reference_surface(model, F.mse_loss, x, y, res), rtol=1e-5)
    labels = torch.randint(0, 2, (30,), generator=gen)
    ce = torch.nn.CrossEntropyLoss()
    line = loss_surface(model, ce, (x, labels), directions=1, grid=np.linspace(-2, 2, 9))
    assert line.loss.shape == (9,) and line.method == "mlp rows"
    np.testing.assert_allclose(line.loss, reference_surface(model, ce, x, labels, line), rtol=1e-5)
    squashed = torch.nn.Sequential(*model, torch.nn.Tanh())  # logits that do not end linearly
    line = loss_surface(squashed, ce, (x, labels), directions=1, grid=np.linspace(-2, 2, 9))
    assert line.method == "mlp rows"
    ref = reference_surface(squashed, ce, x, labels, line)
    np.testing.assert_allclose(line.loss, ref, rtol=1e-5)
    ignoring = torch.nn.CrossEntropyLoss(ignore_index=1)  # a real class: not plain cross-entropy
    line = loss_surface(model, ignoring, (x, labels), directions=1, grid=np.linspace(-2, 2, 9))
    ref = reference_surface(model, ignoring, x, labels, line)
    np.testing.assert_allclose(line.loss, ref, rtol=1e-5)


def test_mlp_rows_stay_exact_where_exponentials_would_overflow():
    """Rows whose pre-activations reach exp(+-40) run SiLU as is; all values stay exact."""
    model = mlp(torch.nn.SiLU())
    gen = torch.Generator().manual_seed(5)
    x, y = 8 * torch.randn(20, 6, generator=gen), torch.randint(0, 3, (20,), generator=gen)
    params = {k: v.detach() for k, v in model.named_parameters()}
    d1 = {k: 0.01 * torch.randn(v.shape, generator=gen) for k, v in params.items()}
    d2 = {k: 3 * torch.randn(v.shape, generator=gen) for k, v in params.items()}
    grid = (np.linspace(-1, 1, 5), np.linspace(-2, 2, 7))
    res = loss_surface(model, F.cross_entropy, (x, y), directions=[d1, d2], grid=grid)
    first = lambda d: x @ d["0.weight"].T + d["0.bias"]  # noqa: E731
    assert float(first(d1).abs().max()) < 40  # exp(-a z_1) is tabulated ...
    row_max = [float((first(params) + b * first(d2)).abs().max()) for b in grid[1]]
    assert min(row_max) < 40 < max(row_max)  # ... and some rows, not all, fall back
    assert res.method == "mlp rows" and np.isfinite(res.loss).all()
    ref = reference_surface(model, F.cross_entropy, x, y, res)
    np.testing.assert_allclose(res.loss, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("offset", [0.0, 200.0, -200.0])
def test_mlp_rows_cross_entropy_with_huge_logits(offset):
    """Logit differences of hundreds: sums of exponentials overflow and are taken shifted."""
    model = mlp(torch.nn.SiLU())
    with torch.no_grad():
        model[2].weight.mul_(200.0)
        model[2].bias.add_(offset)
    gen = torch.Generator().manual_seed(6)
    x, y = torch.randn(25, 6, generator=gen), torch.randint(0, 3, (25,), generator=gen)
    res = loss_surface(model, F.cross_entropy, (x, y), grid=np.linspace(-1, 1, 5))
    assert res.method == "mlp rows" and np.isfinite(res.loss).all()
    with torch.no_grad():
        logits = model(x)
    assert float(logits.abs().max()) > 88  # exp overflows float32 somewhere on the grid
    np.testing.assert_allclose(
        res.loss, reference_surface(model, F.cross_entropy, x, y, res), rtol=1e-5
    )
