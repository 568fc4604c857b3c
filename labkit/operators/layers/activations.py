"""Activations for operators, including the PolyCom family (Zhuo et al. 2025).

Operators are channels-first (``[B, C, *grid]``), so PolyNorm normalises over axis 1, the channel
axis, at every grid point: the operator stays pointwise in space and resolution-agnostic.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from labkit._checks import check_choice, check_positive

__all__ = ["PolyReLU", "PolyNorm", "make_activation", "ACTIVATIONS"]


class PolyReLU(nn.Module):
    r"""PolyReLU: :math:`\sum_{i=1}^{3} a_i \mathrm{ReLU}(x)^i + b`.

    The weights start at ``a_i = 1/3`` and the bias at ``b = 0``.

    Examples
    --------
    >>> import torch
    >>> PolyReLU()(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([0.0000, 0.0000, 4.6667], grad_fn=<AddBackward0>)
    """

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((3,), 1.0 / 3.0))
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = torch.relu(x)
        a1, a2, a3 = self.weight
        return r * (a1 + r * (a2 + r * a3)) + self.bias


class PolyNorm(nn.Module):
    r"""PolyNorm: :math:`a_1 N(x) + a_2 N(x^2) + a_3 N(x^3) + b` with N an RMS norm over channels.

    ``N(z) = z / sqrt(mean_c z^2 + eps)`` is taken over ``dim`` (the channel axis, 1, for
    channels-first operator features).

    Examples
    --------
    >>> import torch
    >>> act = PolyNorm()
    >>> act(torch.randn(2, 4, 8, 8)).shape
    torch.Size([2, 4, 8, 8])
    """

    def __init__(self, dim: int = 1, eps: float = 1e-6) -> None:
        super().__init__()
        self.dim = dim
        self.eps = check_positive("eps", eps)
        self.weight = nn.Parameter(torch.full((3,), 1.0 / 3.0))
        self.bias = nn.Parameter(torch.zeros(()))

    def _norm(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.rsqrt(z.pow(2).mean(dim=self.dim, keepdim=True) + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a1, a2, a3 = self.weight
        return a1 * self._norm(x) + a2 * self._norm(x * x) + a3 * self._norm(x * x * x) + self.bias


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "gelu": nn.GELU,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "polyrelu": PolyReLU,
    "polynorm": PolyNorm,
}


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module by name (one of ``ACTIVATIONS``).

    Examples
    --------
    >>> make_activation("polynorm")
    PolyNorm()
    """
    if not isinstance(name, str):
        raise TypeError(f"activation must be a name (str), got {type(name).__name__}")
    check_choice("activation", name.lower(), ACTIVATIONS)
    return ACTIVATIONS[name.lower()]()
