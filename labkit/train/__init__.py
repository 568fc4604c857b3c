"""Training: losses, the ``fit`` loop and its ``TrainConfig`` and callbacks, checkpoints, CUDA
and distributed helpers.

Examples
--------
>>> import torch
>>> from labkit.train import LpLoss
>>> u = torch.ones(2, 1, 8, 8)
>>> float(LpLoss()(0.5 * u, u))
0.5
"""

from labkit.train.callbacks import Callback, History, ProgressBar, TrainState
from labkit.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from labkit.train.config import TrainConfig
from labkit.train.cuda import (
    DeviceReport,
    Throughput,
    accumulate_gradients,
    device_report,
    peak_memory,
    select_device,
    to_device,
)
from labkit.train.distributed import DistributedContext, GlobalBatchSampler, init_distributed
from labkit.train.evaluation import evaluate
from labkit.train.live import LiveLossPlot
from labkit.train.loop import NonFiniteLossError, fit
from labkit.train.losses import LpLoss, SobolevLoss, quadrature_weights

__all__ = [
    "Callback",
    "Checkpoint",
    "CheckpointError",
    "DeviceReport",
    "DistributedContext",
    "GlobalBatchSampler",
    "History",
    "LiveLossPlot",
    "LpLoss",
    "NonFiniteLossError",
    "ProgressBar",
    "SobolevLoss",
    "Throughput",
    "TrainConfig",
    "TrainState",
    "accumulate_gradients",
    "device_report",
    "evaluate",
    "fit",
    "init_distributed",
    "load_checkpoint",
    "peak_memory",
    "quadrature_weights",
    "save_checkpoint",
    "select_device",
    "to_device",
]
