"""Checkpoints: written atomically, read with ``weights_only=True``, rebuilt from the registry.

A checkpoint is a plain dict of tensors and builtins (no pickled code): the model's registry
name and arguments, its state, optionally the optimiser and scheduler states, the random-number
state, the training history and the position (epoch, step) in the run.
"""

from __future__ import annotations

import copy
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from labkit._checks import check_allocation
from labkit._io import atomic_write
from labkit.operators.registry import build_model, model_spec, upgrade_arguments

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
    if path.exists():
        try:
            read_checkpoint(path)
        except (CheckpointError, OSError) as err:
            raise CheckpointError(
                f"path {str(path)!r} already exists and is not a labkit checkpoint; refusing to "
                "overwrite it: choose another path"
            ) from err
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "name": name,
        "arguments": arguments,
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "optimizer_class": type(optimizer).__name__ if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": {"torch": torch.get_rng_state()},
        "epoch": int(epoch),
        "step": int(step),
        "extra": dict(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda handle: torch.save(payload, handle))


def _first_line(err: BaseException) -> str:
    lines = [ln for ln in str(err).splitlines() if ln.strip()]
    return f"{type(err).__name__}: {lines[0][:200] if lines else ''}"


def _unsafe_reason(err: BaseException) -> str:
    """Torch's reason for refusing a pickle, without its advice to load it unsafely."""
    for line in str(err).splitlines():
        if "GLOBAL" in line or "Unsupported" in line or "WeightsUnpickler" in line:
            return line.strip().split(". ")[0].rstrip(".")
    return "unsupported pickled object"


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Read and validate the raw checkpoint dict (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r} does not exist or is not a file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err):
            raise CheckpointError(
                f"path {str(path)!r} is not a readable checkpoint (damaged or truncated): "
                f"{_first_line(err)}"
            ) from err
        raise CheckpointError(
            f"path {str(path)!r} is not a readable checkpoint: it holds pickled objects beyond "
            f"tensors and builtins, which labkit does not load ({_unsafe_reason(err)}); a labkit "
            "checkpoint never holds them: save the model again with labkit.train.save_checkpoint"
        ) from err
    except Exception as err:
        raise CheckpointError(
            f"path {str(path)!r} is not a readable checkpoint (damaged, truncated or not "
            f"written by torch.save): {_first_line(err)}"
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
    name = payload["name"]
    arguments = upgrade_arguments(name, payload["arguments"])  # saved before an argument existed
    where = f"path {str(path)!r}"
    if model is None:
        model = _build(where, name, arguments)
    else:
        have_name, have_args = model_spec(model)
        if (have_name, have_args) != (name, arguments):
            raise CheckpointError(
                f"{where} holds model {name!r} with arguments {arguments}, "
                f"but model is {have_name!r} with arguments {have_args}"
            )
    target = _unwrap(model)
    _check_weights(where, target, payload["model"])
    if optimizer is not None:
        _check_optimizer(where, optimizer, payload)
    # Everything is checked; load all of it, or (should torch still refuse) none of it.
    saved_model = {k: v.detach().clone() for k, v in target.state_dict().items()}
    saved_opt = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None
    try:
        target.load_state_dict(payload["model"])
        if optimizer is not None:
            optimizer.load_state_dict(payload["optimizer"])
        if scheduler is not None and payload["scheduler"] is not None:
            scheduler.load_state_dict(payload["scheduler"])
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        target.load_state_dict(saved_model)
        if optimizer is not None:
            optimizer.load_state_dict(saved_opt)
        raise CheckpointError(f"{where}: the saved state does not fit: {_first_line(err)}") from err
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


def _build(where: str, name: str, arguments: dict[str, Any]) -> nn.Module:
    """Rebuild the saved model, first on the ``meta`` device to refuse what cannot fit."""
    try:
        with torch.device("meta"):
            probe = build_model(name, **arguments)
    except (TypeError, ValueError) as err:
        raise CheckpointError(
            f"{where}: the saved arguments {arguments} no longer fit model {name!r} "
            f"({err}); save the checkpoint again with this labkit"
        ) from err
    n_bytes = sum(t.numel() * t.element_size() for t in probe.state_dict().values())
    try:
        check_allocation("arguments", arguments, 2.0 * n_bytes, what=f"model {name!r}")
    except ValueError as err:
        raise CheckpointError(f"{where}: {err}") from None
    return build_model(name, **arguments)


def _check_weights(where: str, model: nn.Module, saved: Any) -> None:
    """Raise unless ``saved`` holds exactly the model's tensors with their shapes."""
    if not isinstance(saved, dict):
        raise CheckpointError(f"{where}: the saved model state is not a dict of tensors")
    have = model.state_dict()
    missing = sorted(set(have) - set(saved))
    unexpected = sorted(set(saved) - set(have))
    if missing or unexpected:
        raise CheckpointError(
            f"{where}: weights do not fit the model (missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}); nothing was loaded"
        )
    for key, tensor in have.items():
        value = saved[key]
        if not isinstance(value, torch.Tensor) or value.shape != tensor.shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise CheckpointError(
                f"{where}: weight {key!r} has shape {shape}, the model needs "
                f"{tuple(tensor.shape)}; nothing was loaded"
            )


def _check_optimizer(where: str, optimizer: torch.optim.Optimizer, payload: dict) -> None:
    """Raise unless the saved optimizer state belongs to an optimizer like ``optimizer``."""
    saved = payload.get("optimizer")
    if saved is None:
        raise CheckpointError(f"{where} holds no optimizer state; nothing was loaded")
    kind = type(optimizer).__name__
    saved_kind = payload.get("optimizer_class")
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    if not isinstance(groups, list):
        raise CheckpointError(f"{where}: the saved optimizer state is damaged; nothing was loaded")
    ignore = {"params", "initial_lr"}
    have_keys = [set(g) - ignore for g in optimizer.param_groups]
    saved_keys = [set(g) - ignore for g in groups if isinstance(g, dict)]
    if (saved_kind is not None and saved_kind != kind) or saved_keys != have_keys:
        raise CheckpointError(
            f"{where} holds the state of a {saved_kind or 'different'} optimizer, but optimizer "
            f"is {kind}; resume with the same optimizer, or load only the model "
            "(load_checkpoint(path, model)); nothing was loaded"
        )
    sizes = [len(g["params"]) for g in optimizer.param_groups]
    if [len(g.get("params", ())) for g in groups] != sizes:
        raise CheckpointError(
            f"{where}: the saved optimizer state covers other parameters than optimizer "
            f"(groups of sizes {[len(g.get('params', ())) for g in groups]} vs {sizes}); "
            "nothing was loaded"
        )
