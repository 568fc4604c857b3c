"""The U-Net against the LSM authors' baseline U-Net (thuml's ``models/U_Net.py``, 2-D).

Counts per block are written from reading their code (``MLP(fun_dim + 2, 2 n, n, n_layers=0)``,
``DoubleConv``/``Down``/``Up(bilinear=True)`` of ``layers/UNet_Blocks.py``, ``OutConv``,
``fc1``/``fc2``); ``authors_forward`` re-implements their ``structured_geo`` pass,
channels-last as they write it, with the model's weights.
"""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from labkit.operators import UNet, build_model, model_spec


def double_conv(cin: int, cout: int, mid: int | None = None) -> int:
    """Their ``DoubleConv``: two bias-free 3x3 convolutions, each with a BatchNorm (2 per ch)."""
    mid = cout if mid is None else mid
    return 9 * cin * mid + 2 * mid + 9 * mid * cout + 2 * cout


def test_authors_configuration_has_their_parameters_block_by_block():
    n, fun_dim, out_dim = 32, 1, 1
    model = UNet(fun_dim, out_dim, width=n, depth=4)
    expected = {
        "lift": (fun_dim + 2) * 2 * n + 2 * n + 2 * n * n + n,  # preprocess: Linear, act, Linear
        "inc": double_conv(n, n),
        "down.0": double_conv(n, 2 * n),
        "down.1": double_conv(2 * n, 4 * n),
        "down.2": double_conv(4 * n, 8 * n),
        "down.3": double_conv(8 * n, 16 * n // 2),  # factor 2 (bilinear)
        "up.0": double_conv(16 * n, 8 * n // 2, 16 * n // 2),  # Up(16n, 8n // 2): mid in / 2
        "up.1": double_conv(8 * n, 4 * n // 2, 8 * n // 2),
        "up.2": double_conv(4 * n, 2 * n // 2, 4 * n // 2),
        "up.3": double_conv(2 * n, n, 2 * n // 2),
        "out_conv": n * n + n,  # OutConv: 1x1 with bias
        "head": n * n + n + n * out_dim + out_dim,  # fc1, gelu, fc2
    }
    modules = dict(model.named_modules())
    got = {name: sum(p.numel() for p in modules[name].parameters()) for name in expected}
    assert got == expected
    assert sum(p.numel() for p in model.parameters()) == sum(expected.values()) == 4_331_201


def authors_forward(model: UNet, x: torch.Tensor) -> torch.Tensor:
    """Their 2-D ``structured_geo``: points channels-last, ``F.pad``, Up with ``nn.Upsample``."""
    b, _, sx, sy = x.shape
    gx, gy = np.meshgrid(np.linspace(0, 1, sx), np.linspace(0, 1, sy), indexing="ij")
    pos = torch.tensor(np.stack([gx, gy], -1), dtype=x.dtype).reshape(1, -1, 2).repeat(b, 1, 1)
    fx = torch.cat([pos, x.permute(0, 2, 3, 1).reshape(b, sx * sy, -1)], -1)  # (x, fx) order
    lift = model.lift
    fx = F.linear(F.gelu(F.linear(fx, lift[0].weight, lift[0].bias)), lift[2].weight, lift[2].bias)
    h = fx.permute(0, 2, 1).reshape(b, -1, sx, sy)
    multiple = 2**model.depth
    px, py = (multiple - sx % multiple) % multiple, (multiple - sy % multiple) % multiple
    h = F.pad(h, [0, py, 0, px])
    levels = [model.inc(h)]
    for block in model.down:
        levels.append(block(F.max_pool2d(levels[-1], 2)))
    h = levels.pop()
    for block in model.up:
        x2 = levels.pop()
        x1 = torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)(h)
        dy, dx = x2.shape[2] - x1.shape[2], x2.shape[3] - x1.shape[3]
        x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        h = block(torch.cat([x2, x1], dim=1))
    h = model.out_conv(h)[..., :-px, :-py]  # their crop (both pads are non-zero here)
    h = h.reshape(b, h.shape[1], -1).permute(0, 2, 1)
    head = model.head
    h = F.linear(F.gelu(F.linear(h, head[0].weight, head[0].bias)), head[2].weight, head[2].bias)
    return h.permute(0, 2, 1).reshape(b, -1, sx, sy)


def _with_coordinates_first(model: UNet) -> None:
    """Their preprocess reads (x, y, a); labkit's lift reads (a, x, y): permute the columns."""
    with torch.no_grad():
        w = model.lift[0].weight
        w.copy_(torch.cat([w[:, -2:], w[:, :-2]], dim=1))


@pytest.mark.parametrize("grid,depth", [((43, 43), 4), ((13, 11), 2), ((10, 7), 3)])
def test_unet_is_the_authors_wiring_on_odd_grids(grid, depth):
    torch.manual_seed(0)
    model = UNet(1, 1, width=4, depth=depth)
    for m in model.modules():  # non-trivial running statistics, then evaluate with them
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = torch.randn(2, 1, *grid)
    with torch.no_grad():
        ours = model(x)
        # labkit's lift reads (a, x, y), theirs (x, y, a): their pass with the lift's columns
        # permuted must equal ours with the original ones
        _with_coordinates_first(model)
        theirs = authors_forward(model, x)
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dim,grid", [(1, (37,)), (3, (9, 6, 5))])
def test_unet_runs_in_1d_and_3d_with_instance_norm(dim, grid):
    model = UNet(2, 3, width=4, depth=2, dim=dim, norm="instance")
    assert model(torch.randn(2, 2, *grid)).shape == (2, 3, *grid)


def test_classic_style_keeps_the_earlier_architecture_and_old_specs_rebuild_it():
    classic = build_model("unet", in_channels=1, out_channels=1, width=4, depth=2,
                          activation="gelu", style="classic")
    assert [type(m).__name__ for m in classic.inc] == [
        "Conv2d", "GroupNorm", "GELU", "Conv2d", "GroupNorm", "GELU"]
    assert classic.inc[0].bias is not None and classic.down[-1][0].out_channels == 16
    assert model_spec(classic)[1]["style"] == "classic"


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="style must be one of"):
        UNet(1, 1, style="milesial")
    with pytest.raises(ValueError, match="norm must be one of"):
        UNet(1, 1, norm="layer")
