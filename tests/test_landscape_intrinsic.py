"""Fastfood and the other random projections, subspace models and the d_int90 sweep."""

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
import scipy.linalg
import torch

from labkit.landscape import (
    DenseProjection,
    SparseProjection,
    SubspaceModel,
    SubspaceTask,
    fastfood_projection,
    fwht,
    intrinsic_dimension,
    make_projection,
)
from labkit.landscape.params import flatten


@pytest.mark.parametrize("L", [1, 2, 8, 256])
def test_fwht_matches_hadamard_matrix(L):
    x = torch.randn(3, L, dtype=torch.float64)
    H = torch.as_tensor(scipy.linalg.hadamard(L), dtype=torch.float64)
    torch.testing.assert_close(fwht(x), x @ H)


def dense_fastfood(P):
    """Reference: the Fastfood matrix built from its factors with scipy's Hadamard matrix."""
    H = scipy.linalg.hadamard(P.L).astype(np.float64)
    perm = np.eye(P.L)[P.Pi.numpy()]
    M = H @ np.diag(P.G.double().numpy()) @ perm @ H @ np.diag(P.B.double().numpy())
    return P.scale * M[: P.D, : P.d]


def test_fastfood_matches_dense_reference():
    P = fastfood_projection(100, 7, seed=3, dtype=torch.float64)
    x = torch.randn(7, dtype=torch.float64)
    np.testing.assert_allclose(P(x).numpy(), dense_fastfood(P) @ x.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["fastfood", "dense", "sparse"])
def test_projection_preserves_norm_in_expectation(kind):
    x = torch.randn(16, dtype=torch.float64)
    ratios = np.array(
        [
            float(make_projection(kind, 300, 16, seed=s, dtype=torch.float64)(x).norm() ** 2)
            for s in range(300)
        ]
    ) / float(x.norm() ** 2)
    assert abs(ratios.mean() - 1.0) < 4 * ratios.std() / np.sqrt(len(ratios)) + 1e-3


def test_fastfood_is_linear_in_memory():
    D = 1_000_003
    P = fastfood_projection(D, 1000, seed=0)
    assert P.L == 2**20
    assert sum(b.numel() for b in P.buffers()) == 4 * P.L
    theta = torch.randn(1000, requires_grad=True)
    y = P(theta)
    y.square().sum().backward()
    assert y.shape == (D,) and theta.grad.shape == (1000,)
    assert torch.isfinite(theta.grad).all()


def net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3),
        torch.nn.BatchNorm2d(3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(3 * 4 * 4, 2),
    ).eval()


@pytest.mark.parametrize("kind", ["fastfood", "dense", "sparse"])
def test_zero_theta_d_reproduces_the_initial_model_exactly(kind):
    model = net()
    sub = SubspaceModel(model, d=5, projection=kind, seed=1).eval()
    x = torch.randn(4, 1, 6, 6)
    assert torch.equal(sub(x), model(x))
    trainable = [n for n, p in sub.named_parameters() if p.requires_grad]
    assert trainable == ["theta_d"]


def test_subspace_gradient_is_projected_gradient():
    model = net().double()
    sub = SubspaceModel(model, d=6, projection="fastfood", seed=2).eval()
    with torch.no_grad():
        sub.theta_d.normal_()
    x = torch.randn(5, 1, 6, 6, dtype=torch.float64)
    sub(x).square().sum().backward()
    theta = {k: v.detach().requires_grad_(True) for k, v in sub.parameters_dict().items()}
    out = torch.func.functional_call(sub.model, {**dict(sub.model.named_buffers()), **theta}, x)
    full = torch.autograd.grad(out.square().sum(), list(theta.values()))
    P = dense_fastfood(sub.projection)
    expected = P.T @ flatten(dict(zip(theta, full, strict=True))).numpy()
    np.testing.assert_allclose(sub.theta_d.grad.numpy(), expected, rtol=1e-9, atol=1e-12)


def blobs_task(**kw):
    gen = torch.Generator().manual_seed(0)
    centers = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    y = torch.randint(0, 3, (300,), generator=gen)
    x = centers[y] + 0.5 * torch.randn(300, 2, generator=gen)
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    return SubspaceTask(model, x[:200], y[:200], x[200:], y[200:], steps=60, lr=0.05, **kw)


def test_sweep_finds_d_int90_on_separable_blobs():
    task = blobs_task()
    with ThreadPoolExecutor(max_workers=1) as pool:
        res = intrinsic_dimension(task, [1, 4, 40], seeds=[0, 1], executor=pool, progress=False)
    assert res.baseline > 0.95
    assert res.scores.shape == (3, 2)
    assert res.scores[-1].mean() >= 0.9 * res.baseline
    expected = next(
        d for d, s in zip(res.dims, res.mean_scores, strict=True) if s >= 0.9 * res.baseline
    )
    assert res.d_int90 == expected
    assert res.to_dict()["d_int90"] == expected


def test_sweep_runs_in_a_process_pool():
    task = blobs_task(projection="sparse")
    with ProcessPoolExecutor(max_workers=1) as pool:
        res = intrinsic_dimension(task, [30], baseline=1.0, executor=pool, progress=False)
    assert res.scores.shape == (1, 1) and 0.0 <= res.scores[0, 0] <= 1.0


def test_bad_projection_input():
    with pytest.raises(ValueError, match=r"d must be <= D \(10\), got 11"):
        DenseProjection(10, 11)
    with pytest.raises(ValueError, match="projection must be one of"):
        make_projection("gaussian", 10, 2)
    with pytest.raises(ValueError, match="density must be in"):
        SparseProjection(10, 2, density=2.0)
    with pytest.raises(ValueError, match="power-of-two"):
        fwht(torch.ones(6))
    with pytest.raises(TypeError, match="executor must be"):
        intrinsic_dimension(lambda d, s: 1.0, [1], executor="local")
    with pytest.raises(ValueError, match="dims must be >= 1"):
        intrinsic_dimension(lambda d, s: 1.0, [0])
