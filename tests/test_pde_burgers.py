"""Burgers: the Cole-Hopf solution, conservation, and bad input."""

import math

import numpy as np
import pytest
import torch

from labkit.pde import burgers

NU = 0.05
MODES = [(1, 1.0, 0.0), (2, 0.4, 0.7), (3, 0.2, 1.3)]


def cole_hopf(x: torch.Tensor, t: float) -> torch.Tensor:
    """u = -2 nu phi_x / phi with phi = 1.6 + sum a_m exp(-nu (2 pi m)^2 t) sin(2 pi m x + c_m)."""
    phi = 1.6 + sum(
        a * math.exp(-NU * (2 * math.pi * m) ** 2 * t) * torch.sin(2 * math.pi * m * x + c)
        for m, a, c in MODES
    )
    phi_x = sum(
        a
        * math.exp(-NU * (2 * math.pi * m) ** 2 * t)
        * 2
        * math.pi
        * m
        * torch.cos(2 * math.pi * m * x + c)
        for m, a, c in MODES
    )
    return -2 * NU * phi_x / phi


def test_matches_cole_hopf():
    x = torch.arange(128, dtype=torch.float64) / 128
    u = burgers.simulate(cole_hopf(x, 0.0)[None], nu=NU, t_final=1.0, n_records=4)
    assert u.shape == (1, 4, 128)
    for k in range(4):
        exact = cole_hopf(x, 0.25 * (k + 1))
        assert float((u[0, k] - exact).abs().max()) < 1e-5


def test_mean_is_conserved_and_numpy_roundtrips():
    x = np.arange(64) / 64
    u0 = np.stack([np.sin(2 * np.pi * x) + 0.3, np.cos(4 * np.pi * x) - 0.1])
    u = burgers.simulate(u0, nu=0.02, t_final=0.5, n_records=3)
    assert isinstance(u, np.ndarray) and u.shape == (2, 3, 64)
    np.testing.assert_allclose(u.mean(axis=-1), u0.mean(axis=-1)[:, None].repeat(3, 1), atol=1e-12)


def test_too_large_dt_is_reported_by_name():
    x = torch.arange(128, dtype=torch.float64) / 128
    u0 = 2 * torch.sin(2 * math.pi * x) + torch.cos(4 * math.pi * x)
    burgers.simulate(u0, nu=0.01, t_final=1.0, dt=0.01)
    with pytest.raises(ValueError, match="dt=0.05"):
        burgers.simulate(u0, nu=0.01, t_final=1.0, dt=0.05)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"nu": -0.1}, "nu must be positive"),
        ({"t_final": 0.0}, "t_final"),
        ({"n_records": 0}, "n_records"),
        ({"dt": -1e-3}, "dt"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"nu": 0.1, "t_final": 0.1} | kwargs
    with pytest.raises(ValueError, match=match):
        burgers.simulate(torch.zeros(1, 32, dtype=torch.float64), **args)


def test_under_resolved_and_bad_shapes():
    noise = torch.randn(1, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with pytest.raises(ValueError, match="too small for the modes of u0"):
        burgers.simulate(noise, nu=0.1, t_final=0.1)
    with pytest.raises(ValueError, match="u0 must have shape"):
        burgers.simulate(torch.zeros(1, 2, 32), nu=0.1, t_final=0.1)
    with pytest.raises(ValueError, match="u0 must be finite"):
        burgers.simulate(torch.full((32,), float("nan")), nu=0.1, t_final=0.1)
