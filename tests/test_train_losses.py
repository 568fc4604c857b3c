"""Losses against direct quadrature, scipy, and analytic Sobolev norms of sinusoids."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import trapezoid

from labkit.train import LpLoss, SobolevLoss, quadrature_weights


def grid2d(n: int, length: float = 1.0):
    x = torch.arange(n, dtype=torch.float64) * length / n
    return torch.meshgrid(x, x, indexing="ij")


def test_l2_norm_of_a_sinusoid_matches_the_exact_integral():
    X, Y = grid2d(32, length=2.0)
    u = (torch.sin(math.pi * X) * torch.sin(math.pi * Y))[None, None]  # period 2 on [0, 2]^2
    loss = LpLoss(p=2, relative=False, domain=2.0)
    # int_0^2 int_0^2 sin^2(pi x) sin^2(pi y) = 1
    assert float(loss(u, torch.zeros_like(u))) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_trapezoid_lp_matches_scipy(p):
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(2, 3, 2, 9, 7))
    loss = LpLoss(p=p, relative=True, rule="trapezoid", domain=(2.0, 3.0), reduction="none")
    got = loss(torch.from_numpy(pred), torch.from_numpy(target)).numpy()
    x, y = np.linspace(0, 2, 9), np.linspace(0, 3, 7)

    def norm(v):
        integral = trapezoid(trapezoid(np.abs(v) ** p, y, axis=-1), x, axis=-1).sum(axis=-1)
        return integral ** (1 / p)

    np.testing.assert_allclose(got, norm(pred - target) / norm(target), rtol=1e-6)


def test_relative_l2_is_per_sample_then_averaged():
    torch.manual_seed(0)
    pred, target = torch.randn(4, 2, 16), torch.randn(4, 2, 16)
    per_sample = (pred - target).flatten(1).norm(dim=1) / target.flatten(1).norm(dim=1)
    torch.testing.assert_close(LpLoss()(pred, target), per_sample.mean())
    torch.testing.assert_close(LpLoss(reduction="sum")(pred, target), per_sample.sum())
    assert quadrature_weights((4, 5), domain=(2.0, 1.0)).sum() == pytest.approx(2.0)


def test_sobolev_h0_equals_l2():
    torch.manual_seed(0)
    pred, target = torch.randn(3, 2, 12, 10), torch.randn(3, 2, 12, 10)
    for relative in (True, False):
        h0 = SobolevLoss(s=0.0, relative=relative, domain=(1.5, 2.0), alpha=1.0)
        l2 = LpLoss(p=2, relative=relative, domain=(1.5, 2.0))
        torch.testing.assert_close(h0(pred, target), l2(pred, target), rtol=1e-5, atol=0)


@pytest.mark.parametrize("s", [1.0, 2.5, -1.0, -0.5])
def test_sobolev_norm_of_a_sinusoid(s):
    """sin(2 pi k.x / L): ||(alpha - Laplacian)^{s/2} u|| = (alpha + |2 pi k/L|^2)^{s/2} ||u||."""
    length, alpha = 2.0, 0.1
    X, Y = grid2d(24, length)
    k = (3, 2)
    u = torch.sin(2 * math.pi * (k[0] * X + k[1] * Y) / length)[None, None]
    l2_squared = length**2 / 2
    symbol = alpha + (2 * math.pi / length) ** 2 * (k[0] ** 2 + k[1] ** 2)
    expected = math.sqrt(symbol**s * l2_squared)
    loss = SobolevLoss(s=s, alpha=alpha, relative=False, domain=length)
    assert float(loss(u, torch.zeros_like(u))) == pytest.approx(expected, rel=1e-6)


def test_sobolev_handles_odd_grids_and_1d():
    n = 15
    x = torch.arange(n, dtype=torch.float64) / n
    u = torch.cos(2 * math.pi * 7 * x)[None, None]  # the highest mode of an odd grid
    loss = SobolevLoss(s=1.0, alpha=1.0, relative=False)
    expected = math.sqrt((1 + (2 * math.pi * 7) ** 2) / 2)
    assert float(loss(u, 0 * u)) == pytest.approx(expected, rel=1e-6)


def test_bochner_time_average():
    """With a time axis the spatial norm is averaged in L2 over time."""
    X, Y = grid2d(16)
    frames = [a * torch.sin(2 * math.pi * X) for a in (1.0, 2.0, 3.0)]
    u = torch.stack(frames, dim=-1)[None, None]  # [1, 1, 16, 16, 3]
    loss = SobolevLoss(s=-1.0, alpha=0.1, relative=False, time_axis=True)
    symbol = 0.1 + 4 * math.pi**2
    expected = math.sqrt(np.mean([a**2 * 0.5 / symbol for a in (1.0, 2.0, 3.0)]))
    assert float(loss(u, 0 * u)) == pytest.approx(expected, rel=1e-6)


def test_loss_bad_inputs():
    with pytest.raises(ValueError, match="same shape"):
        LpLoss()(torch.zeros(2, 1, 8), torch.zeros(2, 1, 9))
    with pytest.raises(ValueError, match="p must be >= 1"):
        LpLoss(p=0.5)
    with pytest.raises(ValueError, match="reduction must be one of"):
        LpLoss(reduction="max")
    with pytest.raises(ValueError, match="alpha must be positive"):
        SobolevLoss(alpha=0.0)
    with pytest.raises(ValueError, match="s must be finite, got nan"):
        SobolevLoss(s=float("nan"))
    with pytest.raises(TypeError, match="s must be a number, got '1'"):
        SobolevLoss(s="1")
    with pytest.raises(ValueError, match=r"grid\[1\] must be >= 2, got 1"):
        quadrature_weights((4, 1), rule="trapezoid")
    with pytest.raises(TypeError, match="dim must be an integer, got 1.5"):
        LpLoss(dim=1.5)
    with pytest.raises(ValueError, match="domain must have 2 lengths"):
        LpLoss(relative=False, domain=(1.0, 2.0, 3.0))(
            torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
        )
    with pytest.raises(TypeError, match="pred must be a torch.Tensor"):
        LpLoss()(np.zeros((1, 1, 4)), torch.zeros(1, 1, 4))
