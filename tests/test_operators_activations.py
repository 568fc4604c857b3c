"""PolyCom activations against a direct evaluation of their formulas."""

import numpy as np
import pytest
import torch

from labkit.operators import PolyNorm, PolyReLU, make_activation


def test_polyrelu_matches_formula():
    torch.manual_seed(0)
    act = PolyReLU().double()
    with torch.no_grad():
        act.weight.copy_(torch.tensor([0.5, -0.2, 0.1], dtype=torch.float64))
        act.bias.fill_(0.3)
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    r = np.maximum(x.numpy(), 0.0)
    expected = 0.5 * r - 0.2 * r**2 + 0.1 * r**3 + 0.3
    np.testing.assert_allclose(act(x).detach().numpy(), expected, rtol=1e-12)


def test_polynorm_normalises_over_channels():
    torch.manual_seed(0)
    act = PolyNorm(eps=1e-6).double()
    with torch.no_grad():
        act.weight.copy_(torch.tensor([0.7, 0.2, -0.4], dtype=torch.float64))
        act.bias.fill_(-0.1)
    x = torch.randn(2, 6, 4, 3, dtype=torch.float64)
    z = x.numpy()

    def norm(v):  # RMS over the channel axis at each grid point
        return v / np.sqrt(np.mean(v**2, axis=1, keepdims=True) + 1e-6)

    expected = 0.7 * norm(z) + 0.2 * norm(z**2) - 0.4 * norm(z**3) - 0.1
    np.testing.assert_allclose(act(x).detach().numpy(), expected, rtol=1e-10)


def test_polycom_initial_values():
    for act in (PolyReLU(), PolyNorm()):
        torch.testing.assert_close(act.weight.detach(), torch.full((3,), 1.0 / 3.0))
        assert float(act.bias.detach()) == 0.0


def test_polynorm_is_pointwise_in_space():
    """Normalising over channels only: permuting grid points permutes the output."""
    act = PolyNorm()
    x = torch.randn(2, 5, 16)
    perm = torch.randperm(16)
    torch.testing.assert_close(act(x[..., perm]), act(x)[..., perm])


def test_make_activation_rejects_unknown_names():
    assert isinstance(make_activation("PolyReLU"), PolyReLU)
    with pytest.raises(ValueError, match="activation must be one of"):
        make_activation("mish")
    with pytest.raises(TypeError, match="activation must be a name"):
        make_activation(torch.nn.GELU)
