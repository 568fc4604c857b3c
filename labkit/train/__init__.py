"""Training: losses, the ``fit`` loop, checkpoints, CUDA and distributed helpers.

Examples
--------
>>> import torch
>>> from labkit.train import LpLoss
>>> u = torch.ones(2, 1, 8, 8)
>>> float(LpLoss()(0.5 * u, u))
0.5
"""

from labkit.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
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
from labkit.train.loop import Callback, History, NonFiniteLossError, TrainState, evaluate, fit
from labkit.train.losses import LpLoss, SobolevLoss, quadrature_weights

__all__ = [
    "Callback",
    "Checkpoint",
    "CheckpointError",
    "DeviceReport",
    "DistributedContext",
    "GlobalBatchSampler",
    "History",
    "LpLoss",
    "NonFiniteLossError",
    "SobolevLoss",
    "Throughput",
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
