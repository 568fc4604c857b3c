"""Operators: spectral convolution against a direct DFT, resolution invariance, every model."""

import math

import numpy as np
import pytest
import torch

from labkit.operators import (
    FNO,
    LSM,
    MgNO,
    SpatioTemporalFNO,
    SpectralConv,
    UNet,
    build_model,
    list_models,
    model_spec,
    spectral_refiner,
)
from labkit.operators.layers import VCycle
from labkit.train import SobolevLoss


def smooth_field(n: int, batch: int = 2, channels: int = 1) -> torch.Tensor:
    x = torch.arange(n, dtype=torch.float64) / n
    X, Y = torch.meshgrid(x, x, indexing="ij")
    fields = []
    for b in range(batch):
        u = torch.sin(2 * math.pi * (X + 0.1 * b)) * torch.cos(4 * math.pi * Y)
        fields.append(u + 0.3 * torch.cos(2 * math.pi * (X + 2 * Y)))
    u = torch.stack(fields)[:, None].float()
    return u.expand(batch, channels, n, n).contiguous()


def test_spectral_conv_matches_direct_dft_1d():
    torch.manual_seed(0)
    conv = SpectralConv(2, 3, (5,), bias=False)
    x = torch.randn(4, 2, 20)
    w = torch.view_as_complex(conv.weight.detach()).permute(1, 2, 0).numpy()  # [in, out, modes]
    xh = np.fft.fft(x.numpy().astype(np.float64), axis=-1)
    yh = np.zeros((4, 3, 20), dtype=complex)
    for k in range(5):
        yh[:, :, k] = np.einsum("bi,io->bo", xh[:, :, k], w[:, :, k])
        if k:
            yh[:, :, -k] = np.conj(yh[:, :, k])  # a real output has a Hermitian spectrum
    # irfft keeps only the real part of the k=0 product
    yh[:, :, 0] = yh[:, :, 0].real
    expected = np.fft.ifft(yh, axis=-1).real
    np.testing.assert_allclose(conv(x).detach().numpy(), expected, atol=1e-5)


def test_spectral_conv_2d_keeps_low_modes_and_removes_high_ones():
    conv = SpectralConv(1, 1, (3, 3), bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[..., 0] = 1.0  # weight 1 + 0i on every kept mode: a low-pass projection
    n = 16
    x = torch.arange(n) / n
    X, Y = torch.meshgrid(x, x, indexing="ij")
    low = torch.cos(2 * math.pi * (2 * X - 1 * Y)) + torch.sin(2 * math.pi * (-2 * X + 2 * Y))
    high = torch.cos(2 * math.pi * 5 * X) + torch.sin(2 * math.pi * (X + 4 * Y))
    out_low = conv(low[None, None])[0, 0]
    out_high = conv(high[None, None])[0, 0]
    torch.testing.assert_close(out_low, low, atol=1e-5, rtol=0)
    assert out_high.abs().max() < 1e-5


def test_spectral_conv_commutes_with_subsampling_for_band_limited_input():
    torch.manual_seed(1)
    conv = SpectralConv(1, 2, (4, 4))
    fine, coarse = smooth_field(64), smooth_field(32)
    torch.testing.assert_close(conv(fine)[..., ::2, ::2], conv(coarse), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("modes,shape", [((6,), (2, 1, 40)), ((4, 3, 3), (1, 1, 12, 10, 8))])
def test_fno_runs_in_1d_and_3d_and_on_finer_grids(modes, shape):
    model = FNO(1, 2, modes=modes, width=8, n_layers=2)
    out = model(torch.randn(shape))
    assert out.shape == (shape[0], 2, *shape[2:])
    finer = (shape[0], 1, *(2 * n for n in shape[2:]))
    assert model(torch.randn(finer)).shape == (shape[0], 2, *finer[2:])


def test_fno_is_resolution_agnostic():
    """Same weights on 32, 64 and 128 grids: the subsampled outputs agree and converge."""
    torch.manual_seed(0)
    model = FNO(1, 1, modes=(6, 6), width=16, activation="gelu")
    with torch.no_grad():
        out = {n: model(smooth_field(n)) for n in (32, 64, 128)}
    gap = [float((out[2 * n][..., ::2, ::2] - out[n]).norm() / out[n].norm()) for n in (32, 64)]
    # first order in the grid step (the coordinates i/n move with n): 0.009 then 0.0045 with
    # neuraloperator's spectral init, 5e-5 then 2.3e-5 with the paper's smaller one
    assert gap[0] < 0.02
    assert gap[1] < 0.6 * gap[0]


def test_registry_lists_builds_and_records_arguments():
    assert list_models() == ["fno", "lsm", "mgno", "sfno", "unet"]
    model = build_model("fno", in_channels=1, out_channels=1, modes=(4, 4), width=8)
    name, args = model_spec(model)
    assert name == "fno" and args["width"] == 8 and args["activation"] == "gelu"
    rebuilt = build_model(name, **args)
    assert [p.shape for p in rebuilt.parameters()] == [p.shape for p in model.parameters()]
    with pytest.raises(ValueError, match="name must be one of"):
        build_model("transformer")
    with pytest.raises(TypeError, match="registry"):
        model_spec(torch.nn.Linear(2, 2))


MODELS = {
    "fno": lambda act: FNO(1, 1, modes=(4, 4), width=8, n_layers=2, activation=act, padding=0.1),
    "lsm": lambda act: LSM(1, 1, width=8, depth=2, heads=2, n_basis=4, activation=act),
    "mgno": lambda act: MgNO(1, 1, width=8, n_layers=2, smoothing=(1, 1, 2), activation=act),
    "unet": lambda act: UNet(1, 1, width=8, depth=2, activation=act),
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("activation", ["gelu", "polyrelu", "polynorm"])
def test_models_keep_the_grid_and_pass_gradients(name, activation):
    torch.manual_seed(0)
    model = MODELS[name](activation)
    x = torch.randn(2, 1, 18, 22)
    out = model(x)
    assert out.shape == x.shape
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_learn_a_smoothing_map(name):
    """Each model fits u -> its spatial average along x in a few dozen Adam steps."""
    torch.manual_seed(0)
    # the FNO keeps every frequency along y, so the x-average (k_x = 0, any k_y) is in reach
    model = FNO(1, 1, modes=(4, 9), width=8, n_layers=2) if name == "fno" else MODELS[name]("gelu")
    x = torch.randn(8, 1, 16, 16)
    y = x.mean(dim=2, keepdim=True).expand_as(x)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = (model(x) - y).square().mean() / y.square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_vcycle_without_norm_is_linear():
    torch.manual_seed(0)
    cycle = VCycle(2, 2, 3, smoothing=(1, 1, 2), post_smoothing=1, norm=False)
    a, b = torch.randn(1, 2, 17, 20), torch.randn(1, 2, 17, 20)
    torch.testing.assert_close(
        cycle(2 * a - 3 * b), 2 * cycle(a) - 3 * cycle(b), atol=1e-5, rtol=1e-4
    )


def test_spectral_refiner_freezes_all_but_last_layer_and_keeps_the_output():
    torch.manual_seed(0)
    model = SpatioTemporalFNO(1, 1, modes=(3, 3), modes_t=2, steps_in=3, steps_out=4, width=8)
    x = torch.randn(4, 1, 12, 12, 3)
    y = torch.randn(4, 1, 12, 12, 4)
    before = model(x).detach()
    params = spectral_refiner(model, x)
    assert model.spectral[-1].modes == (6, 6, 3)  # 12x12 grid, 4 + ceil(0.25 * 4) = 5 steps
    torch.testing.assert_close(model(x), before, atol=1e-6, rtol=1e-5)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"spectral.3.weight", "spectral.3.bias"}
    assert sum(p.numel() for p in params) == sum(p.numel() for p in model.spectral[-1].parameters())
    loss = SobolevLoss(s=-1, alpha=0.1, time_axis=True)
    opt = torch.optim.Adam(params, lr=1e-2)
    start = loss(model(x), y).item()
    for _ in range(20):
        opt.zero_grad()
        loss(model(x), y).backward()
        opt.step()
    assert loss(model(x), y).item() < start


def test_bad_inputs_name_the_argument():
    model = FNO(2, 1, modes=(8, 8), width=4, n_layers=1)
    with pytest.raises(ValueError, match="x must have 2 channels"):
        model(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"x must have shape \[batch, channels, \*grid\]"):
        model(torch.randn(1, 2, 32))
    with pytest.raises(ValueError, match="too small for modes"):
        model(torch.randn(1, 2, 12, 32))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        model(np.zeros((1, 2, 32, 32)))
    with pytest.raises(ValueError, match="activation must be one of"):
        FNO(1, 1, modes=(4, 4), activation="swish3")
    with pytest.raises(ValueError, match="modes must be >= 1"):
        FNO(1, 1, modes=(0, 4))
    with pytest.raises(TypeError, match="width must be an integer"):
        FNO(1, 1, modes=(4, 4), width=3.5)
    sfno = SpatioTemporalFNO(1, 1, modes=(2, 2), modes_t=2, steps_in=3, steps_out=3, width=4)
    with pytest.raises(ValueError, match="x must have 3 time steps"):
        sfno(torch.randn(1, 1, 8, 8, 5))
