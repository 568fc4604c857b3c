"""Krylov solvers: batched PCG, recycled sequences against independent and direct solves."""

import numpy as np
import pytest
import scipy.sparse.linalg
import torch

from labkit.pde import darcy, darcy_coefficient
from labkit.pde.krylov import (
    CoarseSpace,
    RecyclingCG,
    _CoarseCorrection,
    _pencil,
    cg,
    greedy_similarity_order,
    linear_interpolation,
)


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


@pytest.mark.parametrize("carried", [False, True])
def test_rayleigh_ritz_matrices_from_cg_scalars_equal_explicit_products(monkeypatch, carried):
    # the recycled solve builds Z^T A Z and Z^T D Z from CG's scalars (Lanczos relations of
    # deflated CG); they must equal the products computed directly from Z
    a = darcy_coefficient(17, batch=2, seed=3, dtype=torch.float64)
    op = darcy.DarcyOperator.from_coefficient(a)
    diag = op.diagonal()
    b = torch.ones(1, 15 * 15, dtype=torch.float64)
    solver = RecyclingCG(n_recycle=5, n_directions=12, tol=1e-10)
    if carried:
        solver.solve(op.select(0).matvec, b, diagonal=diag[:1])
    seen = {}
    original = RecyclingCG._ritz_from_history

    def spy(self, u, correction, diagonal, history):
        seen.update(u=u, e=None if u is None else correction.matrix, history=history)
        return original(self, u, correction, diagonal, history)

    monkeypatch.setattr(RecyclingCG, "_ritz_from_history", spy)
    solver.solve(op.select(1).matvec, b, diagonal=diag[1:])
    assert (seen["u"] is not None) == carried and len(seen["history"].curvatures) == 12
    t, s, z = _pencil(seen["u"], seen["e"], diag[1:], seen["history"])
    assert z.shape[0] == 12 + 5 * carried
    explicit_t = z @ op.select(1).matvec(z).T
    explicit_s = (z * diag[1:]) @ z.T
    torch.testing.assert_close(t, explicit_t, rtol=0, atol=1e-8 * float(explicit_t.abs().max()))
    torch.testing.assert_close(s, explicit_s, rtol=0, atol=1e-8 * float(explicit_s.abs().max()))


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


def test_linear_interpolation_matches_numpy_interp():
    fine, coarse = 13, 4
    p = linear_interpolation(fine, coarse)
    values = torch.tensor([0.3, -1.0, 2.0, 0.5], dtype=torch.float64)
    x = np.arange(1, fine + 1) / (fine + 1)
    nodes = np.concatenate([[0.0], np.arange(1, coarse + 1) / (coarse + 1), [1.0]])
    expected = np.interp(x, nodes, np.concatenate([[0.0], values.numpy(), [0.0]]))
    np.testing.assert_allclose((p @ values).numpy(), expected, atol=1e-14)
    with pytest.raises(ValueError, match="coarse"):
        linear_interpolation(3, 4)


def test_coarse_space_is_the_kronecker_product_and_restrict_is_its_transpose():
    gen = torch.Generator().manual_seed(1)
    rows = torch.rand(6, 3, generator=gen, dtype=torch.float64)
    cols = torch.rand(5, 2, generator=gen, dtype=torch.float64)
    space = CoarseSpace(rows, cols)
    w = torch.kron(rows, cols)
    v = torch.randn(2, 30, generator=gen, dtype=torch.float64)
    y = torch.randn(2, 6, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(space.restrict(v), v @ w)
    torch.testing.assert_close(space.prolong(y), y @ w.T)
    torch.testing.assert_close(space.restrict(v[:1]), v[:1] @ w)
    torch.testing.assert_close(space.prolong(y[:1]), y[:1] @ w.T)
    with pytest.raises(ValueError, match="rows"):
        CoarseSpace(torch.ones(3), cols)


@pytest.mark.parametrize("coarse", [7, 6, 10])
def test_darcy_galerkin_matrix_equals_products_with_the_operator(coarse):
    a = darcy_coefficient(33, batch=2, seed=3, dtype=torch.float64)
    op = darcy.DarcyOperator.from_coefficient(a)
    space = CoarseSpace.linear((31, 31), coarse)
    fast = op.galerkin(space)
    for i in range(2):
        w = space.prolong(torch.eye(space.size, dtype=torch.float64))
        dense = torch.from_numpy(op.to_scipy(i) @ w.numpy().T).T
        torch.testing.assert_close(fast[i], w @ dense.T, rtol=1e-12, atol=1e-9)
    with pytest.raises(ValueError, match="space"):
        op.galerkin(CoarseSpace.linear((30, 31), 5))


def test_coarse_correction_is_an_a_orthogonal_projection():
    a = darcy_coefficient(17, batch=1, seed=4, dtype=torch.float64)
    op = darcy.DarcyOperator.from_coefficient(a)
    mat = torch.from_numpy(op.to_scipy(0).toarray())
    space = CoarseSpace.linear((15, 15), 5)
    gen = torch.Generator().manual_seed(2)
    u = torch.randn(3, 225, generator=gen, dtype=torch.float64)
    correction = _CoarseCorrection(space, op.galerkin(space)[0], u, u @ mat)
    w = torch.cat([space.prolong(torch.eye(25, dtype=torch.float64)), u])
    c = correction(torch.eye(225, dtype=torch.float64))
    torch.testing.assert_close(c, c.T)
    assert float(torch.linalg.eigvalsh(c).min()) > -1e-12
    torch.testing.assert_close(c @ mat @ c, c, rtol=1e-9, atol=1e-12)
    b = torch.randn(1, 225, generator=gen, dtype=torch.float64)
    residual = b - correction(b) @ mat
    assert float((residual @ w.T).abs().max()) < 1e-10 * float(b.abs().max()) * 225


def test_two_level_sequence_matches_direct_solves_with_fewer_iterations():
    a = darcy_coefficient(33, batch=6, seed=6, dtype=torch.float64)
    tol = 1e-8
    independent = darcy.solve_sequence(a, tol=tol, recycle=False, sort=False)
    coarse_only = darcy.solve_sequence(a, tol=tol, recycle=False, sort=False, coarse=7)
    both = darcy.solve_sequence(a, tol=tol, n_recycle=4, n_directions=20, coarse=7)
    op = darcy.DarcyOperator.from_coefficient(a)
    b = np.ones(31 * 31)
    for i in range(6):
        mat = op.to_scipy(i)
        exact = scipy.sparse.linalg.spsolve(mat, b)
        for res in (coarse_only, both):
            x = res.u[i, 1:-1, 1:-1].reshape(-1).numpy()
            assert np.linalg.norm(b - mat @ x) <= 1.01 * tol * np.linalg.norm(b)
            assert np.abs(x - exact).max() < 1e-5 * np.abs(exact).max()
    assert coarse_only.iterations.sum() < 0.5 * independent.iterations.sum()
    assert both.iterations.sum() < 0.5 * independent.iterations.sum()
    with pytest.raises(ValueError, match="coarse"):
        darcy.solve_sequence(a, coarse=-1)
