"""What ``fit`` hands to the outside: its ``History``, the ``TrainState`` and ``Callback`` hooks.

Anything that watches a run (a progress bar, a live plot, a learning-rate rule of a paper, a
log) is a :class:`Callback`; the loop calls its hooks and knows nothing else about it.

Examples
--------
>>> import torch
>>> from torch.utils.data import TensorDataset
>>> from labkit.train import TrainConfig, fit
>>> class CountSteps(Callback):
...     steps = 0
...     def on_step_end(self, state):
...         self.steps += 1
>>> counter = CountSteps()
>>> x = torch.randn(8, 3)
>>> _ = fit(torch.nn.Linear(3, 3), TensorDataset(x, x), loss=torch.nn.functional.mse_loss,
...         config=TrainConfig(epochs=2, batch_size=4), callbacks=[counter])
>>> counter.steps
4
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from labkit.train.distributed import DistributedContext

if TYPE_CHECKING:
    from labkit.train.config import TrainConfig

__all__ = ["Callback", "History", "ProgressBar", "TrainState"]


@dataclass
class History:
    """Losses and timings of a run; ``fit`` returns it and checkpoints carry it.

    ``train_loss[i]`` is the loss of step ``step[i]`` taken with learning rate ``lr[i]``;
    ``val_loss[j]`` was evaluated after step ``val_step[j]``.
    """

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
    config: TrainConfig | None = None


class Callback:
    """Base class for ``fit`` callbacks; override the hooks you need.

    Order within a step: optimizer step, schedule step, (evaluation and ``on_eval`` when due),
    ``on_step_end``. ``history.train_loss`` may lag ``state.step`` by up to ``sync_every - 1``
    steps (losses are read back from the device in groups). ``on_close`` runs last, also when
    training stopped with an error; put clean-up there.
    """

    def on_train_start(self, state: TrainState) -> None: ...

    def on_step_end(self, state: TrainState) -> None: ...

    def on_eval(self, state: TrainState) -> None: ...

    def on_epoch_end(self, state: TrainState) -> None: ...

    def on_train_end(self, state: TrainState) -> None: ...

    def on_close(self, state: TrainState) -> None: ...


class ProgressBar(Callback):
    """A tqdm progress bar over the steps of the run, with the latest loss.

    Parameters
    ----------
    enabled : bool or None
        ``None``: only when a terminal or a notebook is attached. Never on ranks other than 0.
    """

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = enabled
        self.bar = None
        self._shown = 0

    def on_train_start(self, state: TrainState) -> None:
        wanted = self.enabled
        if wanted is None:
            wanted = sys.stderr.isatty() or "ipykernel" in sys.modules
        if not (wanted and state.context.is_main):
            return
        from tqdm.auto import tqdm

        self.bar = tqdm(total=state.total_steps, initial=state.step, desc="fit", leave=False)
        self._shown = len(state.history.train_loss)

    def on_step_end(self, state: TrainState) -> None:
        if self.bar is None:
            return
        self.bar.update(state.step - self.bar.n)
        losses = state.history.train_loss
        if len(losses) > self._shown:
            self.bar.set_postfix(loss=f"{losses[-1]:.3g}")
            self._shown = len(losses)

    def on_close(self, state: TrainState) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
