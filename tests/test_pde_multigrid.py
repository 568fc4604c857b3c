"""Multigrid V-cycle for Darcy: transfers, symmetry, and CG solves against the direct solver."""

import numpy as np
import pytest
import torch

from labkit.pde import darcy, darcy_coefficient, make_dataset
from labkit.pde.krylov import cg
from labkit.pde.multigrid import Multigrid, _Transfer, coarse_coefficient, grid_sizes


@pytest.mark.parametrize(("fine", "coarse"), [(33, 17), (106, 53), (48, 24)])
def test_restriction_is_the_transpose_of_interpolation(fine, coarse):
    transfer = _Transfer.between(fine, coarse, "cpu")
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(2, coarse - 2, coarse - 2, generator=gen, dtype=torch.float64)
    v = torch.randn(2, fine - 2, fine - 2, generator=gen, dtype=torch.float64)
    lhs = (transfer.prolong(u) * v).sum()
    rhs = (u * transfer.restrict(v)).sum()
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=0)


def test_interpolation_is_bilinear_on_nested_grids():
    transfer = _Transfer.between(9, 5, "cpu")
    nodes = torch.linspace(0, 1, 5, dtype=torch.float64)
    values = torch.sin(np.pi * nodes)[:, None] * torch.cos(nodes)[None, :]
    full = torch.nn.functional.pad(values[1:-1, 1:-1], (1, 1, 1, 1))  # zero boundary nodes
    fine = transfer.prolong(values[1:-1, 1:-1].unsqueeze(0))[0]
    assert fine.shape == (7, 7)
    # coincident nodes keep their values, edge midpoints are means of two, cell centres of four
    torch.testing.assert_close(fine[1::2, 1::2], full[1:-1, 1:-1])
    torch.testing.assert_close(fine[0::2, 1::2], 0.5 * (full[:-1, 1:-1] + full[1:, 1:-1]))
    centres = 0.25 * (full[:-1, :-1] + full[1:, :-1] + full[:-1, 1:] + full[1:, 1:])
    torch.testing.assert_close(fine[0::2, 0::2], centres)


def test_grid_sizes_and_coarse_coefficient():
    assert grid_sizes(65) == [65, 33, 17]
    assert grid_sizes(12) == [12]
    a = torch.full((2, 33, 33), 3.0, dtype=torch.float64)
    torch.testing.assert_close(coarse_coefficient(a, 17), torch.full((2, 17, 17), 3.0).double())
    a[:, :, 17:] = 12.0  # a jump: coarse values stay between the two and keep the ordering
    coarse = coarse_coefficient(a, 17)
    assert float(coarse.min()) >= 3.0 and float(coarse.max()) <= 12.0
    assert bool((coarse[:, :, 1:] >= coarse[:, :, :-1]).all())


def test_v_cycle_is_symmetric_positive_definite():
    a = darcy_coefficient(33, batch=2, seed=3, dtype=torch.float64)
    mg = darcy.multigrid(a)
    gen = torch.Generator().manual_seed(1)
    r1, r2 = (torch.randn(2, 31 * 31, generator=gen, dtype=torch.float64) for _ in range(2))
    torch.testing.assert_close((mg(r1) * r2).sum(1), (r1 * mg(r2)).sum(1), rtol=1e-11, atol=0)
    assert bool(((mg(r1) * r1).sum(1) > 0).all())


@pytest.mark.parametrize("n", [17, 48, 65, 97])
def test_multigrid_cg_matches_the_direct_solver(n):
    a = darcy_coefficient(n, batch=3, seed=n, dtype=torch.float64)
    f = 1.0 + torch.rand(3, n, n, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    direct = darcy.solve(a, f)
    mg = darcy.solve(a, f, method="multigrid", tol=1e-11)
    torch.testing.assert_close(mg, direct, atol=1e-8 * float(direct.abs().max()), rtol=0)


def test_iterations_barely_grow_with_the_grid():
    counts = {}
    for n in (33, 65, 129):
        a = darcy_coefficient(n, batch=2, seed=0, dtype=torch.float64)
        mg = darcy.multigrid(a)
        rhs = torch.ones(2, (n - 2) ** 2, dtype=torch.float64)
        res = cg(mg.operators[0].matvec, rhs, preconditioner=mg, tol=1e-8)
        assert bool(res.converged.all())
        counts[n] = int(res.iterations.max())
    jacobi = cg(
        mg.operators[0].matvec, rhs, diagonal=mg.operators[0].diagonal(), tol=1e-8
    ).iterations.max()
    assert counts[129] <= counts[33] + 4 and counts[129] < 20, counts
    assert counts[129] < int(jacobi) / 10


def test_multigrid_dataset_equals_the_direct_one():
    fast = make_dataset("darcy", 3, resolution=33, seed=4, cache_dir=False)
    exact = make_dataset("darcy", 3, resolution=33, seed=4, cache_dir=False, method="direct")
    torch.testing.assert_close(fast.inputs, exact.inputs)
    torch.testing.assert_close(fast.targets, exact.targets, atol=1e-9, rtol=0)


def test_bad_multigrid_arguments():
    a = darcy_coefficient(33, batch=1, seed=0, dtype=torch.float64)
    ops = darcy.multigrid(a).operators
    with pytest.raises(ValueError, match="sweeps"):
        Multigrid(ops, sweeps=0)
    with pytest.raises(ValueError, match="omega"):
        Multigrid(ops, omega=1.5)
    with pytest.raises(ValueError, match="operators"):
        Multigrid([ops[0], ops[0]])
    with pytest.raises(ValueError, match="operators"):
        Multigrid(ops[:1])  # stops before a grid small enough for the dense coarsest solve
    with pytest.raises(ValueError, match="operators"):
        Multigrid([])
    with pytest.raises(ValueError, match="diagonal or preconditioner"):
        cg(
            ops[0].matvec,
            torch.ones(1, 31 * 31),
            diagonal=torch.ones(1, 31 * 31),
            preconditioner=id,
        )
