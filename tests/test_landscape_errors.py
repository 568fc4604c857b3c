"""Bad input to labkit.landscape fails early with a message that names the argument."""

import pytest
import torch

from labkit.landscape import (
    hessian_trace,
    hvp,
    loss_closure,
    spectral_density,
    top_eigenvalues,
)


def quad(p):
    return (p["w"] ** 2).sum()


def params(requires_grad=True):
    return {"w": torch.ones(4, requires_grad=requires_grad)}


def test_loss_that_is_not_a_scalar():
    with pytest.raises(ValueError, match=r"loss_fn must return a scalar tensor, got \(4,\)"):
        hvp(lambda p: p["w"] ** 2, params(), {"w": torch.ones(4)}, mode="fwd-rev")
    with pytest.raises(ValueError, match="loss_fn must return a scalar"):
        top_eigenvalues(lambda p: p["w"] ** 2, params(), mode="rev-rev")


def test_parameters_that_do_not_require_grad():
    with pytest.raises(ValueError, match=r"params\['w'\] does not require grad"):
        hvp(quad, params(requires_grad=False), {"w": torch.ones(4)})
    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="no parameters that require grad"):
        loss_closure(frozen, torch.nn.functional.mse_loss, (torch.ones(1, 2), torch.ones(1, 2)))


def test_k_larger_than_parameter_count():
    with pytest.raises(ValueError, match=r"k must be <= the number of parameters \(4\), got 5"):
        top_eigenvalues(quad, params(), k=5)
    with pytest.raises(TypeError, match="k must be an integer"):
        top_eigenvalues(quad, params(), k=1.5)


def test_non_finite_hvp_names_the_parameter():
    def blows_up(p):
        return (p["w"] ** 2).sum() + (p["b"] ** 0.5).sum()

    bad = {"w": torch.ones(2, requires_grad=True), "b": torch.zeros(3, requires_grad=True)}
    for mode in ("fwd-rev", "rev-rev"):
        with pytest.raises(ValueError, match=r"product #1 is not finite in parameter 'b'"):
            top_eigenvalues(blows_up, bad, mode=mode)


def test_vector_that_does_not_match_the_parameters():
    with pytest.raises(ValueError, match=r"v does not match the parameters: missing \['w'\]"):
        hvp(quad, params(), {"u": torch.ones(4)})
    with pytest.raises(ValueError, match=r"v\['w'\] must have shape \(4,\), got \(3,\)"):
        hvp(quad, params(), {"w": torch.ones(3)})


def test_bad_options():
    with pytest.raises(ValueError, match="mode must be one of"):
        hvp(quad, params(), {"w": torch.ones(4)}, mode="forward")
    with pytest.raises(ValueError, match="which must be one of"):
        top_eigenvalues(quad, params(), which="middle")
    with pytest.raises(ValueError, match="method must be one of"):
        hessian_trace(quad, params(), method="exact")
    with pytest.raises(ValueError, match="n_probes must be >= 3"):
        hessian_trace(quad, params(), n_probes=2)
    with pytest.raises(ValueError, match="sigma must be positive"):
        spectral_density(quad, params(), sigma=-1.0)
    with pytest.raises(TypeError, match="data must be a pair"):
        loss_closure(torch.nn.Linear(2, 2), torch.nn.functional.mse_loss, 3)
