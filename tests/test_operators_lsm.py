"""LSM patches: the patched neural spectral block is the global block applied patch by patch.

The truth for every check is ``global_block`` below, a plain einsum rewrite of the block of
Wu et al. (2023) over the whole grid (what labkit's block did before patching): keys and values
by a pointwise linear map, latent tokens by attention over all points, a sine/cosine series on
the tokens, then every point reads the tokens back by attention.
"""

import math

import pytest
import torch

from labkit.operators import LSM, build_model
from labkit.operators.lsm import NeuralSpectralBlock, merge_patches, split_patches
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
    scores = torch.einsum("htd,bhdl->bhtl", tokens, keys) / math.sqrt(d)
    latent = tokens + torch.einsum("bhtl,bhdl->bhtd", scores.softmax(-1), values)
    z = latent.transpose(-1, -2).reshape(batch, width, -1)  # channel = head * d + j
    n_basis = block.series.shape[1] // 2
    series = torch.zeros_like(z)
    for k in range(n_basis):
        frequency = float(torch.tensor(k / n_basis, dtype=torch.float32))  # stored as float32
        phase = math.pi * z * frequency
        series += torch.sin(phase) * block.series[:, k, None]
        series += torch.cos(phase) * block.series[:, n_basis + k, None]
    latent = (z + series).reshape(batch, heads, d, -1)
    queries = torch.einsum("oc,bcl->bol", block.query.weight, flat) + block.query.bias[:, None]
    queries = queries.reshape(batch, heads, d, -1)
    scores = torch.einsum("bhdl,bhdt->bhlt", queries, latent) / math.sqrt(d)
    out = torch.einsum("bhlt,bhdt->bhdl", scores.softmax(-1), latent)
    return x + out.reshape(x.shape)


def patchwise_block(block: NeuralSpectralBlock, x: torch.Tensor, counts) -> torch.Tensor:
    """``global_block`` on each patch cut out by slicing, written back into place."""
    out = torch.empty_like(x)
    sizes = [n // k for n, k in zip(x.shape[2:], counts, strict=True)]
    for index in torch.cartesian_prod(*(torch.arange(k) for k in counts)).reshape(-1, len(counts)):
        where = (
            slice(None),
            slice(None),
            *(slice(int(i) * s, (int(i) + 1) * s) for i, s in zip(index, sizes, strict=True)),
        )
        out[where] = global_block(block, x[where])
    return out


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
    "grid,patches",
    [((16,), 1), ((16,), (4,)), ((8, 8), 1), ((8, 12), (2, 3)), ((4, 6, 4), (2, 3, 1))],
)
def test_block_equals_the_global_block_applied_patch_by_patch(grid, patches):
    torch.manual_seed(0)
    block = NeuralSpectralBlock(8, n_basis=5, n_tokens=3, heads=2, patches=patches).double()
    x = torch.randn(2, 8, *grid, dtype=torch.float64)
    counts = patches if isinstance(patches, tuple) else (patches,) * len(grid)
    with torch.no_grad():
        expected = patchwise_block(block, x, counts)
        torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)
        if math.prod(counts) > 1:  # the patches really change the result
            assert (block(x) - global_block(block, x)).abs().max() > 1e-3


def test_latent_tokens_of_a_patch_depend_only_on_that_patch():
    torch.manual_seed(1)
    block = NeuralSpectralBlock(8, n_basis=4, n_tokens=3, heads=2, patches=(2, 2))
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


def _with_reference_blocks(model: LSM) -> None:
    """Swap every block's forward for ``patchwise_block`` with counts halved per level."""
    for level, block in enumerate(model.latent_blocks):
        counts = tuple(max(p // 2**level, 1) for p in model.patches)
        block.forward = lambda x, block=block, counts=counts: patchwise_block(block, x, counts)


@pytest.mark.parametrize("patches", [1, (4, 4), (4, 2), None])
def test_lsm_equals_the_model_with_reference_blocks(patches):
    torch.manual_seed(0)
    model = LSM(1, 1, width=4, depth=2, n_basis=4, heads=2, patches=patches).double()
    x = torch.randn(2, 1, 18, 22, dtype=torch.float64)
    with torch.no_grad():
        out = model(x)
        _with_reference_blocks(model)
        torch.testing.assert_close(out, model(x), rtol=1e-10, atol=1e-10)


def test_patch_counts_halve_per_level_and_weights_do_not_depend_on_them():
    torch.manual_seed(0)
    patched = LSM(1, 1, width=4, depth=3, heads=2, n_basis=4)
    assert patched.patches == (8, 8)
    assert [b.patches for b in patched.latent_blocks] == [(8, 8), (4, 4), (2, 2), (1, 1)]
    plain = LSM(1, 1, width=4, depth=3, heads=2, n_basis=4, patches=1)
    assert [b.patches for b in plain.latent_blocks] == [(1, 1)] * 4
    plain.load_state_dict(patched.state_dict())  # same parameters: patching adds none
    x = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        assert (patched(x) - plain(x)).abs().max() > 1e-4


@pytest.mark.parametrize(
    "dim,patches,grid,levels",
    [
        (1, 4, (22,), [(4,), (2,)]),
        (2, (8, 2), (20, 9), [(8, 2), (4, 1)]),
        (3, (2, 1, 2), (6, 5, 7), [(2, 1, 2), (1, 1, 1)]),
    ],
)
def test_lsm_keeps_any_grid_in_1d_2d_3d(dim, patches, grid, levels):
    torch.manual_seed(0)
    model = LSM(2, 3, width=4, depth=1, n_basis=3, heads=2, dim=dim, patches=patches)
    assert [b.patches for b in model.latent_blocks] == levels
    x = torch.randn(2, 2, *grid)
    out = model(x)
    assert out.shape == (2, 3, *grid)
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_registry_and_checkpoint_round_trip_keep_the_patches(tmp_path):
    torch.manual_seed(0)
    model = build_model(
        "lsm", in_channels=1, out_channels=1, width=4, depth=2, heads=2, n_basis=4, patches=(4, 2)
    )
    path = save_checkpoint(tmp_path / "lsm.pt", model)
    loaded = load_checkpoint(path)
    assert loaded.arguments["patches"] == (4, 2)
    assert [b.patches for b in loaded.model.latent_blocks] == [(4, 2), (2, 1), (1, 1)]
    x = torch.randn(2, 1, 12, 12)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))


def test_bad_patches_name_the_argument():
    with pytest.raises(ValueError, match="patches must be powers of two"):
        LSM(1, 1, width=4, depth=2, heads=2, patches=(3, 3))
    with pytest.raises(ValueError, match=r"patches must have one count per grid axis \(1\)"):
        LSM(1, 1, width=4, depth=2, heads=2, dim=1, patches=(2, 2))
    with pytest.raises(ValueError, match="patches must be >= 1"):
        LSM(1, 1, width=4, depth=2, heads=2, patches=0)
    with pytest.raises(TypeError, match="patches must be an integer"):
        LSM(1, 1, width=4, depth=2, heads=2, patches=(2.0, 2))
    block = NeuralSpectralBlock(8, n_basis=4, heads=2, patches=(3, 3))
    with pytest.raises(ValueError, match=r"patches=\(3, 3\) must divide the grid \(8, 9\)"):
        block(torch.randn(1, 8, 8, 9))
    with pytest.raises(ValueError, match="one count per axis"):
        block(torch.randn(1, 8, 9))
    with pytest.raises(ValueError, match="counts must divide the grid"):
        split_patches(torch.randn(1, 1, 6, 6), (4, 2))
