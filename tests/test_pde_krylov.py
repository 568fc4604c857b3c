"""Krylov solvers: batched PCG, recycled sequences against independent and direct solves."""

import numpy as np
import pytest
import scipy.sparse.linalg
import torch

from labkit.pde import darcy, darcy_coefficient
from labkit.pde.krylov import RecyclingCG, cg, greedy_similarity_order


def test_batched_pcg_matches_dense_solves():
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(3, 20, 20, generator=gen, dtype=torch.float64)
    mats = q @ q.transpose(1, 2) + 20 * torch.eye(20, dtype=torch.float64)
    b = torch.randn(3, 20, generator=gen, dtype=torch.float64)
    res = cg(
        lambda x: torch.einsum("bij,bj->bi", mats, x),
        b,
        diagonal=torch.diagonal(mats, dim1=1, dim2=2),
        tol=1e-12,
    )
    torch.testing.assert_close(res.x, torch.linalg.solve(mats, b))
    assert bool(res.converged.all()) and res.iterations.max() <= 20


def test_recycled_sequence_solves_to_tolerance_with_fewer_iterations():
    a = darcy_coefficient(33, batch=12, seed=5, dtype=torch.float64)
    tol = 1e-8
    recycled = darcy.solve_sequence(a, tol=tol, n_recycle=10, n_directions=30)
    independent = darcy.solve_sequence(a, tol=tol, recycle=False, warm_start=False, sort=False)
    op = darcy.DarcyOperator.from_coefficient(a)
    b = np.ones(31 * 31)
    for i in range(12):
        mat = op.to_scipy(i)
        x = recycled.u[i, 1:-1, 1:-1].reshape(-1).numpy()
        assert np.linalg.norm(b - mat @ x) <= 1.01 * tol * np.linalg.norm(b)
        exact = scipy.sparse.linalg.spsolve(mat, b)
        scale = np.abs(exact).max()
        assert np.abs(x - exact).max() < 1e-5 * scale
        assert np.abs(independent.u[i, 1:-1, 1:-1].reshape(-1).numpy() - exact).max() < 1e-5 * scale
    assert recycled.iterations.sum() < 0.8 * independent.iterations.sum()
    assert sorted(recycled.order.tolist()) == list(range(12))


def test_recycling_reuses_the_space_on_a_repeated_system():
    diag = torch.linspace(1, 1000, 200, dtype=torch.float64)
    solver = RecyclingCG(n_recycle=20, n_directions=60, tol=1e-10)
    b = torch.ones(1, 200, dtype=torch.float64)
    first = solver.solve(lambda x: x * diag, b)
    second = solver.solve(lambda x: x * diag, torch.rand(1, 200, dtype=torch.float64))
    torch.testing.assert_close(first.x, b / diag)
    assert int(second.iterations[0]) < int(first.iterations[0])


def test_greedy_order_follows_nearest_neighbours():
    points = torch.tensor([[0.0], [5.0], [1.0], [4.0], [2.0]])
    assert greedy_similarity_order(points).tolist() == [0, 2, 4, 3, 1]
    with pytest.raises(ValueError, match="features"):
        greedy_similarity_order(torch.zeros(3))
    with pytest.raises(ValueError, match="start"):
        greedy_similarity_order(points, start=9)


def test_bad_krylov_arguments():
    with pytest.raises(ValueError, match="tol"):
        cg(lambda x: x, torch.ones(1, 3), tol=-1.0)
    with pytest.raises(ValueError, match="n_recycle"):
        RecyclingCG(n_recycle=0)
    with pytest.raises(ValueError, match="b must have shape"):
        RecyclingCG().solve(lambda x: x, torch.ones(2, 3))
