"""``TrainConfig``: every optimisation and runtime option of ``fit``, checked once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import torch

from labkit._checks import check_choice, check_int, check_nonnegative, check_positive, check_type

__all__ = ["TrainConfig", "OPTIMIZERS", "SCHEDULES"]

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = (None, "constant", "cosine", "onecycle")


@dataclass(frozen=True)
class TrainConfig:
    """How ``fit`` trains: optimisation and runtime options, validated when built.

    Parameters
    ----------
    epochs : int
        Passes over the training data.
    lr : float
        Peak learning rate.
    batch_size : int
        Global batch size (split evenly over the processes of a distributed run).
    optimizer : str or callable
        ``"adamw"``, ``"adam"``, ``"sgd"`` (momentum 0.9) or ``f(params) -> Optimizer``
        (then ``lr`` and ``weight_decay`` are the callable's business).
    weight_decay : float
        Weight decay of the named optimizers (decoupled for ``"adamw"``, L2 for the others).
    schedule : str or None
        Learning rate per step: ``"cosine"`` (half a cosine from ``lr`` to 0 over the run),
        ``"constant"`` (or ``None``), or ``"onecycle"`` (the learning rate of torch's
        ``OneCycleLR(max_lr=lr)``: a cosine rise from ``lr / 25`` over the warm-up, then a cosine
        fall to ``lr / 25e4``; momentum is not cycled).
    warmup_steps : int
        Steps of warm-up. For ``"cosine"`` and ``"constant"`` the rate at step ``k < warmup_steps``
        (counted from 0) is ``lr * (k + 1) / warmup_steps``, then the schedule runs over the
        remaining steps; for ``"onecycle"`` it sets the rising phase (default 30 % of the run).
    grad_clip : float or None
        Clip the global gradient norm to this value; ``None`` does not clip.
    eval_every : int or None
        Evaluate on the validation data every this many steps; ``None``: at each epoch end.
    seed : int
        Seed of the batch order: the permutation of epoch ``e`` is drawn from ``seed + e``, so a
        resumed or distributed run sees the batches of a plain run.
    device : str or torch.device or None
        Where to train; ``None``: CUDA when available, else CPU.
    compile : bool or str
        Run the model through ``torch.compile``: ``True`` with its default backend (inductor,
        which generates kernels and may take minutes on CPU), a backend name (``"eager"`` and
        ``"aot_eager"`` trace in seconds and run the usual kernels; see
        ``torch.compiler.list_backends(exclude_tags=())``), ``False`` not at all. Checkpoints hold
        the plain model's weights either way.
    amp : bool or None
        bf16 autocast of the forward pass: ``None`` on CUDA only, ``True`` on any device (on CPU
        too), ``False`` never. Losses are computed in float32.
    micro_batch : int or None
        Split each batch into micro-batches of this size and accumulate their gradients (the
        optimizer sees the gradient of the whole batch); ``None``: the whole batch at once. On a
        CUDA out-of-memory error the micro-batch halves and the batch is redone.
    num_workers : int
        DataLoader worker processes for datasets (batches and their order do not depend on it).
    sync_every : int or None
        Read losses back from the device every this many steps (each read waits for the device);
        ``None``: 1 on CPU, 25 on CUDA. A NaN loss is still reported with the step it came from.

    Examples
    --------
    >>> config = TrainConfig(epochs=3, lr=1e-2, schedule="onecycle")
    >>> config.batch_size, config.schedule
    (16, 'onecycle')
    >>> config.replace(lr=3e-3).lr
    0.003
    >>> TrainConfig(warmup_steps=-1)
    Traceback (most recent call last):
    ...
    ValueError: warmup_steps must be >= 0, got -1
    """

    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 16
    optimizer: str | Callable[[list], torch.optim.Optimizer] = "adamw"
    weight_decay: float = 1e-4
    schedule: str | None = "cosine"
    warmup_steps: int = 0
    grad_clip: float | None = 1.0
    eval_every: int | None = None
    seed: int = 0
    device: str | torch.device | None = None
    compile: bool | str = False
    amp: bool | None = None
    micro_batch: int | None = None
    num_workers: int = 0
    sync_every: int | None = None

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, minimum=1)
        check_positive("lr", self.lr)
        check_int("batch_size", self.batch_size, minimum=1)
        if not callable(self.optimizer):
            check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_nonnegative("weight_decay", self.weight_decay)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_int("warmup_steps", self.warmup_steps, minimum=0)
        if self.grad_clip is not None:
            check_positive("grad_clip", self.grad_clip)
        for name in ("eval_every", "micro_batch", "sync_every"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), minimum=1)
        check_int("seed", self.seed)
        if self.device is not None:
            check_type("device", self.device, (str, torch.device))
        _check_compile(self.compile)
        if self.amp is not None:
            check_type("amp", self.amp, bool)
        check_int("num_workers", self.num_workers, minimum=0)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (and checked)."""
        return replace(self, **changes)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in order."""
        return tuple(f.name for f in fields(cls))


def _check_compile(compile: Any) -> None:
    if isinstance(compile, bool):
        return
    if not isinstance(compile, str):
        raise TypeError(f"compile must be a bool or a backend name, got {type(compile).__name__}")
    check_choice("compile", compile, torch.compiler.list_backends(exclude_tags=()))
