"""MgNO against its authors' code (``MgNO_DC`` / ``MgConv_DC`` in xlliu2017/MgNO ``models.py``).

The truths are written from reading that code: the parameter counts of the authors' Darcy
configuration block by block, and ``authors_vcycle``, their V-cycle's order of operations
(``u = S f``; on each coarser level ``f = R f``, ``u = Pi u``, then ``u += S (f - A u)``; on the
way up ``u_fine += RT(u_coarse)`` then post-smoothing) run with labkit's convolutions.
"""

import pytest
import torch
from torch import nn

from labkit.operators import MgNO, build_model
from labkit.operators.layers import VCycle


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_authors_darcy_configuration_has_their_parameters_block_by_block():
    # num_layer 5, num_channel_u 24, num_channel_f 1, num_iteration [[1,0],[1,0],[1,0],[2,0],[2,0]]
    s_first, s = 9 * 1 * 24, 9 * 24 * 24  # a 3x3 stencil f -> u, bias-free
    first = s_first + 4 * (9 * 24 * 24 + 9 * 1 * 1) + 6 * 2 * s_first + 4 * 24 * 24 * 16
    other = s + 4 * (2 * s) + 6 * 2 * s + 4 * 24 * 24 * 16
    model = MgNO(1, 1)
    assert [count(c) for c in model.cycles] == [first] + [other] * 4
    assert [count(w) for w in model.skips] == [24 + 24] + [24 * 24 + 24] * 4
    assert count(model.projection) == 24
    assert count(model) == first + 4 * other + 48 + 4 * 600 + 24 == 645_828
    cycle = model.cycles[1]
    assert [len(s) for s in cycle.S] == [1, 1, 1, 2, 2]
    assert [len(a) for a in cycle.A] == [0, 1, 1, 2, 2]
    assert all(len(s) == 0 for s in cycle.post_S)
    assert all(p.kernel_size == (4, 4) and p.stride == (2, 2) for p in cycle.P)


def authors_vcycle(cycle: VCycle, f: torch.Tensor) -> torch.Tensor:
    """The authors' MgConv_DC.forward, step by step, with ``cycle``'s convolutions."""
    out = []
    u = cycle.S[0][0](f)
    for S, A in zip(cycle.S[0][1:], cycle.A[0], strict=True):
        u = u + S(f - A(u))
    out.append((u, f))
    for level in range(1, cycle.levels):
        f, u = cycle.R[level - 1](f), cycle.Pi[level - 1](u)
        for S, A in zip(cycle.S[level], cycle.A[level], strict=True):
            u = u + S(f - A(u))
        out.append((u, f))
    for j in range(cycle.levels - 2, -1, -1):
        u, f = out[j]
        u = u + cycle.P[j](out[j + 1][0])
        for S, A in zip(cycle.post_S[j], cycle.post_A[j], strict=True):
            u = u + S(f - A(u))
        out[j] = (u, f)
    return out[0][0]


@pytest.mark.parametrize("post", [0, 1, (2, 0)])
def test_vcycle_is_the_authors_cycle(post):
    torch.manual_seed(0)
    cycle = VCycle(2, 2, 3, smoothing=(2, 1, 2), post_smoothing=post).double()
    f = torch.randn(2, 2, 16, 12, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(cycle(f), authors_vcycle(cycle, f), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dim,grid", [(1, (21,)), (2, (43, 43)), (2, (17, 10)), (3, (7, 6, 5))])
def test_levels_halve_the_grid_and_odd_grids_crop_the_prolongation(dim, grid):
    torch.manual_seed(0)
    model = MgNO(1, 2, width=4, n_layers=2, smoothing=(1, 1, 1, 2), dim=dim)
    seen = []
    for conv in model.cycles[0].Pi:
        conv.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[2:])))
    x = torch.randn(2, 1, *grid)
    out = model(x)
    assert out.shape == (2, 2, *grid)
    expected, shape = [], grid
    for _ in range(3):
        shape = tuple((n + 1) // 2 for n in shape)
        expected.append(shape)
    assert seen == expected
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="argument 'levels' of model 'mgno' is no longer"):
        build_model("mgno", in_channels=1, out_channels=1, levels=4)
    with pytest.raises(ValueError, match="smoothing must have at least 1 step on the finest"):
        MgNO(1, 1, smoothing=(0, 1))
    with pytest.raises(ValueError, match=r"post_smoothing must have one entry per level \(2"):
        MgNO(1, 1, smoothing=(1, 1, 1), post_smoothing=(1,))
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        MgNO(1, 1, padding_mode="wrap")
