"""LSM against its authors' code (``models/LSM_2D.py`` of thuml/Latent-Spectral-Models).

The authors' code needs CUDA and is not a package, so the truths here are written from reading
it: ``global_block`` is the neural spectral block over one patch in plain einsums (unscaled
attention logits, keys and values from one pointwise map, tokens added back), ``authors_forward``
wires labkit's submodules the authors' way (channels-last linear maps, right/bottom zero padding,
``view``/``permute`` patchify, ``Upsample(scale_factor=2, align_corners=True)`` then padding by
``diff // 2`` before ``cat([skip, up])``), and the parameter counts per block are the authors'
configuration counted by hand; their total is what the authors' model reports (4,812,801).
"""

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from labkit.operators import LSM, build_model
from labkit.operators.layers import NeuralSpectralBlock, merge_patches, split_patches
from labkit.operators.models.lsm import lsm_widths
from labkit.train import load_checkpoint, save_checkpoint


def global_block(block: NeuralSpectralBlock, x: torch.Tensor) -> torch.Tensor:
    """The neural spectral block over the whole grid of ``x``, from ``block``'s weights."""
    batch, width = x.shape[:2]
    heads, d = block.heads, block.head_dim
    flat = x.reshape(batch, width, -1)
    kv = torch.einsum("oc,bcl->bol", block.key_value.weight, flat)
    kv = kv + block.key_value.bias[:, None]
    keys = kv[:, :width].reshape(batch, heads, d, -1)
    values = kv[:, width:].reshape(batch, heads, d, -1)
    tokens = block.tokens  # [heads, n_tokens, d]
    scores = torch.einsum("htd,bhdl->bhtl", tokens, keys)
    latent = tokens + torch.einsum("bhtl,bhdl->bhtd", scores.softmax(-1), values)
    z = latent.transpose(-1, -2).reshape(batch, width, -1)  # channel = head * d + j
    n_basis = block.series.shape[1] // 2
    series = torch.zeros_like(z)
    for k in range(n_basis):
        frequency = float(torch.tensor(k / n_basis, dtype=torch.float32))  # as the authors' float
        phase = math.pi * z * frequency
        series += torch.sin(phase) * block.series[:, k, None]
        series += torch.cos(phase) * block.series[:, n_basis + k, None]
    latent = (z + series).reshape(batch, heads, d, -1)
    queries = torch.einsum("oc,bcl->bol", block.query.weight, flat) + block.query.bias[:, None]
    queries = queries.reshape(batch, heads, d, -1)
    scores = torch.einsum("bhdl,bhdt->bhlt", queries, latent)
    out = torch.einsum("bhlt,bhdt->bhdl", scores.softmax(-1), latent)
    return x + out.reshape(x.shape)


def patchwise_block(block: NeuralSpectralBlock, x: torch.Tensor, sizes) -> torch.Tensor:
    """``global_block`` on each patch of ``sizes`` points cut out by slicing, written back."""
    out = torch.empty_like(x)
    counts = [n // s for n, s in zip(x.shape[2:], sizes, strict=True)]
    for index in torch.cartesian_prod(*(torch.arange(k) for k in counts)).reshape(-1, len(counts)):
        where = (
            slice(None),
            slice(None),
            *(slice(int(i) * s, (int(i) + 1) * s) for i, s in zip(index, sizes, strict=True)),
        )
        out[where] = global_block(block, x[where])
    return out


def authors_block(block: NeuralSpectralBlock, x: torch.Tensor, p: tuple[int, int]):
    """The authors' 2-D patchify (``view``/``permute``), the block per patch, de-patchify."""
    b, c, h, w = x.shape
    patches = x.view(b, c, h // p[0], p[0], w // p[1], p[1]).permute(0, 2, 4, 1, 3, 5)
    patches = patches.reshape(-1, c, p[0], p[1])
    out = global_block(block, patches)
    out = out.view(b, h // p[0], w // p[1], c, p[0], p[1]).permute(0, 3, 1, 4, 2, 5)
    return out.reshape(b, c, h, w)


def authors_forward(model: LSM, x: torch.Tensor) -> torch.Tensor:
    """``LSM2d.forward`` of the authors, channels-last, with ``model``'s weights (2-D)."""
    b, _, sx, sy = x.shape
    gx = torch.tensor(np.linspace(0, 1, sx), dtype=x.dtype).reshape(1, sx, 1, 1).repeat(b, 1, sy, 1)
    gy = torch.tensor(np.linspace(0, 1, sy), dtype=x.dtype).reshape(1, 1, sy, 1).repeat(b, sx, 1, 1)
    h = torch.cat([x.permute(0, 2, 3, 1), gx, gy], dim=-1)
    h = F.linear(h, model.lift.weight, model.lift.bias).permute(0, 3, 1, 2)
    pad_x, pad_y = model.pads((sx, sy))
    h = F.pad(h, [0, pad_y, 0, pad_x])
    levels = [model.inc(h)]
    for block in model.down:
        levels.append(block(F.max_pool2d(levels[-1], 2)))
    processed = [
        authors_block(blk, f, model.patch_size)
        for blk, f in zip(model.latent_blocks, levels, strict=True)
    ]
    h = processed.pop()
    up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
    for block in model.up:
        skip = processed.pop()
        h = up(h)
        dy, dx = skip.size(2) - h.size(2), skip.size(3) - h.size(3)
        h = F.pad(h, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        h = block(torch.cat([skip, h], dim=1))
    h = model.out_conv(h)[..., : h.shape[2] - pad_x, : h.shape[3] - pad_y].permute(0, 2, 3, 1)
    fc1, fc2 = model.head[0], model.head[2]
    h = F.linear(F.gelu(F.linear(h, fc1.weight, fc1.bias)), fc2.weight, fc2.bias)
    return h.permute(0, 3, 1, 2)


def test_split_patches_cuts_contiguous_blocks_and_merge_inverts_it():
    x = torch.randn(2, 3, 6, 8)
    patches = split_patches(x, (3, 2))
    assert patches.shape == (12, 3, 2, 4)
    for b in range(2):
        for i in range(3):
            for j in range(2):
                expected = x[b, :, 2 * i : 2 * i + 2, 4 * j : 4 * j + 4]
                assert torch.equal(patches[b * 6 + i * 2 + j], expected)
    assert torch.equal(merge_patches(patches, (3, 2)), x)
    for shape, counts in [((2, 4, 12), (3,)), ((1, 2, 4, 6, 8), (2, 3, 4))]:
        y = torch.randn(shape)
        assert torch.equal(merge_patches(split_patches(y, counts), counts), y)


@pytest.mark.parametrize(
    "grid,sizes",
    [((16,), (16,)), ((16,), (4,)), ((8, 8), (8, 8)), ((8, 12), (4, 4)), ((4, 6, 4), (2, 2, 4))],
)
def test_block_equals_the_global_block_applied_patch_by_patch(grid, sizes):
    torch.manual_seed(0)
    block = NeuralSpectralBlock(8, n_basis=5, n_tokens=3, heads=2, patch_size=sizes).double()
    x = torch.randn(2, 8, *grid, dtype=torch.float64)
    with torch.no_grad():
        expected = patchwise_block(block, x, sizes)
        torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)
        if tuple(sizes) != tuple(grid):  # the patches really change the result
            assert (block(x) - global_block(block, x)).abs().max() > 1e-3


def test_latent_tokens_of_a_patch_depend_only_on_that_patch():
    torch.manual_seed(1)
    block = NeuralSpectralBlock(8, n_basis=4, n_tokens=3, heads=2, patch_size=4)
    x = torch.randn(1, 8, 8, 8)
    bumped = x.clone()
    bumped[..., 4:, :4] += torch.randn(8, 4, 4)  # only patch (1, 0)
    with torch.no_grad():
        tokens, tokens_bumped = block.latent_tokens(x), block.latent_tokens(bumped)
        out, out_bumped = block(x), block(bumped)
    assert tokens.shape == (1, 2, 2, 8, 3)
    for i, j in [(0, 0), (0, 1), (1, 1)]:
        assert torch.equal(tokens[0, i, j], tokens_bumped[0, i, j])
    assert (tokens[0, 1, 0] - tokens_bumped[0, 1, 0]).abs().max() > 1e-3
    outside = torch.ones(8, 8, dtype=torch.bool)
    outside[4:, :4] = False
    assert torch.equal(out[..., outside], out_bumped[..., outside])


# The authors' Darcy configuration (d_model 32, 4 levels, 12 bases, 4 tokens, 8 heads, one input
# and one output channel), block by block, counted from their code: DoubleConv(i, o, m) =
# 9 i m + 2 m + 9 m o + 2 o (bias-free convolutions, BatchNorm); a block of width c has
# 8 heads x 4 tokens x c/8 latents, c x 24 series weights, a c -> 2c and a c -> c 1x1 conv.
AUTHORS_COUNTS = {
    "fc0": 3 * 32 + 32,
    "inc": 9 * 32 * 32 + 64 + 9 * 32 * 32 + 64,
    "down1": 9 * 32 * 64 + 128 + 9 * 64 * 64 + 128,
    "down2": 9 * 64 * 128 + 256 + 9 * 128 * 128 + 256,
    "down3": 9 * 128 * 256 + 512 + 9 * 256 * 256 + 512,
    "down4": 9 * 256 * 256 + 512 + 9 * 256 * 256 + 512,
    "up1": 9 * 512 * 256 + 512 + 9 * 256 * 128 + 256,
    "up2": 9 * 256 * 128 + 256 + 9 * 128 * 64 + 128,
    "up3": 9 * 128 * 64 + 128 + 9 * 64 * 32 + 64,
    "up4": 9 * 64 * 32 + 64 + 9 * 32 * 32 + 64,
    "outc": 32 * 32 + 32,
    **{
        f"process{i + 1}": 4 * c + 24 * c + (2 * c * c + 2 * c) + (c * c + c)
        for i, c in enumerate([32, 64, 128, 256, 256])
    },
    "fc1": 32 * 128 + 128,
    "fc2": 128 + 1,
}


def test_authors_configuration_has_their_parameters_block_by_block():
    assert sum(AUTHORS_COUNTS.values()) == 4_812_801  # what the authors' model reports
    model = LSM(1, 1, width=32, depth=4, n_basis=12, n_tokens=4, heads=8, padding=5)

    def n(module):
        return sum(p.numel() for p in module.parameters())

    ours = {"fc0": n(model.lift), "inc": n(model.inc), "outc": n(model.out_conv)}
    ours |= {f"down{i + 1}": n(b) for i, b in enumerate(model.down)}
    ours |= {f"up{i + 1}": n(b) for i, b in enumerate(model.up)}
    ours |= {f"process{i + 1}": n(b) for i, b in enumerate(model.latent_blocks)}
    ours |= {"fc1": n(model.head[0]), "fc2": n(model.head[2])}
    assert ours == AUTHORS_COUNTS
    assert n(model) == 4_812_801
    assert lsm_widths(32, 4) == [32, 64, 128, 256, 256]
    # the authors' initial distributions: tokens and series weights uniform in [0, 1/width)
    for block, width in zip(model.latent_blocks, lsm_widths(32, 4), strict=True):
        for weights in (block.tokens.detach(), block.series.detach()):
            assert 0 <= float(weights.min()) and float(weights.max()) < 1 / width
            assert abs(float(weights.mean()) * width - 0.5) < 0.05
    assert all(isinstance(m, nn.BatchNorm2d) for m in (model.inc[1], model.up[0][4]))
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d)
               and m.kernel_size == (3, 3))


def test_shapes_at_every_level_on_the_authors_darcy_grid():
    torch.manual_seed(0)
    model = LSM(1, 1, width=8, depth=4, n_basis=3, n_tokens=2).eval()  # pads 43 by 5
    assert model.level_shapes((43, 43)) == [(48, 48), (24, 24), (12, 12), (6, 6), (3, 3)]
    seen = {}
    blocks = {"inc": model.inc, **{f"down{i}": b for i, b in enumerate(model.down)},
              **{f"up{i}": b for i, b in enumerate(model.up)}, "out": model.out_conv}
    for name, block in blocks.items():
        block.register_forward_hook(lambda m, i, o, name=name: seen.update({name: o.shape}))
    out = model(torch.randn(2, 1, 43, 43))
    assert out.shape == (2, 1, 43, 43)
    widths = lsm_widths(8, 4)  # [8, 16, 32, 64, 64]
    assert seen["inc"] == (2, 8, 48, 48)
    for i, n in enumerate([24, 12, 6, 3]):
        assert seen[f"down{i}"] == (2, widths[i + 1], n, n)
    for i, (c, n) in enumerate([(32, 6), (16, 12), (8, 24), (8, 48)]):  # 4w, 2w, w, w
        assert seen[f"up{i}"] == (2, c, n, n)
    assert seen["out"] == (2, 8, 48, 48)


@pytest.mark.parametrize(
    "grid,padding,patch_size",
    [((43, 43), None, (3, 3)), ((13, 11), (0, 0), (1, 1)), ((10, 7), (2, 1), (3, 1)),
     ((9, 5), None, (1, 2))],
)
def test_lsm_is_the_authors_wiring_on_odd_grids(grid, padding, patch_size):
    torch.manual_seed(0)
    depth = 4 if grid[0] == 43 else 2
    model = LSM(1, 1, width=8, depth=depth, n_basis=3, n_tokens=2, heads=2,
                patch_size=patch_size, padding=padding).double().eval()
    x = torch.randn(2, 1, *grid, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), authors_forward(model, x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "dim,patch_size,padding,grid",
    [(1, 4, 2, (22,)), (2, (2, 3), (0, 1), (12, 5)), (3, (1, 1, 2), 0, (6, 5, 4))],
)
def test_lsm_runs_in_1d_2d_3d(dim, patch_size, padding, grid):
    torch.manual_seed(0)
    model = LSM(2, 3, width=4, depth=1, n_basis=3, heads=2, dim=dim, patch_size=patch_size,
                padding=padding, norm="group")
    x = torch.randn(2, 2, *grid)
    out = model(x)
    assert out.shape == (2, 3, *grid)
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_registry_and_checkpoint_round_trip_keep_the_patch_size(tmp_path):
    torch.manual_seed(0)
    model = build_model(
        "lsm", in_channels=1, out_channels=1, width=4, depth=2, heads=2, n_basis=4,
        patch_size=(4, 2), padding=(0, 4),
    ).eval()
    path = save_checkpoint(tmp_path / "lsm.pt", model)
    loaded = load_checkpoint(path)
    assert loaded.arguments["patch_size"] == (4, 2)
    assert [b.patch_size for b in loaded.model.latent_blocks] == [(4, 2)] * 3
    x = torch.randn(2, 1, 16, 12)
    with torch.no_grad():
        assert torch.equal(loaded.model.eval()(x), model(x))


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match=r"patch_size \(3, 3\); choose padding"):
        LSM(1, 1, width=4, depth=2, heads=2, padding=0)(torch.randn(1, 1, 13, 12))
    with pytest.raises(ValueError, match=r"patch_size must be an int or have one entry per"):
        LSM(1, 1, width=4, depth=2, heads=2, dim=1, patch_size=(2, 2))
    with pytest.raises(ValueError, match="patch_size must be >= 1"):
        LSM(1, 1, width=4, depth=2, heads=2, patch_size=0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        LSM(1, 1, width=4, depth=2, heads=2, padding=-1)
    with pytest.raises(ValueError, match="norm must be one of"):
        LSM(1, 1, width=4, depth=2, heads=2, norm="layer")
    with pytest.raises(ValueError, match="argument 'patches' of model 'lsm' is no longer"):
        build_model("lsm", in_channels=1, out_channels=1, patches=(2, 2))
    block = NeuralSpectralBlock(8, n_basis=4, heads=2, patch_size=(3, 3))
    with pytest.raises(ValueError, match=r"patch_size=\(3, 3\) must divide the grid \(8, 9\)"):
        block(torch.randn(1, 8, 8, 9))
    with pytest.raises(ValueError, match="one size per axis"):
        block(torch.randn(1, 8, 9))
    with pytest.raises(ValueError, match="counts must divide the grid"):
        split_patches(torch.randn(1, 1, 6, 6), (4, 2))
