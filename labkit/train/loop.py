"""``fit``: one readable training loop for every operator, on CPU, one GPU or many.

The options live in a :class:`~labkit.train.TrainConfig` (checked when it is built), anything
that watches the run is a :class:`~labkit.train.Callback`. The set-up is a handful of small
functions below; the loop in :func:`fit` reads top to bottom: batches from a seeded sampler (so
a resumed or distributed run sees the batches of a plain run), forward and backward over
micro-batches, clipping, optimizer and schedule steps, evaluation, an atomic checkpoint at each
epoch end, and a stop with the step number when the loss stops being finite.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from labkit.operators.registry import model_spec
from labkit.train._compat import from_deprecated
from labkit.train.callbacks import Callback, History, TrainState
from labkit.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from labkit.train.config import TrainConfig
from labkit.train.cuda import accumulate_gradients, peak_memory, select_device, to_device
from labkit.train.distributed import (
    DistributedContext,
    GlobalBatchSampler,
    all_reduce_mean,
    init_distributed,
)
from labkit.train.evaluation import autocast, evaluate, pair, scalar_loss
from labkit.train.losses import LpLoss

__all__ = ["Callback", "History", "NonFiniteLossError", "TrainState", "evaluate", "fit"]

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; ``step`` says when."""

    def __init__(self, step: int, epoch: int, checkpoint: str | None) -> None:
        kept = f"; the last good checkpoint is kept at {checkpoint!r}" if checkpoint else ""
        super().__init__(f"loss became NaN or infinite at step {step} (epoch {epoch}){kept}")
        self.step, self.epoch, self.checkpoint = step, epoch, checkpoint


def fit(
    model: nn.Module,
    train: Dataset | DataLoader,
    val: Dataset | DataLoader | None = None,
    *,
    loss: Loss | None = None,
    config: TrainConfig | None = None,
    callbacks: Sequence[Callback] = (),
    checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
    **deprecated: Any,
) -> History:
    """Train ``model`` on ``(input, target)`` pairs and return its :class:`History`.

    Parameters
    ----------
    model : nn.Module
        The operator; only parameters with ``requires_grad`` are optimised.
    train, val : Dataset or DataLoader
        ``(input, target)`` pairs (or dicts with ``"x"`` and ``"y"``). Datasets are batched with
        a sampler seeded by ``config.seed`` and the epoch.
    loss : callable, optional
        ``loss(pred, target)`` returning a scalar; default relative L2 (:class:`LpLoss`).
    config : TrainConfig, optional
        Optimisation and runtime options (default ``TrainConfig()``).
    callbacks : sequence of Callback
        Hooks called at train start, each step, each evaluation, epoch end, train end and close
        (e.g. :class:`ProgressBar`, :class:`~labkit.train.live.LiveLossPlot`).
    checkpoint : path, optional
        Save the run here at each epoch end (atomically). The model must come from the registry
        (:func:`labkit.operators.build_model`); that is checked before the first step.
    resume : path, optional
        Continue the run saved in this checkpoint (bit for bit, with the same config).
    **deprecated
        The keywords of the previous release (``epochs=``, ``lr=``, ... every
        :class:`TrainConfig` field, ``progress=`` and ``live_plot=``) still work for one release
        and warn with their replacement.

    Raises
    ------
    NonFiniteLossError
        When the training loss becomes NaN or inf (with the step; the last good checkpoint is
        kept).

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> from labkit.operators import FNO
    >>> from labkit.train import TrainConfig
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(16, 1, 16)
    >>> model = FNO(1, 1, modes=(4,), width=8, n_layers=2)
    >>> config = TrainConfig(epochs=3, batch_size=8, lr=1e-2)
    >>> history = fit(model, TensorDataset(x, 2 * x), config=config)
    >>> len(history.train_loss), history.train_loss[-1] < history.train_loss[0]
    (6, True)
    """
    config, callbacks = from_deprecated(config, callbacks, deprecated)
    run = _setup(model, train, val, loss, config, checkpoint, resume)
    state, opt = run.state, run.optimizer
    losses = _PendingLosses(run.context, state, checkpoint, run.sync_every)
    samples, clock = 0, time.perf_counter()
    try:
        _call(callbacks, "on_train_start", state)
        for epoch in range(state.epoch, config.epochs):
            state.epoch, tic = epoch, time.perf_counter()
            if run.sampler is not None:
                run.sampler.set_epoch(epoch)
            model.train()
            for batch in run.train_loader:
                x, y = _train_pair(batch, state.step + 1, run.device)
                rate = opt.param_groups[0]["lr"]
                opt.zero_grad(set_to_none=True)
                value = run.backward(x, y)
                if config.grad_clip is not None:
                    nn.utils.clip_grad_norm_(run.params, config.grad_clip)
                opt.step()
                run.scheduler.step()
                state.step += 1
                samples += x.shape[0]
                losses.add(state.step, value, rate)
                if config.eval_every and state.step % config.eval_every == 0:
                    losses.flush()
                    run.evaluate(callbacks)
                _call(callbacks, "on_step_end", state)
            losses.flush()
            if not config.eval_every:
                run.evaluate(callbacks)
            run.end_epoch(time.perf_counter() - tic, checkpoint)
            _call(callbacks, "on_epoch_end", state)
        run.finish(samples, time.perf_counter() - clock)
        _call(callbacks, "on_train_end", state)
    finally:
        _call(callbacks, "on_close", state)
    return state.history


def _call(callbacks: Sequence[Callback], hook: str, state: TrainState) -> None:
    for callback in callbacks:
        getattr(callback, hook)(state)


def _train_pair(batch: Any, step: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = pair(batch)
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError(
            f"train batch at step {step} has NaN or inf entries in its input or target"
        )
    return to_device((x, y), device)


@dataclass
class _Run:
    """Everything ``_setup`` builds, and the three things the loop asks of it."""

    model: nn.Module
    net: nn.Module
    loss: Loss
    config: TrainConfig
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    params: list[nn.Parameter]
    train_loader: DataLoader
    sampler: GlobalBatchSampler | None
    val_loader: DataLoader | None
    device: torch.device
    context: DistributedContext
    state: TrainState
    micro_batch: int
    sync_every: int

    def backward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Gradients of the batch loss over micro-batches (halved on out-of-memory errors)."""

        def one(micro: Sequence[torch.Tensor], weight: float) -> torch.Tensor:
            with autocast(self.device, self.config.amp):
                value = scalar_loss(self.loss(self.net(micro[0]).float(), micro[1].float()))
            (weight * value).backward()
            return value

        value, self.micro_batch = accumulate_gradients(
            one, (x, y), self.micro_batch, zero_grad=lambda: self.optimizer.zero_grad(True)
        )
        return value

    def evaluate(self, callbacks: Sequence[Callback]) -> None:
        if self.val_loader is None:
            return
        history = self.state.history
        history.val_step.append(self.state.step)
        history.val_loss.append(
            evaluate(self.model, self.val_loader, self.loss, device=self.device,
                     amp=self.config.amp)
        )
        _call(callbacks, "on_eval", self.state)

    def end_epoch(self, seconds: float, checkpoint: str | Path | None) -> None:
        history = self.state.history
        history.epochs = self.state.epoch + 1
        history.epoch_time.append(seconds)
        history.micro_batch = self.micro_batch
        if checkpoint is not None and self.context.is_main:
            save_checkpoint(
                checkpoint,
                self.model,
                self.optimizer,
                self.scheduler,
                epoch=self.state.epoch + 1,
                step=self.state.step,
                extra={"history": history.to_dict()},
            )

    def finish(self, samples: int, seconds: float) -> None:
        history = self.state.history
        history.samples_per_s = samples * self.context.world_size / seconds if seconds else None
        history.peak_memory_gb = peak_memory(self.device)


@dataclass
class _PendingLosses:
    """Step losses still on the device; read back (and checked) ``sync_every`` at a time."""

    context: DistributedContext
    state: TrainState
    checkpoint: str | Path | None
    sync_every: int
    pending: list[tuple[int, torch.Tensor, float]] = field(default_factory=list)

    def add(self, step: int, value: torch.Tensor, rate: float) -> None:
        self.pending.append((step, value, rate))
        if len(self.pending) >= self.sync_every:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        values = all_reduce_mean(torch.stack([v for _, v, _ in pending]), self.context).tolist()
        history = self.state.history
        for (step, _, rate), value in zip(pending, values, strict=True):
            if not math.isfinite(value):
                kept = str(self.checkpoint) if self.checkpoint else None
                raise NonFiniteLossError(step, self.state.epoch, kept)
            history.step.append(step)
            history.train_loss.append(value)
            history.lr.append(rate)


# --- set-up: one job per function --------------------------------------------------------------


def _setup(
    model: nn.Module,
    train: Dataset | DataLoader,
    val: Dataset | DataLoader | None,
    loss: Loss | None,
    config: TrainConfig,
    checkpoint: str | Path | None,
    resume: str | Path | None,
) -> _Run:
    _check_model(model, checkpoint, resume)
    device, ctx = _place(model, config.device)
    train_loader, sampler = _loader(train, "train", config, ctx, device, shuffle=True)
    val_loader, _ = _loader(val, "val", config, ctx, device, shuffle=False)
    params = _trainable(model)
    optimizer = _optimizer(config, params)
    total_steps = config.epochs * len(train_loader)
    scheduler = _schedule(config, optimizer, total_steps)
    history = History(device=str(device), world_size=ctx.world_size)
    state = TrainState(model, optimizer, history, 0, 0, total_steps, device, ctx, config)
    if resume is not None:
        _resume(resume, state, scheduler)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    return _Run(
        model=model,
        net=_wrap(model, config.compile, ctx, device),
        loss=loss if loss is not None else LpLoss(),
        config=config,
        optimizer=optimizer,
        scheduler=scheduler,
        params=params,
        train_loader=train_loader,
        sampler=sampler,
        val_loader=val_loader,
        device=device,
        context=ctx,
        state=state,
        micro_batch=config.micro_batch or config.batch_size,
        sync_every=config.sync_every or (25 if device.type == "cuda" else 1),
    )


def _check_model(model: Any, checkpoint: str | Path | None, resume: str | Path | None) -> None:
    """A module; with ``checkpoint``, a registered one and a path that may be written."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if checkpoint is None:
        return
    try:
        model_spec(model)
    except TypeError as err:
        raise TypeError(
            f"{err}; checkpoint={str(checkpoint)!r} needs it to save the run (build the model "
            "with labkit.operators.build_model, or pass checkpoint=None)"
        ) from None
    path = Path(checkpoint)
    if path.exists() and (resume is None or Path(resume) != path):
        try:
            read_checkpoint(path)
        except (ValueError, OSError) as err:
            raise CheckpointError(
                f"checkpoint path {str(path)!r} already exists and is not a labkit checkpoint; "
                "refusing to overwrite it: choose another path"
            ) from err


def _place(model: nn.Module, device: str | torch.device | None):
    """Pick the device, join a distributed run if one is set up, move the model there."""
    device = select_device(device)
    ctx = init_distributed(device)
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
    model.to(device)
    return device, ctx


def _loader(
    data: Dataset | DataLoader | None,
    name: str,
    config: TrainConfig,
    ctx: DistributedContext,
    device: torch.device,
    *,
    shuffle: bool,
) -> tuple[DataLoader | None, GlobalBatchSampler | None]:
    if data is None or isinstance(data, DataLoader):
        return data, None
    if not isinstance(data, Dataset) and not hasattr(data, "__getitem__"):
        raise TypeError(f"{name} must be a torch Dataset or DataLoader, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"{name} must not be empty")
    sampler = GlobalBatchSampler(
        len(data),
        config.batch_size,
        shuffle=shuffle,
        seed=config.seed,
        rank=ctx.rank if shuffle else 0,
        world_size=ctx.world_size if shuffle else 1,
    )
    loader = DataLoader(
        data,
        batch_sampler=sampler,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
    )
    return loader, sampler


def _trainable(model: nn.Module) -> list[nn.Parameter]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (every requires_grad is False)")
    return params


def _optimizer(config: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    if callable(config.optimizer):
        return config.optimizer(params)
    kind = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "sgd": torch.optim.SGD}
    extra = {"momentum": 0.9} if config.optimizer == "sgd" else {}
    return kind[config.optimizer](params, lr=config.lr, weight_decay=config.weight_decay, **extra)


def _schedule(
    config: TrainConfig, optimizer: torch.optim.Optimizer, total: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-step schedule of ``config`` (see :class:`TrainConfig`)."""
    warmup = config.warmup_steps
    if config.schedule == "onecycle":
        rising = warmup / total if warmup else 0.3
        if not 0 < rising < 1:
            raise ValueError(
                f"warmup_steps must be less than the {total} steps of the run for "
                f"schedule='onecycle', got {warmup}"
            )
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=total, pct_start=rising,
            cycle_momentum=False,
        )
    cosine = config.schedule == "cosine"

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if not cosine:
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _resume(path: str | Path, state: TrainState, scheduler: Any) -> None:
    """Load model, optimizer, schedule, RNG, history and position from ``path``."""
    saved = load_checkpoint(path, state.model, state.optimizer, scheduler, restore_rng=True)
    if "history" in saved.extra:
        state.history = History.from_dict(saved.extra["history"])
    state.epoch, state.step = saved.epoch, saved.step


def _wrap(
    model: nn.Module, compile: bool | str, ctx: DistributedContext, device: torch.device
) -> nn.Module:
    """The module the loop calls: DDP-wrapped in a distributed run, compiled if asked."""
    net = model
    if ctx.enabled:
        ids = [device.index] if device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if compile is True:
        return torch.compile(net)
    if compile:
        return torch.compile(net, backend=compile)
    return net
