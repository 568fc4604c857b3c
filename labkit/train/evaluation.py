"""``evaluate``, and the checks a batch, a model and a loss value pass through in ``fit``."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from labkit._checks import check_int
from labkit.train.cuda import select_device, to_device
from labkit.train.losses import LpLoss

__all__ = [
    "autocast",
    "check_finite_batch",
    "check_finite_model",
    "evaluate",
    "pair",
    "scalar_loss",
]


def pair(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(input, target)`` of a batch given as a pair or a dict with ``"x"`` and ``"y"``."""
    if isinstance(batch, dict):
        return batch["x"], batch["y"]
    if isinstance(batch, (list, tuple)) and len(batch) == 2:
        return batch[0], batch[1]
    raise TypeError(f"train batches must be (input, target) pairs, got {type(batch).__name__}")


def autocast(device: torch.device, amp: bool | None) -> AbstractContextManager:
    """bf16 autocast on ``device`` when ``amp`` is True, or when it is None and ``device`` is CUDA.

    Examples
    --------
    >>> with autocast(torch.device("cpu"), True):
    ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
    torch.bfloat16
    >>> with autocast(torch.device("cpu"), None):
    ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
    torch.float32
    """
    if amp or (amp is None and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def evaluate(
    model: nn.Module,
    data: Dataset | DataLoader,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    *,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    amp: bool | None = None,
) -> float:
    """Mean per-sample ``loss`` of ``model`` over ``data`` (default: relative L2).

    ``device`` defaults to where the model's parameters are; ``amp`` is bf16 autocast as in
    :class:`~labkit.train.TrainConfig` (``None``: on CUDA only).

    Examples
    --------
    >>> from torch.utils.data import TensorDataset
    >>> u = torch.rand(4, 1, 8, 8) + 1
    >>> round(evaluate(nn.Identity(), TensorDataset(u, u)), 6)
    0.0
    """
    device = (
        select_device(device)
        if device is not None
        else next((p.device for p in model.parameters()), torch.device("cpu"))
    )
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    loss = loss or LpLoss()
    loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size)
    check_finite_model(model)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad(), autocast(device, amp):
            for index, batch in enumerate(loader):
                x, y = pair(batch)
                check_finite_batch("data", index, x, y)
                x, y = to_device((x, y), device)
                try:
                    pred = model(x)
                except RuntimeError as err:
                    raise ValueError(
                        f"data: batch {index} input of shape {tuple(x.shape)} does not fit the "
                        f"model: {str(err).splitlines()[0][:200]}"
                    ) from err
                if not bool(torch.isfinite(pred).all()):
                    raise ValueError(
                        f"model returned NaN or inf on finite batch {index} of data; "
                        "check the model's weights and the scale of the inputs"
                    )
                value = scalar_loss(loss(pred.float(), y.float()))
                total += float(value) * x.shape[0]
                count += x.shape[0]
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("data is empty: evaluate needs at least one (input, target) sample")
    return total / count


def check_finite_model(model: nn.Module) -> None:
    """Raise ``ValueError`` naming the first parameter of ``model`` that holds NaN or inf."""
    for name, param in model.named_parameters():
        if not bool(torch.isfinite(param.detach()).all()):
            raise ValueError(
                f"model parameter {name!r} holds NaN or inf entries; reload a good checkpoint "
                "or re-initialise the model"
            )


def check_finite_batch(name: str, index: int, x: torch.Tensor, y: torch.Tensor) -> None:
    """Raise ``ValueError`` when batch ``index`` of ``name`` holds NaN or inf entries."""
    if not (bool(torch.isfinite(x).all()) and bool(torch.isfinite(y).all())):
        raise ValueError(
            f"{name}: batch {index} has NaN or inf entries in its input or target; "
            "clean the data or drop those samples"
        )


def scalar_loss(value: Any) -> torch.Tensor:
    """Return ``value`` if it is a one-element tensor, else raise ``TypeError`` naming ``loss``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"loss must return a tensor, got {type(value).__name__}")
    if value.numel() != 1:
        raise TypeError(
            f"loss must return a scalar tensor, got shape {tuple(value.shape)}; reduce it "
            "(e.g. with .mean()) or use reduction='mean'"
        )
    return value.reshape(())
