"""The first layer of a model is linear in its parameters: its output on a plane is a sum.

On a loss surface every grid point is ``theta + a d_1 + b d_2``. When the model starts with a
layer whose output is linear in its own parameters jointly (``nn.Linear``, convolutions), that
layer's output on the fixed inputs at any grid point is

    f(x; W + a D_1 + b D_2) = f(x; W) + a f(x; D_1) + b f(x; D_2),

so three evaluations of the first layer serve the whole grid, and each grid point pays only an
``axpy`` for it instead of a matrix product. The rest of the model still runs at every point:
for multilayer perceptrons :mod:`.mlp_plane` goes further (one grid row at a time, with the
later layers' weights and the first activation's exponentials factored too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from .params import Params

__all__ = ["FirstLayerSplit", "split_first_layer"]

LINEAR_IN_PARAMETERS = (nn.Linear, nn.modules.conv._ConvNd)


@dataclass
class FirstLayerSplit:
    """A model ``nn.Sequential(first, *rest)`` cut after ``first``.

    Attributes
    ----------
    prefix : str
        Name prefix of the first layer's parameters in the model (``"0."``).
    first, rest : nn.Module
        The first layer and a ``Sequential`` of the remaining modules (keeping their names, so
        the model's parameter names address them).
    """

    prefix: str
    first: nn.Module
    rest: nn.Module

    def own(self, params: Mapping[str, torch.Tensor]) -> Params:
        """The first layer's entries of ``params``, under the layer's own names."""
        n = len(self.prefix)
        return {k[n:]: v for k, v in params.items() if k.startswith(self.prefix)}

    def others(self, params: Mapping[str, torch.Tensor]) -> Params:
        """The entries of ``params`` that belong to the rest of the model."""
        return {k: v for k, v in params.items() if not k.startswith(self.prefix)}

    def outputs(
        self,
        x: torch.Tensor,
        origin: Mapping[str, torch.Tensor],
        directions: list[Mapping[str, torch.Tensor]],
        fixed: Mapping[str, torch.Tensor],
    ) -> torch.Tensor:
        """First-layer outputs at the origin and along each direction, stacked: ``[1 + k, ...]``.

        ``fixed`` holds first-layer tensors that are not varied (frozen parameters); directions
        have no component along them.
        """
        at_origin = {**self.own(fixed), **self.own(origin)}
        outs = [functional_call(self.first, at_origin, (x,))]
        for d in directions:
            step = {k: torch.zeros_like(v) for k, v in at_origin.items()}
            step.update(self.own(d))
            outs.append(functional_call(self.first, step, (x,)))
        return torch.stack(outs)

    @staticmethod
    def combine(outputs: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
        """Outputs at grid points with coefficients ``coef [m, k]``: ``[m, ...]``."""
        ones = torch.ones(len(coef), 1, dtype=coef.dtype, device=coef.device)
        weights = torch.cat([ones, coef], dim=1).to(outputs.dtype)
        return torch.tensordot(weights, outputs, dims=([1], [0]))


def split_first_layer(model: nn.Module) -> FirstLayerSplit | None:
    """Cut ``model`` after its first layer when that layer is linear in its parameters.

    Returns ``None`` unless ``model`` is an ``nn.Sequential`` whose first module is an
    ``nn.Linear`` or a convolution (any padding mode: each is linear in weight and bias
    jointly) without hooks.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> split = split_first_layer(net)
    >>> split.prefix, [name for name, _ in split.rest.named_parameters()]
    ('0.', ['2.weight', '2.bias'])
    >>> x, d = torch.randn(5, 4), {"0.weight": torch.randn(8, 4), "0.bias": torch.randn(8)}
    >>> origin = dict(net.named_parameters())
    >>> outs = split.outputs(x, origin, [d], {})
    >>> moved = {**origin, **{k: origin[k] + 0.5 * d[k] for k in d}}
    >>> direct = torch.func.functional_call(net[0], split.own(moved), (x,))
    >>> bool(torch.allclose(split.combine(outs, torch.tensor([[0.5]])), direct[None], atol=1e-6))
    True
    """
    if not isinstance(model, nn.Sequential) or len(model) < 2:
        return None
    name, first = next(iter(model.named_children()))
    if not isinstance(first, LINEAR_IN_PARAMETERS):
        return None
    if first._forward_hooks or first._forward_pre_hooks:
        return None
    return FirstLayerSplit(prefix=f"{name}.", first=first, rest=model[1:])
