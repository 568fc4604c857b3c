"""Spectral convolution: a global convolution computed in Fourier space with mode truncation.

The layer keeps the lowest ``modes`` frequencies of ``rfftn`` along each spatial axis, multiplies
them by learned complex weights (a channel mixing per frequency) and transforms back. Because the
weights live on frequencies, not on grid points, the same layer runs on any grid that resolves
the kept modes.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from labkit._checks import check_int
from labkit.operators.layers.grid import check_field

__all__ = ["SpectralConv", "as_modes"]


def as_modes(modes: int | tuple[int, ...] | list[int], dim: int | None = None) -> tuple[int, ...]:
    """Return ``modes`` as a tuple of positive ints (an int is repeated ``dim`` times)."""
    if isinstance(modes, (list, tuple)):
        out = tuple(check_int("modes", m, minimum=1) for m in modes)
        if not out:
            raise ValueError("modes must not be empty, got ()")
        if dim is not None and len(out) != dim:
            raise ValueError(f"modes must have {dim} entries, got {len(out)}: {modes!r}")
        return out
    m = check_int("modes", modes, minimum=1)
    if dim is None:
        raise TypeError("modes must be a tuple whose length sets the dimension, got an int")
    return (m,) * dim


class SpectralConv(nn.Module):
    """Fourier-space convolution with ``modes[i]`` kept frequencies per axis.

    Along every axis but the last, frequencies ``0..m-1`` and ``-m..-1`` are kept; along the
    last axis (halved by ``rfftn``) frequencies ``0..m-1``. The grid must resolve them:
    ``n >= 2 m`` on the leading axes and ``n // 2 + 1 >= m`` on the last.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts.
    modes : tuple of int
        Kept modes per spatial axis; its length sets the dimension.
    bias : bool
        Add a learned per-channel constant.

    Examples
    --------
    >>> import torch
    >>> conv = SpectralConv(2, 3, (4, 4))
    >>> conv(torch.randn(5, 2, 16, 16)).shape
    torch.Size([5, 3, 16, 16])
    >>> conv(torch.randn(1, 2, 32, 24)).shape
    torch.Size([1, 3, 32, 24])
    """

    def __init__(
        self, in_channels: int, out_channels: int, modes: tuple[int, ...], bias: bool = True
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, minimum=1)
        self.out_channels = check_int("out_channels", out_channels, minimum=1)
        self.modes = as_modes(modes)
        self.dim = len(self.modes)
        shape = [2 * m for m in self.modes[:-1]] + [self.modes[-1]]
        scale = 1.0 / (in_channels * out_channels)
        # complex weights [*modes, in, out] stored as real pairs: DDP, autocast and optimisers
        # see a real tensor; modes first so the per-mode products need no weight copy
        self.weight = nn.Parameter(scale * torch.rand(*shape, in_channels, out_channels, 2))
        self.bias = nn.Parameter(torch.zeros(out_channels, *([1] * self.dim))) if bias else None

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, modes={self.modes}"

    def check_grid(self, grid: tuple[int, ...]) -> None:
        """Raise ``ValueError`` if ``grid`` cannot resolve the kept modes."""
        for axis, (n, m) in enumerate(zip(grid, self.modes, strict=True)):
            last = axis == self.dim - 1
            if (n // 2 + 1 if last else n) < (m if last else 2 * m):
                need = 2 * m - 2 if last else 2 * m
                raise ValueError(
                    f"x grid {tuple(grid)} is too small for modes {self.modes}: axis {axis} has "
                    f"{n} points but keeping {m} modes needs at least {max(need, 1)}"
                )

    def expand_modes(self, modes: tuple[int, ...]) -> None:
        """Keep more modes: new weights start at zero, so the layer's output is unchanged."""
        modes = as_modes(modes, self.dim)
        if any(new < old for new, old in zip(modes, self.modes, strict=True)):
            raise ValueError(f"modes must be >= the current {self.modes}, got {modes}")
        old = self.weight.data
        shape = [2 * m for m in modes[:-1]] + [modes[-1]]
        new = old.new_zeros(*shape, *old.shape[-3:])
        for src in self._corners(self.modes):
            dst = tuple(
                s if s.start == 0 else slice(2 * big - small, 2 * big)
                for s, small, big in zip(src[:-1], self.modes, modes, strict=False)
            )
            new[(*dst, src[-1])] = old[src]
        self.weight = nn.Parameter(new, requires_grad=self.weight.requires_grad)
        self.modes = modes

    @staticmethod
    def _corners(modes: tuple[int, ...]) -> list[tuple[slice, ...]]:
        """Slices of the weight holding the positive/negative frequency blocks, in a fixed order."""
        halves = [((slice(0, m), slice(m, 2 * m))) for m in modes[:-1]]
        return [(*c, slice(0, modes[-1])) for c in itertools.product(*halves)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field("x", x, self.dim, self.in_channels)
        grid = tuple(x.shape[2:])
        self.check_grid(grid)
        with torch.autocast(x.device.type, enabled=False):
            kept = _truncated_rfftn(x.float(), self.modes)
            y = _mix_modes(kept, torch.view_as_complex(self.weight.float()))  # [b, o, *modes]
            out = _padded_irfftn(y, self.modes, grid)
        if self.bias is not None:
            out = out + self.bias
        return out.to(x.dtype)


def _mix_modes(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``y[b, o, k] = sum_i x[b, i, k] w[k, i, o]``: one complex matrix product per mode ``k``.

    The input is made contiguous with the mode axis first before the batched product; on CPU
    this is about 1.5x faster than ``torch.einsum`` on strided views. Returns a strided view.
    """
    batch, cin, *modes = x.shape
    xk = x.flatten(2).permute(2, 0, 1).contiguous()  # [modes, batch, in]
    y = torch.bmm(xk, weight.reshape(-1, cin, weight.shape[-1]))  # [modes, batch, out]
    return y.unflatten(0, modes).permute(-2, -1, *range(len(modes)))


def _truncated_rfftn(x: torch.Tensor, modes: tuple[int, ...]) -> torch.Tensor:
    """The kept corner of ``rfftn(x)``, transforming one axis at a time and truncating at once.

    After the real transform of the last axis only ``modes[-1]`` columns remain, so the complex
    transforms of the other axes run on a fraction of the data (a pruned FFT).
    """
    dim = len(modes)
    out = torch.fft.rfft(x, dim=-1)[..., : modes[-1]]
    for axis in range(-2, -dim - 1, -1):
        m = modes[axis]
        out = torch.fft.fft(out, dim=axis)
        out = torch.cat([out.narrow(axis, 0, m), out.narrow(axis, -m, m)], dim=axis)
    return out


def _padded_irfftn(y: torch.Tensor, modes: tuple[int, ...], grid: tuple[int, ...]) -> torch.Tensor:
    """Inverse of :func:`_truncated_rfftn`: zero-fill dropped modes axis by axis, then invert."""
    dim = len(modes)
    for axis in range(-dim, -1):
        m, n = modes[axis], grid[axis]
        shape = list(y.shape)
        shape[axis] = n - 2 * m
        gap = y.new_zeros(shape)
        y = torch.cat([y.narrow(axis, 0, m), gap, y.narrow(axis, m, m)], dim=axis)
        y = torch.fft.ifft(y, dim=axis)
    return torch.fft.irfft(y, n=grid[-1], dim=-1)
