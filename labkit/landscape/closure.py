"""Loss closures: ``loss_fn(params) -> scalar`` over a dict of named parameters."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator, Mapping

import torch
from torch import nn
from torch.func import functional_call, replace_all_batch_norm_modules_

from labkit._checks import check_type

from .params import Params

__all__ = ["LossClosure", "loss_closure", "restrict"]

Batch = tuple[torch.Tensor, torch.Tensor]


def _is_batch(data) -> bool:
    return (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(t, torch.Tensor) for t in data)
    )


class LossClosure:
    """A loss over named parameters that knows its data: one batch or a re-iterable loader.

    Calling it returns the mean loss over all samples (each batch weighted by its size).
    :meth:`parts` yields ``(n_samples, batch_loss_fn)`` pairs so that Hessian-vector products
    can accumulate batch by batch instead of holding the whole data set's graph.

    Parameters
    ----------
    model : torch.nn.Module
        The model, called as ``torch.func.functional_call(model, (params, buffers), (x,))``.
    loss : callable
        ``loss(model(x), y) -> scalar tensor``.
    data : tuple of tensors or iterable of tuples
        One batch ``(x, y)`` or a re-iterable of batches (a ``DataLoader`` or a list).
    buffers : dict of tensors
        Buffers passed to the model (BatchNorm running statistics, ...).
    """

    def __init__(
        self,
        model: nn.Module,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        data: Batch | Iterable[Batch],
        buffers: Mapping[str, torch.Tensor],
    ) -> None:
        self.model, self.loss, self.data, self.buffers = model, loss, data, dict(buffers)
        self.single_batch = _is_batch(data)

    def batches(self) -> Iterator[Batch]:
        """Yield the ``(x, y)`` batches of the data, once."""
        if self.single_batch:
            yield tuple(self.data)
            return
        for i, batch in enumerate(self.data):
            if not _is_batch(batch):
                raise TypeError(f"data batch {i} must be a pair (inputs, targets) of tensors")
            yield tuple(batch)

    def batch_loss(self, params: Mapping[str, torch.Tensor], batch: Batch) -> torch.Tensor:
        """Loss of the model with ``params`` on one ``batch``."""
        x, y = batch
        out = functional_call(self.model, ({**self.buffers, **params}), (x,))
        return self.loss(out, y)

    def parts(self) -> Iterator[tuple[int, Callable[[Params], torch.Tensor]]]:
        """Yield ``(n_samples, loss_fn)`` for each batch."""
        for batch in self.batches():
            yield len(batch[0]), (lambda p, b=batch: self.batch_loss(p, b))

    def __call__(self, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        total, count = 0.0, 0
        for n, f in self.parts():
            total = total + n * f(params)
            count += n
        if count == 0:
            raise ValueError("data must hold at least one batch, got an empty loader")
        return total / count


def loss_closure(
    model: nn.Module,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    data: Batch | Iterable[Batch],
    *,
    train: bool = False,
) -> tuple[LossClosure, Params]:
    """Build a loss closure and its starting parameters from a model, a loss and data.

    Parameters
    ----------
    model : torch.nn.Module
        Any PyTorch model. It is not modified.
    loss : callable
        ``loss(output, target) -> scalar tensor``, e.g. ``torch.nn.functional.cross_entropy``.
        For losses that are not of this form (physics-informed losses, ...), write the closure
        ``loss_fn(params)`` yourself, e.g. with ``torch.func.functional_call``.
    data : tuple ``(x, y)`` or iterable of such tuples
        A fixed batch or a re-iterable loader; over a loader the closure is the sample-weighted
        mean loss and Hessian-vector products accumulate batch by batch.
    train : bool
        ``False`` (default): evaluation mode, BatchNorm uses its running statistics and dropout
        is off. ``True``: training mode on a copy of the model whose BatchNorm layers use batch
        statistics and do not update running statistics.

    Returns
    -------
    loss_fn : LossClosure
        Callable ``loss_fn(params) -> scalar tensor``.
    params : dict of tensors
        Detached copies of the trainable parameters (``requires_grad=True``).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    >>> loss_fn, params = loss_closure(net, torch.nn.functional.cross_entropy, (x, y))
    >>> sorted(params)
    ['bias', 'weight']
    >>> bool(torch.isclose(loss_fn(params), torch.nn.functional.cross_entropy(net(x), y)))
    True
    """
    check_type("model", model, nn.Module)
    if not callable(loss):
        raise TypeError(f"loss must be callable, got {type(loss).__name__}")
    if not _is_batch(data) and not isinstance(data, Iterable):
        raise TypeError(
            f"data must be a pair (inputs, targets) of tensors or an iterable of such pairs, "
            f"got {type(data).__name__}"
        )
    model = copy.deepcopy(model)
    if train:
        model.train()
        replace_all_batch_norm_modules_(model)
    else:
        model.eval()
    params = {
        name: p.detach().clone().requires_grad_(True)
        for name, p in model.named_parameters()
        if p.requires_grad
    }
    if not params:
        raise ValueError("model has no parameters that require grad")
    buffers = {name: b.detach() for name, b in model.named_buffers()}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    return LossClosure(model, loss, data, {**buffers, **frozen}), params


class _Restricted:
    """``loss_fn`` as a function of a subset of the parameters, the rest held fixed."""

    def __init__(self, loss_fn, fixed: Params) -> None:
        self.loss_fn, self.fixed = loss_fn, fixed

    def parts(self):
        if not hasattr(self.loss_fn, "parts"):
            yield 1, self
            return
        for n, f in self.loss_fn.parts():
            yield n, _Restricted(f, self.fixed)

    def __call__(self, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.loss_fn({**self.fixed, **params})


def restrict(
    loss_fn: Callable[[Params], torch.Tensor], params: Mapping[str, torch.Tensor], names
) -> tuple[Callable[[Params], torch.Tensor], Params]:
    """Restrict ``loss_fn`` to the parameters ``names``; the others stay at their values.

    The Hessian of the restricted closure is the diagonal block of the full Hessian that
    belongs to ``names``.

    Examples
    --------
    >>> import torch
    >>> params = {"a": torch.ones(2), "b": torch.ones(3)}
    >>> f, sub = restrict(lambda p: (p["a"] ** 2).sum() * p["b"].sum(), params, ["a"])
    >>> list(sub), float(f(sub))
    (['a'], 6.0)
    """
    names = list(names)
    unknown = [n for n in names if n not in params]
    if not names or unknown:
        raise ValueError(f"names must be a non-empty subset of the parameter names, got {names}")
    fixed = {k: v.detach() for k, v in params.items() if k not in names}
    return _Restricted(loss_fn, fixed), {k: params[k] for k in names}


def checked_loss(loss_fn: LossClosure, params: Mapping[str, torch.Tensor]) -> float:
    """The loss at ``params``, refusing what would make every derived value NaN or meaningless.

    Raises ``ValueError`` naming the parameter or data batch that holds NaN/inf, or the data
    whose inputs do not fit the model, and ``TypeError`` when ``loss`` does not return a scalar.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 1)
    >>> loss_fn, params = loss_closure(net, torch.nn.functional.mse_loss,
    ...                                (torch.randn(4, 2), torch.randn(4, 1)))
    >>> checked_loss(loss_fn, params)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: data: inputs of shape (4, 2) do not fit the model (Linear): ...
    """
    for name, value in params.items():
        if not bool(torch.isfinite(value.detach()).all()):
            raise ValueError(
                f"params[{name!r}] holds NaN or inf entries, so every loss computed from it "
                "would be NaN; reload or re-initialise the model"
            )
    total, count = 0.0, 0
    with torch.no_grad():
        for i, (x, y) in enumerate(loss_fn.batches()):
            if not (bool(torch.isfinite(x).all()) and bool(torch.isfinite(y).all())):
                raise ValueError(f"data batch {i} holds NaN or inf entries; clean the data")
            try:
                value = loss_fn.batch_loss(params, (x, y))
            except RuntimeError as err:
                reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
                raise ValueError(
                    f"data: inputs of shape {tuple(x.shape)} do not fit the model "
                    f"({type(loss_fn.model).__name__}): {reason}"
                ) from err
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value)
                raise TypeError(
                    f"loss must return a scalar tensor, got {got}; reduce it (e.g. .mean())"
                )
            total += len(x) * float(value)
            count += len(x)
    if count == 0:
        raise ValueError("data must hold at least one batch, got an empty loader")
    if not math.isfinite(total / count):
        raise ValueError(
            "loss is NaN or inf at the origin for finite parameters and data; check the loss"
        )
    return total / count
