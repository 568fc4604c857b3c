"""Navier-Stokes: exact decay and forced solutions, scheme agreement, stability, bad input."""

import math

import numpy as np
import pytest
import torch

from labkit.pde import gaussian_random_field
from labkit.pde import navier_stokes as ns


def _xy(n):
    x = torch.arange(n, dtype=torch.float64) / n
    return torch.meshgrid(x, x, indexing="ij")


def test_one_shell_decays_exactly():
    x, y = _xy(32)
    # all modes on the shell |k|^2 = 25, so the advection term vanishes identically
    w0 = (
        torch.sin(2 * math.pi * (3 * x + 4 * y))
        + 0.5 * torch.cos(2 * math.pi * 5 * x)
        + 0.7 * torch.sin(2 * math.pi * (4 * x - 3 * y) + 0.3)
    )
    nu, t_final = 1e-2, 1.0
    w = ns.simulate(w0[None], nu=nu, t_final=t_final, n_records=4)
    for k in range(4):
        exact = w0 * math.exp(-nu * 4 * math.pi**2 * 25 * t_final * (k + 1) / 4)
        assert float((w[0, k] - exact).abs().max() / exact.abs().max()) < 1e-6


def test_fno_forcing_from_rest_follows_the_exact_solution():
    n, nu = 32, 1e-2
    f = ns.fno_forcing(n)
    w = ns.simulate(
        torch.zeros(1, n, n, dtype=torch.float64), nu=nu, t_final=2.0, forcing="fno", n_records=2
    )
    rate = nu * 8 * math.pi**2
    for k, t in enumerate((1.0, 2.0)):
        exact = f * (1 - math.exp(-rate * t)) / rate
        assert float((w[0, k] - exact).abs().max() / exact.abs().max()) < 1e-6


def test_etdrk4_and_classic_scheme_converge_to_the_same_flow():
    w0 = gaussian_random_field((32, 32), alpha=2.5, tau=7.0, batch=2, seed=0, dtype=torch.float64)
    fast = ns.simulate(w0, nu=1e-3, t_final=0.2, forcing="fno", dt=5e-3)
    classic = ns.simulate(w0, nu=1e-3, t_final=0.2, forcing="fno", dt=4e-4, scheme="cn")
    assert float((fast - classic).abs().max()) < 1e-5 * float(w0.abs().max())
    assert abs(float(fast.mean())) < 1e-12


def test_etdrk4_holds_a_step_where_the_classic_scheme_blows_up():
    w0 = 10 * gaussian_random_field((64, 64), alpha=2.5, tau=7.0, seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match="dt=0.02"):
        ns.simulate(w0, nu=1e-4, t_final=1.0, forcing="fno", dt=0.02, scheme="cn")
    coarse = ns.simulate(w0, nu=1e-4, t_final=1.0, forcing="fno", dt=0.02)
    fine = ns.simulate(w0, nu=1e-4, t_final=1.0, forcing="fno", dt=0.004)
    assert float((coarse - fine).abs().max()) < 0.01 * float(fine.abs().max())


def test_out_resolution_subsamples_and_numpy_roundtrips():
    w0 = gaussian_random_field((32, 32), alpha=2.5, tau=7.0, seed=3, dtype=torch.float64)[0]
    full = ns.simulate(w0.numpy(), nu=1e-3, t_final=0.2, forcing="fno", n_records=2)
    coarse = ns.simulate(
        w0.numpy(), nu=1e-3, t_final=0.2, forcing="fno", n_records=2, out_resolution=8
    )
    assert isinstance(full, np.ndarray) and full.shape == (2, 32, 32)
    np.testing.assert_allclose(coarse, full[:, ::4, ::4], atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"nu": -1e-3}, "nu must be positive"),
        ({"out_resolution": 12}, "out_resolution"),
        ({"forcing": torch.zeros(8, 8)}, "forcing must be"),
        ({"forcing": "kolmogorov"}, "forcing must be one of"),
        ({"scheme": "euler"}, "scheme"),
        ({"dt": 0.0}, "dt"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"nu": 1e-3, "t_final": 0.01} | kwargs
    with pytest.raises(ValueError, match=match):
        ns.simulate(torch.zeros(1, 32, 32, dtype=torch.float64), **args)


def test_bad_initial_vorticity():
    noise = torch.randn(1, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with pytest.raises(ValueError, match="too small for the modes of w0"):
        ns.simulate(noise, nu=1e-3, t_final=0.1)
    with pytest.raises(ValueError, match="w0 must have shape"):
        ns.simulate(torch.zeros(1, 32, 16), nu=1e-3, t_final=0.1)
    with pytest.raises(ValueError, match="at least 8"):
        ns.simulate(torch.zeros(1, 4, 4), nu=1e-3, t_final=0.1)
