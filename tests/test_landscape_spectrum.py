"""Hessian spectra against quadratics with a known spectrum and against dense Hessians."""

import math

import numpy as np
import pytest
import torch

from labkit.landscape import (
    block_spectra,
    hessian_trace,
    hvp,
    hvp_batch,
    loss_closure,
    spectral_density,
    top_eigenvalues,
)
from labkit.landscape.params import flatten, unflatten

D = 2000


def quadratic(eigs: np.ndarray, seed: int = 0):
    """``0.5 (x - x0)^T A (x - x0)`` with ``A = Q diag(eigs) Q`` and a Householder ``Q``."""
    gen = torch.Generator().manual_seed(seed)
    lam = torch.as_tensor(eigs, dtype=torch.float64)
    u = torch.randn(len(eigs), generator=gen, dtype=torch.float64)
    u /= u.norm()
    x0 = torch.randn(len(eigs), generator=gen, dtype=torch.float64)
    params = {
        "a": torch.zeros(len(eigs) - 500, dtype=torch.float64, requires_grad=True),
        "b": torch.zeros(25, 20, dtype=torch.float64, requires_grad=True),
    }

    def reflect(x):
        return x - 2 * u * (u @ x)

    def loss_fn(p):
        x = flatten(p) - x0
        return 0.5 * (x @ reflect(lam * reflect(x)))

    return loss_fn, params


def spectrum(seed=1):
    rng = np.random.default_rng(seed)
    outliers = np.array([100.0, 70.0, 50.0, 30.0, 20.0, 12.0, 11.0, 10.0, 9.0, 8.0])
    return np.concatenate([rng.uniform(0.0, 1.0, D - len(outliers)), outliers])


@pytest.mark.parametrize("mode", ["fwd-rev", "rev-rev"])
def test_top_eigenvalues_of_quadratic_match_to_1e6(mode):
    eigs = spectrum()
    loss_fn, params = quadratic(eigs)
    res = top_eigenvalues(loss_fn, params, k=5, tol=1e-8, mode=mode)
    expected = np.sort(eigs)[::-1][:5]
    np.testing.assert_allclose(res.eigenvalues, expected, rtol=1e-6)
    assert res.converged and res.n_hvp == res.n_iter < 100
    for lam, u in zip(res.eigenvalues, res.eigenvectors, strict=True):
        hu = flatten(hvp(loss_fn, params, u, mode=mode))
        assert float((hu - lam * flatten(u)).norm()) < 1e-5 * lam


def test_smallest_eigenvalues_of_quadratic():
    eigs = spectrum()
    eigs[:3] = [-5.0, -3.0, -2.0]
    loss_fn, params = quadratic(eigs)
    res = top_eigenvalues(loss_fn, params, k=3, tol=1e-8, which="smallest", max_iter=300)
    np.testing.assert_allclose(res.eigenvalues, [-2.0, -3.0, -5.0], rtol=1e-6)


def test_hutchinson_and_hutchpp_converge_to_trace():
    eigs = spectrum()
    loss_fn, params = quadratic(eigs)
    true = eigs.sum()
    errors = {}
    for method in ("hutchinson", "hutch++"):
        few = hessian_trace(loss_fn, params, method=method, n_probes=30, seed=3)
        many = hessian_trace(loss_fn, params, method=method, n_probes=300, seed=3)
        assert many.n_hvp == 300
        assert abs(many.trace - true) <= 4 * many.std_error + 1e-9
        assert abs(many.trace - true) / true < 0.05
        errors[method] = (abs(few.trace - true), abs(many.trace - true))
    assert errors["hutch++"][1] < errors["hutchinson"][1]


def test_hutchpp_is_exact_for_low_rank():
    eigs = np.zeros(D)
    eigs[:6] = [9.0, 7.0, 5.0, 3.0, 2.0, 1.0]
    loss_fn, params = quadratic(eigs, seed=4)
    res = hessian_trace(loss_fn, params, method="hutch++", n_probes=30)
    assert res.trace == pytest.approx(27.0, rel=1e-10)


def test_slq_density_puts_mass_in_the_right_places():
    rng = np.random.default_rng(0)
    eigs = np.concatenate([rng.uniform(0.0, 1.0, 1800), rng.uniform(9.0, 11.0, 200)])
    loss_fn, params = quadratic(eigs, seed=2)
    res = spectral_density(loss_fn, params, n_iter=40, n_probes=8, seed=5)
    assert np.trapezoid(res.density, res.grid) == pytest.approx(1.0, abs=1e-12)
    assert res.weights.sum() == pytest.approx(1.0, abs=1e-10)
    assert res.mass(5.0, np.inf) == pytest.approx(0.1, abs=0.02)
    assert res.mass(-0.1, 1.1) == pytest.approx(0.9, abs=0.02)
    assert res.mass(1.5, 8.5) < 0.01
    mid = (res.grid > 2.0) & (res.grid < 8.0)
    assert res.density[mid].max() < 1e-3 * res.density.max()
    assert float(res.nodes @ res.weights) == pytest.approx(eigs.mean(), rel=0.05)
    assert res.n_hvp == 8 * 40
    two = res.first_probes(2)
    alone = spectral_density(loss_fn, params, n_iter=40, n_probes=2, seed=5, sigma=res.sigma)
    np.testing.assert_allclose(two.density, alone.density, rtol=1e-8, atol=1e-12)
    wide = res.smoothed(sigma=1.0)
    assert np.trapezoid(wide.density, wide.grid) == pytest.approx(1.0, abs=1e-12)


def mlp_problem(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 6),
        torch.nn.Tanh(),
        torch.nn.Linear(6, 6),
        torch.nn.Tanh(),
        torch.nn.Linear(6, 3),
    ).to(dtype)
    x = torch.randn(40, 4, dtype=dtype)
    y = torch.randint(0, 3, (40,))
    return net, x, y


def dense_hessian(loss_fn, params):
    flat = flatten({k: v.detach() for k, v in params.items()})
    return torch.autograd.functional.hessian(lambda z: loss_fn(unflatten(z, params)), flat)


@pytest.mark.parametrize("mode", ["fwd-rev", "rev-rev"])
def test_mlp_eigenvalues_match_dense_hessian(mode):
    net, x, y = mlp_problem()
    loss_fn, params = loss_closure(net, torch.nn.functional.cross_entropy, (x, y))
    exact = torch.linalg.eigvalsh(dense_hessian(loss_fn, params)).numpy()
    top = top_eigenvalues(loss_fn, params, k=3, tol=1e-10, mode=mode)
    np.testing.assert_allclose(top.eigenvalues, exact[::-1][:3], rtol=1e-8)
    bottom = top_eigenvalues(loss_fn, params, k=2, tol=1e-10, which="smallest", mode=mode)
    np.testing.assert_allclose(bottom.eigenvalues, exact[:2][::-1], rtol=1e-6, atol=1e-10)


def test_loader_closure_accumulates_over_batches():
    net, x, y = mlp_problem()
    full, params = loss_closure(net, torch.nn.functional.cross_entropy, (x, y))
    loader = [(x[:15], y[:15]), (x[15:32], y[15:32]), (x[32:], y[32:])]
    batched, _ = loss_closure(net, torch.nn.functional.cross_entropy, loader)
    assert float(batched(params)) == pytest.approx(float(full(params)), rel=1e-12)
    H = dense_hessian(full, params)
    v = {k: torch.randn_like(p) for k, p in params.items()}
    for mode in ("fwd-rev", "rev-rev"):
        hv = flatten(hvp(batched, params, v, mode=mode))
        torch.testing.assert_close(hv, H @ flatten(v), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", ["fwd-rev", "rev-rev"])
def test_batched_hvp_matches_dense(mode):
    net, x, y = mlp_problem()
    loss_fn, params = loss_closure(net, torch.nn.functional.cross_entropy, (x, y))
    H = dense_hessian(loss_fn, params)
    vs = {k: torch.randn(5, *p.shape, dtype=p.dtype) for k, p in params.items()}
    out = hvp_batch(loss_fn, params, vs, mode=mode, chunk_size=2)
    V = torch.cat([vs[k].reshape(5, -1) for k in params], 1)
    HV = torch.cat([out[k].reshape(5, -1) for k in params], 1)
    torch.testing.assert_close(HV, V @ H, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("train", [False, True])
def test_batchnorm_in_eval_and_train_mode(train):
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.BatchNorm1d(5), torch.nn.Tanh(), torch.nn.Linear(5, 2)
    ).double()
    with torch.no_grad():
        net(torch.randn(64, 3, dtype=torch.float64) * 2 + 1)  # non-trivial running statistics
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randint(0, 2, (16,))
    loss_fn, params = loss_closure(net, torch.nn.functional.cross_entropy, (x, y), train=train)
    reference = net.train() if train else net.eval()

    def ref_loss(z):
        p = unflatten(z, params)
        out = torch.func.functional_call(reference, {**dict(reference.named_buffers()), **p}, x)
        return torch.nn.functional.cross_entropy(out, y)

    flat = flatten({k: v.detach() for k, v in params.items()})
    H = torch.autograd.functional.hessian(ref_loss, flat)
    v = {k: torch.randn_like(p) for k, p in params.items()}
    for mode in ("fwd-rev", "rev-rev"):
        torch.testing.assert_close(flatten(hvp(loss_fn, params, v, mode=mode)), H @ flatten(v))


def test_block_spectra_match_diagonal_blocks():
    net, x, y = mlp_problem()
    loss_fn, params = loss_closure(net, torch.nn.functional.cross_entropy, (x, y))
    H = dense_hessian(loss_fn, params).numpy()
    res = block_spectra(loss_fn, params, k=2, n_iter=20, n_probes=1, tol=1e-10)
    assert list(res.blocks) == ["0", "2", "4"]
    offsets = np.cumsum([0] + [p.numel() for p in params.values()])
    index = {name: (offsets[i], offsets[i + 1]) for i, name in enumerate(params)}
    for block, names in res.blocks.items():
        idx = np.concatenate([np.arange(*index[n]) for n in names])
        exact = np.linalg.eigvalsh(H[np.ix_(idx, idx)])[::-1][:2]
        np.testing.assert_allclose(res.eigenvalues[block], exact, rtol=1e-7)
        assert np.trapezoid(res.densities[block].density, res.densities[block].grid) == (
            pytest.approx(1.0)
        )


def test_results_turn_into_plain_dicts():
    loss_fn, params = quadratic(spectrum())
    top = top_eigenvalues(loss_fn, params, k=2).to_dict()
    trace = hessian_trace(loss_fn, params, n_probes=6).to_dict()
    dens = spectral_density(loss_fn, params, n_iter=5, n_probes=1).to_dict()
    assert len(top["eigenvalues"]) == 2 and top["n_hvp"] > 0
    assert math.isfinite(trace["trace"]) and trace["n_hvp"] == 6
    assert dens["n_hvp"] == 5
