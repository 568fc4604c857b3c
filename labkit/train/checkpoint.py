"""Checkpoints: written atomically, read with ``weights_only=True``, rebuilt from the registry.

A checkpoint is a plain dict of tensors and builtins (no pickled code): the model's registry
name and arguments, its state, optionally the optimiser and scheduler states, the random-number
state, the training history and the position (epoch, step) in the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from labkit._io import atomic_write
from labkit.operators.registry import build_model, model_spec

__all__ = ["Checkpoint", "CheckpointError", "save_checkpoint", "load_checkpoint"]

FORMAT = "labkit-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is damaged, foreign, or holds a different model."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns."""

    model: nn.Module
    name: str
    arguments: dict[str, Any]
    epoch: int = 0
    step: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arguments": dict(self.arguments),
            "epoch": self.epoch,
            "step": self.step,
            "extra": dict(self.extra),
        }


def _unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    *,
    epoch: int = 0,
    step: int = 0,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save ``model`` (and optionally optimiser/scheduler state) to ``path`` atomically.

    The file is written to a temporary name in the same folder, flushed to disk and renamed, so
    ``path`` always holds either the previous checkpoint or the complete new one.

    Examples
    --------
    >>> import tempfile, os
    >>> from labkit.operators import build_model
    >>> model = build_model("fno", in_channels=1, out_channels=1, modes=(4,), width=4)
    >>> path = save_checkpoint(os.path.join(tempfile.mkdtemp(), "m.pt"), model, epoch=3)
    >>> load_checkpoint(path).epoch
    3
    """
    name, arguments = model_spec(model)
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "name": name,
        "arguments": arguments,
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": {"torch": torch.get_rng_state()},
        "epoch": int(epoch),
        "step": int(step),
        "extra": dict(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda handle: torch.save(payload, handle))


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Read and validate the raw checkpoint dict (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r} does not exist or is not a file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"path {str(path)!r} is not a readable checkpoint (damaged, truncated or not "
            f"written by torch.save): {type(err).__name__}: {str(err).splitlines()[0][:200]}"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"path {str(path)!r} is not a labkit checkpoint (no format={FORMAT!r} entry); "
            "save it with labkit.train.save_checkpoint"
        )
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"path {str(path)!r} has checkpoint version {payload.get('version')!r}, "
            f"this labkit reads version {VERSION}"
        )
    return payload


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    *,
    map_location: Any = "cpu",
    restore_rng: bool = False,
) -> Checkpoint:
    """Load a checkpoint; rebuild the model from the registry unless ``model`` is given.

    When ``model`` is given it must be the same registered model with the same arguments,
    otherwise :class:`CheckpointError` says what the file holds; nothing is loaded then.
    """
    payload = read_checkpoint(path, map_location)
    name, arguments = payload["name"], payload["arguments"]
    if model is None:
        model = build_model(name, **arguments)
    else:
        have_name, have_args = model_spec(model)
        if (have_name, have_args) != (name, arguments):
            raise CheckpointError(
                f"path {str(path)!r} holds model {name!r} with arguments {arguments}, "
                f"but model is {have_name!r} with arguments {have_args}"
            )
    try:
        _unwrap(model).load_state_dict(payload["model"])
    except RuntimeError as err:
        raise CheckpointError(f"path {str(path)!r}: weights do not fit the model: {err}") from err
    if optimizer is not None:
        if payload["optimizer"] is None:
            raise CheckpointError(f"path {str(path)!r} holds no optimizer state")
        optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
    if restore_rng:
        torch.set_rng_state(payload["rng"]["torch"])
    return Checkpoint(
        model=model,
        name=name,
        arguments=arguments,
        epoch=payload["epoch"],
        step=payload["step"],
        extra=payload["extra"],
    )
