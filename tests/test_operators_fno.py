"""FNO against its two authors' codes: the FNO paper's ``fourier_2d.py`` and neuraloperator 2.0.

neuraloperator is installed, so its FNO is the truth for the parameter counts of both lifts; the
paper's count (2,368,001 at modes 12, width 32, 4 layers) is what ``fourier_2d.py`` reports.
"""

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from labkit.operators import FNO

neuralop = pytest.importorskip("neuralop")


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())


@pytest.mark.parametrize("lift", [0, 2])
def test_parameter_count_equals_neuraloperators_for_both_lifts(lift):
    ours = FNO(1, 1, modes=(5, 5), width=8, n_layers=3, lifting_ratio=lift, projection_ratio=4)
    theirs = neuralop.models.FNO(
        n_modes=(10, 9), in_channels=1, out_channels=1, hidden_channels=8, n_layers=3,
        lifting_channel_ratio=lift, projection_channel_ratio=4, positional_embedding="grid",
        use_channel_mlp=False, fno_skip="linear",
    )
    assert count(ours) == count(theirs)


def test_paper_configuration_and_single_linear_lift():
    model = FNO(1, 1, modes=(12, 12), width=32, n_layers=4)
    assert count(model) == 2_368_001  # fourier_2d.py
    assert model.lifting.weight.shape == (32, 3)  # one linear map of (a, x, y)
    assert model.projection[0].weight.shape == (128, 32)


@pytest.mark.parametrize("init", ["paper", "neuraloperator"])
def test_spectral_init_distributions(init):
    torch.manual_seed(0)
    width = 16
    model = FNO(1, 1, modes=(8, 8), width=width, n_layers=2, spectral_init=init)
    w = torch.cat([c.weight.detach().flatten() for c in model.spectral])  # real and imaginary
    b = torch.cat([c.bias.detach().flatten() for c in model.spectral])
    if init == "paper":
        assert 0 <= float(w.min()) and float(w.max()) < 1 / width**2
        assert float(b.abs().max()) <= 1 / math.sqrt(width)
    else:  # complex normal with std 1/sqrt(width): each part std 1/sqrt(2 width)
        assert abs(float(w.std()) * math.sqrt(2 * width) - 1) < 0.02
        assert abs(float(w.mean())) < 0.01
    with pytest.raises(ValueError, match="spectral_init must be one of"):
        FNO(1, 1, modes=(4, 4), spectral_init="xavier")


def _copy_neuraloperator_weights(ours: FNO, theirs, modes: int) -> None:
    """Load neuraloperator's weights into labkit's FNO (their layout mapped to ours)."""
    state = {}
    for name in ("lifting", "projection"):
        fcs = getattr(theirs, name).fcs
        for i, fc in enumerate(fcs):
            key = name if len(fcs) == 1 else f"{name}.{2 * i}"
            state[f"{key}.weight"], state[f"{key}.bias"] = fc.weight[..., 0], fc.bias
    for i, conv in enumerate(theirs.fno_blocks.convs):
        weight = conv.weight.to_tensor()  # [in, out, 2m, m], first axis frequencies -m..m-1
        weight = torch.roll(weight, -modes, dims=2).permute(2, 3, 0, 1)  # ours: 0..m-1, -m..-1
        state[f"spectral.{i}.weight"] = torch.view_as_real(weight.contiguous())
        state[f"spectral.{i}.bias"] = conv.bias
        state[f"skips.{i}.weight"] = theirs.fno_blocks.fno_skips[i].conv.weight[..., 0]
    ours.load_state_dict({k: v.detach().clone() for k, v in state.items()})


@pytest.mark.parametrize("lift", [0, 2])
def test_neuraloperators_block_options_give_its_function(lift):
    torch.manual_seed(0)
    modes, n = 4, 30  # padded by round(30 / 16) = 2 points on each side: an even 34
    theirs = neuralop.models.FNO(
        n_modes=(2 * modes, 2 * modes - 1), in_channels=1, out_channels=1, hidden_channels=8,
        n_layers=3, lifting_channel_ratio=lift, projection_channel_ratio=2,
        positional_embedding="grid", use_channel_mlp=False, fno_skip="linear",
        domain_padding=1 / 16,
    )
    kwargs = dict(modes=(modes, modes), width=8, n_layers=3, lifting_ratio=lift,
                  projection_ratio=2, padding=1 / 8)
    ours = FNO(1, 1, padding_sides="both", double_activation=True, **kwargs)
    paper_block = FNO(1, 1, **kwargs)
    _copy_neuraloperator_weights(ours, theirs, modes)
    _copy_neuraloperator_weights(paper_block, theirs, modes)
    x = torch.randn(2, 1, n, n)
    with torch.no_grad():
        truth = theirs(x)
        torch.testing.assert_close(ours(x), truth, rtol=1e-4, atol=1e-5)
        assert (paper_block(x) - truth).abs().max() > 1e-3  # one activation, padding at the end



def _zoo_fidelity():
    """``benchmarks/zoo_fidelity.py`` as a module (its ``output_shift`` is what is tested)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "zoo_fidelity.py"
    spec = importlib.util.spec_from_file_location("zoo_fidelity", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_neuraloperators_odd_grid_difference_is_its_output_fftshift():
    """docs/ZOO.md: on odd grids neuraloperator 2.0 shifts the kept spectrum back with
    ``fftshift`` (every output frequency lands one index low). With ``ifftshift`` there (the
    benchmark's ``output_shift``), its layer is labkit's, weights copied across."""
    from labkit.operators.layers.spectral import SpectralConv

    spectral_module = pytest.importorskip("neuralop.layers.spectral_convolution")
    output_shift = _zoo_fidelity().output_shift
    torch.manual_seed(0)
    modes, channels = 3, 4
    theirs = spectral_module.SpectralConv(channels, channels, n_modes=(2 * modes, 2 * modes - 1))
    ours = SpectralConv(channels, channels, (modes, modes))
    weight = torch.roll(theirs.weight.to_tensor(), -modes, dims=2).permute(2, 3, 0, 1)
    ours.load_state_dict({"weight": torch.view_as_real(weight.contiguous()).detach().clone(),
                          "bias": theirs.bias.detach().clone().reshape(ours.bias.shape)})
    even, odd = torch.randn(2, channels, 12, 12), torch.randn(2, channels, 13, 13)
    with torch.no_grad():
        torch.testing.assert_close(theirs(even), ours(even), rtol=1e-4, atol=1e-5)
        assert (theirs(odd) - ours(odd)).abs().max() > 1e-2  # the quirk, as shipped
        with output_shift("ifftshift"):
            fixed_odd, fixed_even = theirs(odd), theirs(even)
        torch.testing.assert_close(fixed_odd, ours(odd), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(fixed_even, ours(even), rtol=1e-4, atol=1e-5)
    assert spectral_module.torch is torch  # restored
    with pytest.raises(ValueError, match="shift must be one of"):
        with output_shift("fftshift"):
            pass
