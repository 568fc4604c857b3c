"""Fields on grids: checks, coordinates, padding and cropping, cutting into patches.

Every operator is channels-first: a field is ``[B, C, *grid]`` with 1, 2 or 3 grid axes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

__all__ = [
    "PAD_SIDES",
    "check_field",
    "crop_grid",
    "grid_coordinates",
    "merge_patches",
    "pad_grid",
    "pad_to_multiple",
    "split_patches",
]


def check_field(name: str, x: torch.Tensor, dim: int, channels: int | None = None) -> None:
    """Check that ``x`` is a channels-first field ``[B, C, *grid]`` with ``dim`` grid axes.

    Examples
    --------
    >>> import torch
    >>> check_field("x", torch.zeros(2, 3, 8), dim=2)
    Traceback (most recent call last):
    ValueError: x must have shape [batch, channels, *grid] with 2 grid axes (4 dims), got ...
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != dim + 2:
        raise ValueError(
            f"{name} must have shape [batch, channels, *grid] with {dim} grid axes "
            f"({dim + 2} dims), got shape {tuple(x.shape)}"
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channels (axis 1), got {x.shape[1]}")
    if x.numel() == 0:
        raise ValueError(f"{name} must hold at least one sample and grid point, got shape "
                         f"{tuple(x.shape)}")


def grid_coordinates(x: torch.Tensor, endpoints: bool = False) -> torch.Tensor:
    """Coordinates ``[B, d, *grid]`` of the grid points of the unit cube.

    Periodic grids (``endpoints=False``) have points ``i / n``; grids that include both
    boundaries (``endpoints=True``, e.g. Darcy nodes) have ``i / (n - 1)``. Either way a grid
    refined by 2 contains the coarse points, so subsampling sees the same coordinates.

    Examples
    --------
    >>> import torch
    >>> grid_coordinates(torch.zeros(1, 1, 5), endpoints=True)[0, 0]
    tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])
    >>> grid_coordinates(torch.zeros(2, 1, 3, 4)).shape
    torch.Size([2, 2, 3, 4])
    """
    grid = x.shape[2:]
    axes = [
        torch.arange(n, device=x.device, dtype=x.dtype) / max(n - int(endpoints), 1) for n in grid
    ]
    mesh = torch.stack(torch.meshgrid(*axes, indexing="ij"))
    return mesh.unsqueeze(0).expand(x.shape[0], *mesh.shape)


PAD_SIDES = ("end", "both")


def pad_grid(
    x: torch.Tensor, fraction: float, endpoints: bool = False, sides: str = "end"
) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Zero-pad every grid axis by ``round(fraction * cells)`` points at its end.

    ``cells`` is ``n`` on periodic grids and ``n - 1`` on grids with both end points, so the
    padded length in physical units stays the same when the grid is refined (exactly so when
    ``fraction * cells`` is an integer, e.g. ``fraction = 1/8`` on 33, 65, 129 nodes).
    ``sides="both"`` pads ``round(fraction / 2 * cells)`` points on each side instead, as
    neuraloperator's ``DomainPadding(fraction / 2)``. Returns the padded field and the points
    added per axis (per side with ``"both"``), which :func:`crop_grid` takes.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(1, 2, 33, 65)
    >>> padded, pads = pad_grid(x, 1 / 8, endpoints=True)
    >>> pads, tuple(padded.shape)
    ((4, 8), (1, 2, 37, 73))
    >>> torch.equal(crop_grid(padded, pads), x)
    True
    >>> padded, pads = pad_grid(x, 1 / 8, endpoints=True, sides="both")
    >>> pads, tuple(padded.shape)
    ((2, 4), (1, 2, 37, 73))
    >>> torch.equal(crop_grid(padded, pads, sides="both"), x)
    True
    """
    if sides not in PAD_SIDES:
        raise ValueError(f"sides must be one of {PAD_SIDES}, got {sides!r}")
    share = fraction / 2 if sides == "both" else fraction
    pads = tuple(round(share * (n - int(endpoints))) for n in x.shape[2:])
    if not any(pads):
        return x, pads
    spec = [v for p in reversed(pads) for v in ((p, p) if sides == "both" else (0, p))]
    return F.pad(x, spec), pads


def crop_grid(x: torch.Tensor, pads: tuple[int, ...], sides: str = "end") -> torch.Tensor:
    """Undo :func:`pad_grid` (with the same ``sides``)."""
    if sides not in PAD_SIDES:
        raise ValueError(f"sides must be one of {PAD_SIDES}, got {sides!r}")
    start = (lambda p: p) if sides == "both" else (lambda p: 0)
    index = tuple(
        slice(start(p), n - p) for n, p in zip(x.shape[2:], pads, strict=True)
    )
    return x[(slice(None), slice(None), *index)]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Replicate-pad every grid axis at its end up to a multiple of ``multiple``.

    Examples
    --------
    >>> import torch
    >>> padded, pads = pad_to_multiple(torch.arange(5.0).reshape(1, 1, 5), 4)
    >>> pads, padded[0, 0].tolist()
    ((3,), [0.0, 1.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0])
    """
    pads = tuple(-n % multiple for n in x.shape[2:])
    if not any(pads):
        return x, pads
    spec = [v for p in reversed(pads) for v in (0, p)]
    return F.pad(x, spec, mode="replicate"), pads


def split_patches(x: torch.Tensor, counts: Sequence[int]) -> torch.Tensor:
    """Cut a field ``[B, C, *grid]`` into ``counts[i]`` equal patches along axis ``i``.

    Returns ``[B * prod(counts), C, *patch]``, patches in row-major order within each sample.

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> split_patches(x, (2, 2))[1, 0]
    tensor([[2., 3.],
            [6., 7.]])
    """
    batch, channels, *grid = x.shape
    if len(counts) != len(grid) or any(n % k for n, k in zip(grid, counts, strict=True)):
        raise ValueError(f"counts must divide the grid {tuple(grid)} axis by axis, got {counts}")
    sizes = [n // k for n, k in zip(grid, counts, strict=True)]
    d = len(grid)
    x = x.reshape(batch, channels, *(v for k, s in zip(counts, sizes, strict=True) for v in (k, s)))
    x = x.permute(0, *range(2, 2 + 2 * d, 2), 1, *range(3, 3 + 2 * d, 2))
    return x.reshape(-1, channels, *sizes)


def merge_patches(x: torch.Tensor, counts: Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`split_patches`: ``[B * prod(counts), C, *patch]`` to ``[B, C, *grid]``.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(2, 3, 6, 4)
    >>> torch.equal(merge_patches(split_patches(x, (3, 2)), (3, 2)), x)
    True
    """
    _, channels, *sizes = x.shape
    d = len(sizes)
    x = x.reshape(-1, *counts, channels, *sizes)
    x = x.permute(0, d + 1, *(v for i in range(d) for v in (1 + i, d + 2 + i)))
    return x.reshape(x.shape[0], channels, *(k * s for k, s in zip(counts, sizes, strict=True)))
