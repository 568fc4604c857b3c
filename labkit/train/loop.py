"""``fit``: one readable training loop for every operator, on CPU, one GPU or many.

The loop picks the device, batches the data with a seeded sampler (so a resumed or distributed
run sees the same batches), runs bf16 autocast on CUDA, clips gradients, steps a learning-rate
schedule, evaluates, checkpoints atomically at each epoch end and stops with the step number
when the loss stops being finite.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from labkit._checks import check_choice, check_int, check_nonnegative, check_positive
from labkit.train.checkpoint import load_checkpoint, save_checkpoint
from labkit.train.cuda import accumulate_gradients, peak_memory, select_device, to_device
from labkit.train.distributed import (
    DistributedContext,
    GlobalBatchSampler,
    all_reduce_mean,
    init_distributed,
)
from labkit.train.losses import LpLoss

__all__ = ["Callback", "History", "NonFiniteLossError", "TrainState", "evaluate", "fit"]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; ``step`` says when."""

    def __init__(self, step: int, epoch: int, checkpoint: str | None) -> None:
        kept = f"; the last good checkpoint is kept at {checkpoint!r}" if checkpoint else ""
        super().__init__(f"loss became NaN or infinite at step {step} (epoch {epoch}){kept}")
        self.step, self.epoch, self.checkpoint = step, epoch, checkpoint


@dataclass
class History:
    """Losses and timings of a run; ``fit`` returns it and checkpoints carry it."""

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    val_step: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    epochs: int = 0
    device: str = "cpu"
    world_size: int = 1
    micro_batch: int | None = None
    samples_per_s: float | None = None
    peak_memory_gb: float | None = None

    @property
    def final_train_loss(self) -> float:
        return self.train_loss[-1] if self.train_loss else float("nan")

    @property
    def final_val_loss(self) -> float:
        return self.val_loss[-1] if self.val_loss else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        return cls(**data)


@dataclass
class TrainState:
    """What callbacks see: the live model, optimiser and history, and where the run is."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    history: History
    epoch: int
    step: int
    total_steps: int
    device: torch.device
    context: DistributedContext


class Callback:
    """Base class for ``fit`` callbacks; override the hooks you need."""

    def on_train_start(self, state: TrainState) -> None: ...

    def on_step_end(self, state: TrainState) -> None: ...

    def on_eval(self, state: TrainState) -> None: ...

    def on_epoch_end(self, state: TrainState) -> None: ...

    def on_train_end(self, state: TrainState) -> None: ...


def _pair(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(batch, dict):
        return batch["x"], batch["y"]
    if isinstance(batch, (list, tuple)) and len(batch) == 2:
        return batch[0], batch[1]
    raise TypeError(f"train batches must be (input, target) pairs, got {type(batch).__name__}")


def _loader(
    data: Dataset | DataLoader | None,
    name: str,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    ctx: DistributedContext,
    device: torch.device,
    num_workers: int,
) -> tuple[DataLoader | None, GlobalBatchSampler | None]:
    if data is None or isinstance(data, DataLoader):
        return data, None
    if not isinstance(data, Dataset) and not hasattr(data, "__getitem__"):
        raise TypeError(f"{name} must be a torch Dataset or DataLoader, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"{name} must not be empty")
    world = ctx.world_size if shuffle else 1
    sampler = GlobalBatchSampler(
        len(data),
        batch_size,
        shuffle=shuffle,
        seed=seed,
        rank=ctx.rank if shuffle else 0,
        world_size=world,
    )
    loader = DataLoader(
        data, batch_sampler=sampler, num_workers=num_workers, pin_memory=device.type == "cuda"
    )
    return loader, sampler


def _optimizer(name: str | Callable, params: list, lr: float, weight_decay: float):
    if callable(name):
        return name(params)
    check_choice("optimizer", name, ("adamw", "adam", "sgd"))
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)


def _schedule(name: str | None, optimizer, total: int, warmup: int):
    check_choice("schedule", name, (None, "constant", "cosine", "onecycle"))
    if name == "onecycle":
        warmup = warmup or max(1, total // 10)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if name in (None, "constant"):
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _check_compile(compile: bool | str) -> None:
    if isinstance(compile, bool):
        return
    if not isinstance(compile, str):
        raise TypeError(f"compile must be a bool or a backend name, got {type(compile).__name__}")
    check_choice("compile", compile, torch.compiler.list_backends(exclude_tags=()))


def _show_progress(progress: bool | None, ctx: DistributedContext) -> bool:
    if not ctx.is_main:
        return False
    if progress is None:
        return sys.stderr.isatty() or "ipykernel" in sys.modules
    return bool(progress)


def _autocast(device: torch.device, amp: bool | None):
    if device.type == "cuda" and amp is not False:
        return torch.autocast("cuda", dtype=torch.bfloat16)
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

    Examples
    --------
    >>> import torch
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
        with torch.no_grad(), _autocast(device, amp):
            for index, batch in enumerate(loader):
                x, y = _pair(batch)
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


def fit(
    model: nn.Module,
    train: Dataset | DataLoader,
    val: Dataset | DataLoader | None = None,
    *,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    optimizer: str | Callable = "adamw",
    weight_decay: float = 1e-4,
    schedule: str | None = "cosine",
    warmup_steps: int = 0,
    grad_clip: float | None = 1.0,
    eval_every: int | None = None,
    callbacks: Sequence[Callback] = (),
    compile: bool | str = False,
    amp: bool | None = None,
    checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
    seed: int = 0,
    micro_batch: int | None = None,
    num_workers: int = 0,
    progress: bool | None = None,
    live_plot: bool = False,
    sync_every: int | None = None,
) -> History:
    """Train ``model`` on ``(input, target)`` pairs and return its :class:`History`.

    Parameters
    ----------
    model : nn.Module
        The operator; only parameters with ``requires_grad`` are optimised.
    train, val : Dataset or DataLoader
        ``(input, target)`` pairs (or dicts with ``"x"`` and ``"y"``). Datasets are batched with
        a sampler seeded by ``seed`` and the epoch, which makes resumed and distributed runs
        reproduce the batches of a plain run.
    loss : callable, optional
        ``loss(pred, target)``; default relative L2 (:class:`~labkit.train.LpLoss`).
    epochs, lr, batch_size : int, float, int
        Length of the run, peak learning rate, global batch size.
    device : str or torch.device, optional
        Default CUDA when available, else CPU.
    optimizer : str or callable
        ``"adamw"``, ``"adam"``, ``"sgd"`` or ``f(params) -> Optimizer``.
    schedule : str or None
        ``"cosine"`` (decay to 0), ``"onecycle"`` (warm-up then cosine), ``"constant"``.
    grad_clip : float or None
        Clip the gradient norm.
    eval_every : int, optional
        Evaluate on ``val`` every this many steps (default: each epoch end).
    callbacks : sequence of Callback
        Hooks called at train start, each step, evaluation, epoch end and train end.
    compile : bool or str
        Run the model through ``torch.compile``: ``True`` with its default backend (inductor,
        which generates kernels and may take minutes on CPU), a string to choose the backend
        (``"eager"`` and ``"aot_eager"`` trace the model in seconds and run the usual kernels;
        see ``torch.compiler.list_backends(exclude_tags=())``), ``False`` not at all. Checkpoints
        hold the plain model's weights either way.
    amp : bool, optional
        bf16 autocast; default on for CUDA, always off on CPU.
    checkpoint : path, optional
        Save the run here at each epoch end (atomically).
    resume : path, optional
        Continue the run saved in this checkpoint.
    micro_batch : int, optional
        Start with micro-batches of this size (default: the whole batch); on CUDA
        out-of-memory errors the micro-batch halves and gradients accumulate.
    progress : bool, optional
        Progress bar; default when a terminal or notebook is attached.
    live_plot : bool
        Show a live holoviews loss plot (in notebooks).
    sync_every : int, optional
        Read losses back from the device every this many steps (default 1 on CPU, 25 on CUDA).

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> from labkit.operators import FNO
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(16, 1, 16)
    >>> data = TensorDataset(x, 2 * x)
    >>> model = FNO(1, 1, modes=(4,), width=8, n_layers=2)
    >>> history = fit(model, data, epochs=3, batch_size=8, lr=1e-2, progress=False)
    >>> len(history.train_loss), history.train_loss[-1] < history.train_loss[0]
    (6, True)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    epochs = check_int("epochs", epochs, minimum=1)
    check_positive("lr", lr)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    check_nonnegative("weight_decay", weight_decay)
    if grad_clip is not None:
        check_positive("grad_clip", grad_clip)
    if eval_every is not None:
        check_int("eval_every", eval_every, minimum=1)
    _check_compile(compile)
    device = select_device(device)
    ctx = init_distributed(device)
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
    model.to(device)
    loss_fn = loss if loss is not None else LpLoss()
    common = dict(seed=seed, ctx=ctx, device=device, num_workers=num_workers)
    train_loader, sampler = _loader(train, "train", batch_size, shuffle=True, **common)
    val_loader, _ = _loader(val, "val", batch_size, shuffle=False, **common)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (every requires_grad is False)")
    opt = _optimizer(optimizer, params, lr, weight_decay)
    steps_per_epoch = len(train_loader)
    total_steps = epochs * steps_per_epoch
    sched = _schedule(schedule, opt, total_steps, warmup_steps)
    history = History(device=str(device), world_size=ctx.world_size)
    start_epoch, step = 0, 0
    if resume is not None:
        saved = load_checkpoint(resume, model, opt, sched, restore_rng=True)
        if "history" in saved.extra:
            history = History.from_dict(saved.extra["history"])
        start_epoch, step = saved.epoch, saved.step
    net: nn.Module = model
    if ctx.enabled:
        ids = [device.index] if device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if compile is True:
        net = torch.compile(net)
    elif compile:
        net = torch.compile(net, backend=compile)
    sync_every = sync_every or (25 if device.type == "cuda" else 1)
    micro = micro_batch or batch_size
    state = TrainState(model, opt, history, start_epoch, step, total_steps, device, ctx)
    callbacks = list(callbacks)
    if live_plot and ctx.is_main:
        from labkit.train.live import LiveLossPlot

        callbacks.append(LiveLossPlot())
    bar = None
    if _show_progress(progress, ctx):
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=step, desc="fit", leave=False)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def one_micro_batch(micro_pair: Sequence[torch.Tensor], weight: float) -> torch.Tensor:
        x, y = micro_pair
        with _autocast(device, amp):
            value = scalar_loss(loss_fn(net(x).float(), y.float()))
        (weight * value).backward()
        return value

    pending: list[tuple[int, torch.Tensor, float]] = []

    def flush() -> None:
        if not pending:
            return
        values = all_reduce_mean(torch.stack([v for _, v, _ in pending]), ctx).tolist()
        for (at, _, rate), value in zip(pending, values, strict=True):
            if not math.isfinite(value):
                pending.clear()
                raise NonFiniteLossError(at, state.epoch, str(checkpoint) if checkpoint else None)
            history.step.append(at)
            history.train_loss.append(value)
            history.lr.append(rate)
        if bar is not None:
            bar.set_postfix(loss=f"{values[-1]:.3g}")
        pending.clear()

    def run_eval() -> None:
        if val_loader is None:
            return
        history.val_step.append(state.step)
        history.val_loss.append(evaluate(model, val_loader, loss_fn, device=device, amp=amp))
        for cb in callbacks:
            cb.on_eval(state)

    for cb in callbacks:
        cb.on_train_start(state)
    samples, clock = 0, time.perf_counter()
    try:
        for epoch in range(start_epoch, epochs):
            state.epoch = epoch
            tic = time.perf_counter()
            if sampler is not None:
                sampler.set_epoch(epoch)
            model.train()
            for batch in train_loader:
                x, y = _pair(batch)
                if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
                    raise ValueError(
                        f"train batch at step {step + 1} has NaN or inf entries in its input or "
                        "target"
                    )
                x, y = to_device((x, y), device)
                opt.zero_grad(set_to_none=True)
                value, micro = accumulate_gradients(
                    one_micro_batch,
                    (x, y),
                    micro,
                    zero_grad=lambda: opt.zero_grad(set_to_none=True),
                )
                if grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, grad_clip)
                rate = opt.param_groups[0]["lr"]
                opt.step()
                sched.step()
                step += 1
                samples += x.shape[0]
                state.step = step
                pending.append((step, value, rate))
                if len(pending) >= sync_every:
                    flush()
                if bar is not None:
                    bar.update(1)
                if eval_every and step % eval_every == 0:
                    flush()
                    run_eval()
                for cb in callbacks:
                    cb.on_step_end(state)
            flush()
            if not eval_every:
                run_eval()
            history.epochs = epoch + 1
            history.epoch_time.append(time.perf_counter() - tic)
            history.micro_batch = micro
            if checkpoint is not None and ctx.is_main:
                save_checkpoint(
                    checkpoint,
                    model,
                    opt,
                    sched,
                    epoch=epoch + 1,
                    step=step,
                    extra={"history": history.to_dict()},
                )
            for cb in callbacks:
                cb.on_epoch_end(state)
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - clock
    history.samples_per_s = samples * ctx.world_size / elapsed if elapsed > 0 else None
    history.peak_memory_gb = peak_memory(device)
    for cb in callbacks:
        cb.on_train_end(state)
    return history
