"""The numba kernels of the MLP loss plane against numpy/torch on the same float32 inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labkit.landscape import loss_surface, plane_kernels

LOG2_E = np.log2(np.e)


def test_exp_table_is_exp_to_float32_precision_over_its_range():
    z = np.linspace(-86.0, 86.0, 200_001).astype(np.float32)[None]
    out = np.empty((2, *z.shape), np.float32)
    plane_kernels.exp_table(np.float32([1.0, -0.5]), z, out)
    for p, c in enumerate((1.0, -0.5)):
        exact = np.exp((np.float32(c) * z).astype(np.float64))  # of the float32 product
        assert np.max(np.abs(out[p] - exact) / exact) < 2.5e-7


def test_exp_factors_are_the_silu_factors():
    gen = np.random.default_rng(0)
    z_b, z_1 = (gen.normal(scale=8, size=(5, 300)).astype(np.float32) for _ in range(2))
    e, ze, ye = (np.empty_like(z_b) for _ in range(3))
    plane_kernels.exp_factors(z_b, z_1, e, ze, ye)
    exact = np.exp(z_b.astype(np.float64))
    np.testing.assert_allclose(e, exact, rtol=2.5e-7)
    np.testing.assert_allclose(ze, z_b * exact, rtol=4e-7)
    np.testing.assert_allclose(ye, z_1 * exact, rtol=4e-7)


def test_silu_and_sigmoid_rows_match_torch():
    gen = np.random.default_rng(1)
    z_b = gen.normal(scale=4, size=(7, 129)).astype(np.float32)
    z_1 = gen.normal(size=(7, 129)).astype(np.float32)
    a = np.linspace(-3, 3, 5).astype(np.float32)
    e = np.exp(z_b)
    g = np.exp(-a[:, None, None] * z_1)
    z = torch.from_numpy(z_b)[None] + torch.from_numpy(a)[:, None, None] * torch.from_numpy(z_1)
    out = np.empty((5, 7, 129), np.float32)
    plane_kernels.silu_rows(z_b * e, z_1 * e, e, g, a, out)
    np.testing.assert_allclose(out, F.silu(z.double()).numpy(), rtol=2e-6, atol=2e-6)
    plane_kernels.sigmoid_rows(e, g, out)
    np.testing.assert_allclose(out, torch.sigmoid(z.double()).numpy(), rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("scale", [0.1, 5.0, 300.0])
def test_cross_entropy_bits_matches_torch(scale):
    """Spreads of hundreds of bits: the shift keeps every power of two finite."""
    gen = np.random.default_rng(2)
    logits = gen.normal(scale=scale, size=(4, 10, 77)).astype(np.float32)
    labels = gen.integers(0, 10, 77)
    out = np.empty(4)
    plane_kernels.cross_entropy_bits(logits, labels, out)
    nats = torch.from_numpy(logits).double() / LOG2_E
    expected = [float(F.cross_entropy(n.T, torch.from_numpy(labels))) for n in nats]
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)


def test_cross_entropy_bits_propagates_nan_and_infinity():
    logits = np.zeros((3, 4, 5), np.float32)
    logits[1, 2, 3] = np.nan
    logits[2, 0, 0] = np.inf
    out = np.empty(3)
    plane_kernels.cross_entropy_bits(logits, np.zeros(5, np.int64), out)
    assert np.isclose(out[0], np.log(4)) and not np.isfinite(out[1:]).any()


def test_rows_in_parallel_give_the_same_surface_as_one_thread():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.SiLU(), torch.nn.Linear(16, 4))
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(50, 6, generator=gen), torch.randint(0, 4, (50,), generator=gen)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            res = loss_surface(model, F.cross_entropy, (x, y), grid=np.linspace(-1, 1, 9), seed=3)
            results.append(res.loss)
    finally:
        torch.set_num_threads(threads)
    assert res.method == "mlp rows"
    np.testing.assert_array_equal(results[0], results[1])
