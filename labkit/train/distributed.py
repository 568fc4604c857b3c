"""Data-parallel training: process-group set-up and a sampler that splits each global batch.

Under ``torchrun`` (or any launcher that sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``) the
process group starts with NCCL on GPUs and gloo on CPUs. Every rank draws the same permutation
from ``(seed, epoch)`` and takes its own contiguous share of each global batch, so ``W`` ranks
with batch ``B / W`` each see exactly the batches one process with batch ``B`` would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from labkit._checks import check_int, to_plain

__all__ = ["DistributedContext", "GlobalBatchSampler", "init_distributed", "all_reduce_mean"]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in a data-parallel run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def to_dict(self) -> dict[str, int]:
        return to_plain(self)


def init_distributed(device: torch.device | None = None) -> DistributedContext:
    """Join (or start) the process group described by the environment, if any.

    Returns a single-process context when ``WORLD_SIZE`` is unset or 1 and no group exists.
    """
    if dist.is_available() and dist.is_initialized():
        return DistributedContext(
            dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
        )
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistributedContext()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but torch.distributed is not available in this build")
    cuda = (device is None or device.type == "cuda") and torch.cuda.is_available()
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    local = int(os.environ.get("LOCAL_RANK", 0))
    if cuda:
        torch.cuda.set_device(local)
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local)


def all_reduce_mean(value: torch.Tensor, ctx: DistributedContext) -> torch.Tensor:
    """Average ``value`` over ranks (identity in a single process)."""
    if not ctx.enabled:
        return value
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / ctx.world_size


class GlobalBatchSampler:
    """Batches of indices: a seeded permutation per epoch, each global batch split over ranks.

    Parameters
    ----------
    n : int
        Dataset length.
    batch_size : int
        Global batch size; it must divide evenly over ``world_size`` ranks.
    shuffle : bool
        Draw a new permutation per epoch from ``seed + epoch``.
    seed : int
        Seed of the permutations.
    rank, world_size : int
        This rank and the number of ranks.
    drop_last : bool
        Drop a final partial batch. Forced on with several ranks when the final batch would not
        split evenly.

    Examples
    --------
    >>> s = GlobalBatchSampler(6, 4, shuffle=False, rank=1, world_size=2)
    >>> list(s)
    [[2, 3], [5]]
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ) -> None:
        self.n = check_int("n", n, minimum=1)
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.world_size = check_int("world_size", world_size, minimum=1)
        if batch_size % world_size:
            raise ValueError(
                f"batch_size must be divisible by the number of processes ({world_size}), "
                f"got {batch_size}"
            )
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _global_batches(self) -> list[list[int]]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n, generator=generator).tolist()
        else:
            order = list(range(self.n))
        batches = [order[i : i + self.batch_size] for i in range(0, self.n, self.batch_size)]
        last = batches[-1]
        uneven = self.world_size > 1 and len(last) % self.world_size
        if len(last) < self.batch_size and (self.drop_last or uneven):
            batches.pop()
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._global_batches():
            share = len(batch) // self.world_size
            yield batch[self.rank * share : (self.rank + 1) * share]

    def __len__(self) -> int:
        return len(self._global_batches())
