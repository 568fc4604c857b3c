"""Darcy flow: manufactured solution (second order), the constant-coefficient series, solvers."""

import math

import numpy as np
import pytest
import torch

from labkit.pde import darcy, darcy_coefficient


def _grid(n):
    x = torch.linspace(0, 1, n, dtype=torch.float64)
    return torch.meshgrid(x, x, indexing="ij")


def _manufactured(n):
    """u = sin(pi x) sin(pi y) with a = 1 + x + y^2, and f = -div(a grad u) by hand."""
    x, y = _grid(n)
    pi = math.pi
    a = 1 + x + y**2
    u = torch.sin(pi * x) * torch.sin(pi * y)
    f = (
        -(
            pi * torch.cos(pi * x) * torch.sin(pi * y)
            + 2 * y * pi * torch.sin(pi * x) * torch.cos(pi * y)
        )
        + 2 * pi**2 * a * u
    )
    return a, f, u


def test_manufactured_solution_converges_at_second_order():
    errors = []
    for n in (17, 33, 65):
        a, f, exact = _manufactured(n)
        u = darcy.solve(a[None], f[None])
        errors.append(float((u[0] - exact).abs().max()))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 1e-3
    assert np.all(orders > 1.9) and np.all(orders < 2.2)


def _series(n, a_value, terms=301):
    """The Fourier sine series of -a Laplacian u = 1 on the unit square, u = 0 on the boundary."""
    x = np.linspace(0, 1, n)
    odd = np.arange(1, terms + 1, 2)
    s = np.sin(np.pi * np.outer(odd, x))
    coef = 16 / (np.pi**4 * odd[:, None] * odd[None, :] * (odd[:, None] ** 2 + odd[None, :] ** 2))
    return s.T @ coef @ s / a_value


def test_constant_coefficient_matches_the_series_solution():
    errors = []
    for n in (33, 65):
        u = darcy.solve(np.full((n, n), 2.5))
        errors.append(np.abs(u - _series(n, 2.5)).max() / np.abs(u).max())
    assert errors[1] < 5e-4
    assert errors[0] / errors[1] == pytest.approx(4, rel=0.15)


def test_direct_and_cg_agree_and_keep_type_shape_dtype():
    a = darcy_coefficient(33, batch=3, seed=0)
    direct = darcy.solve(a)
    iterative = darcy.solve(a, method="cg", tol=1e-10)
    assert direct.shape == a.shape and direct.dtype == torch.float32
    torch.testing.assert_close(iterative, direct, atol=1e-6, rtol=0)
    for method in ("recycled", "two-level"):
        torch.testing.assert_close(darcy.solve(a, method=method), direct, atol=1e-6, rtol=0)
    assert float(direct[:, 0].abs().max()) == 0 and float(direct[:, :, -1].abs().max()) == 0
    numpy_u = darcy.solve(a.numpy())
    assert isinstance(numpy_u, np.ndarray)
    np.testing.assert_allclose(numpy_u, direct.numpy())


def test_operator_matches_its_sparse_matrix_and_is_symmetric():
    a = darcy_coefficient(17, batch=2, seed=1, dtype=torch.float64)
    op = darcy.DarcyOperator.from_coefficient(a)
    mat = op.to_scipy(1)
    v = torch.randn(3, 15 * 15, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = (mat @ v.numpy().T).T
    # entries can cancel to near zero: compare against the scale of the product
    np.testing.assert_allclose(
        op.select(1).matvec(v).numpy(), expected, rtol=0, atol=1e-13 * np.abs(expected).max()
    )
    assert abs(mat - mat.T).max() == 0
    np.testing.assert_allclose(op.diagonal()[1].numpy(), mat.diagonal())


def test_source_field_is_linear_and_harmonic_mean_matches_on_constant_a():
    a = torch.full((2, 17, 17), 3.0, dtype=torch.float64)
    u1 = darcy.solve(a, 1.0)
    torch.testing.assert_close(darcy.solve(a, torch.full((2, 17, 17), 2.0)), 2 * u1)
    torch.testing.assert_close(darcy.solve(a, mean="harmonic"), u1)


@pytest.mark.parametrize(
    ("a", "f", "match"),
    [
        (-np.ones((1, 9, 9)), 1.0, "a must be positive"),
        (np.full((1, 9, 9), np.nan), 1.0, "a must be finite"),
        (np.ones((1, 9, 8)), 1.0, "a must have shape"),
        (np.ones((2, 9, 9)), np.ones((3, 9, 9)), "f must be"),
        (np.ones((1, 9, 9)), float("inf"), "f must be finite"),
    ],
)
def test_bad_input_is_named(a, f, match):
    with pytest.raises(ValueError, match=match):
        darcy.solve(a, f)


def test_bad_method_and_type():
    with pytest.raises(ValueError, match="method"):
        darcy.solve(np.ones((9, 9)), method="jacobi")
    with pytest.raises(TypeError, match="a must be"):
        darcy.solve([[1.0]])
