"""Random fields: spectrum against the formula, seeding, the cosine variant and bad input."""

import math

import numpy as np
import pytest
import torch

from labkit.pde import darcy_coefficient, gaussian_random_field, neumann_random_field
from labkit.pde.fields import default_sigma


def _z_scores(fields: torch.Tensor, alpha: float, tau: float, sigma: float) -> np.ndarray:
    """Per-mode z-scores of the mean |u_hat_k|^2 / lambda_k over the batch (expected 1)."""
    dims = tuple(range(1, fields.ndim))
    shape = fields.shape[1:]
    u_hat = torch.fft.fftn(fields.double(), dim=dims) / math.prod(shape)
    power = (u_hat.abs() ** 2).mean(dim=0).numpy()
    freqs = np.meshgrid(*[np.fft.fftfreq(n, 1.0 / n) for n in shape], indexing="ij")
    k2 = sum(f**2 for f in freqs)
    lam = sigma**2 * (4 * np.pi**2 * k2 + tau**2) ** (-alpha)
    self_conjugate = np.all(
        [(f == 0) | (np.abs(f) == n / 2) for f, n in zip(freqs, shape, strict=True)], 0
    )
    var = np.where(self_conjugate, 2.0, 1.0) / fields.shape[0]
    keep = k2 > 0
    assert np.abs(power[~keep]).max() < 1e-20
    return ((power[keep] / lam[keep] - 1.0) / np.sqrt(var[keep])), power[keep] / lam[keep]


@pytest.mark.parametrize(("shape", "batch"), [((64,), 2000), ((24, 24), 400), ((8, 8, 8), 200)])
def test_empirical_spectrum_matches_formula(shape, batch):
    alpha, tau = 2.5, 7.0
    u = gaussian_random_field(shape, alpha=alpha, tau=tau, batch=batch, seed=1, dtype=torch.float64)
    z, ratio = _z_scores(u, alpha, tau, default_sigma(alpha, tau, len(shape)))
    assert np.abs(z).max() < 5.5
    # modes k and -k are conjugate, so only half of them are independent
    assert abs(ratio.mean() - 1) < 5 * np.sqrt(2 / (batch * ratio.size))


def test_sigma_scales_the_field_and_variance_is_the_spectrum_sum():
    u = gaussian_random_field((32, 32), alpha=2.0, tau=3.0, sigma=2.0, batch=2000, seed=2)
    k = np.fft.fftfreq(32, 1 / 32)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    lam = 4.0 * (4 * np.pi**2 * k2 + 9.0) ** (-2.0)
    lam[0, 0] = 0
    expected = lam.sum()
    assert float(u.double().var()) == pytest.approx(expected, rel=0.05)


def test_same_seed_same_field_on_every_device_and_dtype():
    a = gaussian_random_field((16, 16), alpha=2.0, tau=3.0, batch=3, seed=7, dtype=torch.float64)
    b = gaussian_random_field((16, 16), alpha=2.0, tau=3.0, batch=3, seed=7, dtype=torch.float64)
    c = gaussian_random_field((16, 16), alpha=2.0, tau=3.0, batch=3, seed=8, dtype=torch.float64)
    f32 = gaussian_random_field((16, 16), alpha=2.0, tau=3.0, batch=3, seed=7)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert f32.dtype == torch.float32
    torch.testing.assert_close(f32.double(), a, atol=1e-5 * float(a.abs().max()), rtol=0)
    if torch.cuda.is_available():
        g = gaussian_random_field(
            (16, 16), alpha=2.0, tau=3.0, batch=3, seed=7, device="cuda", dtype=torch.float64
        )
        torch.testing.assert_close(g.cpu(), a)


def test_neumann_field_is_the_cosine_series():
    n, alpha, tau, sigma = 9, 2.0, 3.0, 1.5
    u = neumann_random_field(
        (n, n), alpha=alpha, tau=tau, sigma=sigma, batch=2, seed=4, dtype=torch.float64
    )
    xi = torch.randn((2, n, n), generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    k = np.arange(n)
    amp = sigma * (np.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2) + tau**2) ** (-alpha / 2)
    amp[0, 0] = 0
    x = np.arange(n) / (n - 1)
    cos = np.cos(np.pi * np.outer(k, x))
    expected = np.einsum("kx,bkl,ly->bxy", cos, xi.numpy() * amp, cos)
    np.testing.assert_allclose(u.numpy(), expected, atol=1e-12)


def test_darcy_coefficient_takes_the_two_values_where_the_field_says():
    a = darcy_coefficient(33, batch=3, a_plus=5.0, a_minus=0.5, seed=0, dtype=torch.float64)
    field = neumann_random_field((33, 33), alpha=2.0, tau=3.0, batch=3, seed=0, dtype=torch.float64)
    assert torch.equal(a, torch.where(field >= 0, 5.0, 0.5).double())
    assert 0.2 < float((a == 5.0).double().mean()) < 0.8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shape": (1, 8)}, "shape"),
        ({"shape": (4, 4, 4, 4)}, "shape"),
        ({"alpha": -1.0}, "alpha"),
        ({"tau": 0.0}, "tau"),
        ({"sigma": float("nan")}, "sigma"),
        ({"batch": 0}, "batch"),
        ({"seed": -3}, "seed"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, match):
    args = {"shape": (8, 8), "alpha": 2.0, "tau": 3.0} | kwargs
    shape = args.pop("shape")
    with pytest.raises(ValueError, match=match):
        gaussian_random_field(shape, **args)


def test_bad_darcy_values():
    with pytest.raises(ValueError, match="a_minus"):
        darcy_coefficient(9, a_minus=-1.0)
