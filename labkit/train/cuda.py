"""Device helpers: pick and describe a device, move batches, survive out-of-memory errors.

The out-of-memory back-off runs a batch as micro-batches with gradient accumulation; when a
micro-batch runs out of memory it halves the micro-batch and redoes the batch, so the optimiser
still sees the gradient of the whole (effective) batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from labkit._checks import check_int

__all__ = [
    "DeviceReport",
    "Throughput",
    "select_device",
    "device_report",
    "to_device",
    "accumulate_gradients",
    "peak_memory",
]


def select_device(device: str | torch.device | None = None) -> torch.device:
    """The requested device, or CUDA when available, else CPU.

    Examples
    --------
    >>> select_device("cpu")
    device(type='cpu')
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device must name a torch device such as 'cpu' or 'cuda', got {device!r}"
        ) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was requested but CUDA is not available here")
    return device


@dataclass
class DeviceReport:
    """What a device is: name, memory and the torch build using it."""

    device: str
    name: str
    total_memory_gb: float | None
    capability: str | None
    bf16: bool
    torch_version: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def device_report(device: str | torch.device | None = None) -> DeviceReport:
    """Describe ``device`` (default: the one :func:`select_device` picks).

    Examples
    --------
    >>> device_report("cpu").device
    'cpu'
    """
    device = select_device(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return DeviceReport(
            device=str(device),
            name=props.name,
            total_memory_gb=props.total_memory / 2**30,
            capability=f"{props.major}.{props.minor}",
            bf16=torch.cuda.is_bf16_supported(),
            torch_version=torch.__version__,
        )
    import platform

    return DeviceReport(
        str(device), platform.processor() or "cpu", None, None, False, torch.__version__
    )


def to_device(batch: Any, device: torch.device) -> Any:
    """Move tensors in a (nested) batch to ``device`` with non-blocking copies."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def peak_memory(device: torch.device) -> float | None:
    """Peak allocated CUDA memory in GiB since the last reset (``None`` on CPU)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30


def _is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


def accumulate_gradients(
    step: Callable[[Sequence[torch.Tensor], float], torch.Tensor],
    batch: Sequence[torch.Tensor],
    micro_batch: int,
    *,
    zero_grad: Callable[[], None],
    on_backoff: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, int]:
    """Run ``step`` over micro-batches of ``batch``, halving the size on out-of-memory errors.

    ``step(micro, weight)`` must compute the loss of ``micro``, call ``backward`` on
    ``weight * loss`` and return the (unweighted) loss; ``weight`` is the micro-batch's share of
    the batch, so the accumulated gradient equals the full batch's. On an out-of-memory error the
    gradients are zeroed, the cache emptied, the micro-batch halved and the batch redone.

    Returns
    -------
    loss : torch.Tensor
        The batch loss (weighted mean of the micro-batch losses), detached.
    micro_batch : int
        The micro-batch size that worked (pass it to the next call).
    """
    micro_batch = check_int("micro_batch", micro_batch, minimum=1)
    size = batch[0].shape[0]
    while True:
        try:
            total = torch.zeros((), device=batch[0].device)
            for start in range(0, size, micro_batch):
                micro = [b[start : start + micro_batch] for b in batch]
                weight = micro[0].shape[0] / size
                total = total + weight * step(micro, weight).detach()
            return total, micro_batch
        except RuntimeError as err:
            if not _is_oom(err) or micro_batch == 1:
                raise
            zero_grad()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            micro_batch = max(1, micro_batch // 2)
            if on_backoff is not None:
                on_backoff(micro_batch)


class Throughput:
    """Samples per second over a run, with CUDA-synchronised timings.

    Examples
    --------
    >>> meter = Throughput(torch.device("cpu"))
    >>> meter.update(32)
    >>> meter.samples
    32
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.samples = 0
        self.start = time.perf_counter()

    def update(self, n: int) -> None:
        self.samples += n

    def rate(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elapsed = time.perf_counter() - self.start
        return self.samples / elapsed if elapsed > 0 else float("nan")
