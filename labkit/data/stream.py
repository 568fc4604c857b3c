"""A torch ``Dataset`` that streams a store shard by shard.

:class:`StoreDataset` opens nothing until the first item is read, keeps at most
``cache_shards`` decoded shards (least recently used dropped first) and pickles without them,
so ``DataLoader(num_workers > 0)`` workers and DDP ranks each read only the samples they are
given. One item at a time (``ds[i]``) reads and caches its whole shard, for sequential passes; a
batch from a ``DataLoader`` (``__getitems__``) reads just its samples, one inner chunk each, so a
shuffled epoch does not decode a shard per sample. Memory stays at a few shards whatever the
store's size.

Examples
--------
>>> import tempfile, torch
>>> from labkit.data.store import write_store
>>> with tempfile.TemporaryDirectory() as d:
...     x = torch.arange(20.0).reshape(5, 1, 4)
...     _ = write_store(d + "/s", x, -x, recipe={"problem": "demo"}, shard_size=2)
...     ds = open_dataset(d + "/s")
...     a, b = ds[3]
...     len(ds), a.tolist(), bool(torch.equal(b, -a))
(5, [[12.0, 13.0, 14.0, 15.0]], True)
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from labkit._checks import check_int
from labkit.data.store import StoreError, open_group, shard_bounds

__all__ = ["StoreDataset", "open_dataset"]


class StoreDataset(Dataset):
    """``(input, target)`` pairs read lazily from a complete store, float32 tensors.

    Attributes
    ----------
    path
        The store.
    problem, params
        From the store's recipe.
    shards_read
        How many shard reads this process has done (cache misses).
    """

    def __init__(self, path: str | os.PathLike, cache_shards: int = 2) -> None:
        self.path = Path(path)
        self.cache_shards = check_int("cache_shards", cache_shards, minimum=1)
        group = open_group(self.path)
        meta = dict(group.attrs["labkit_data"])
        self.n = int(meta["n"])
        self.shard_size = int(meta["shard_size"])
        n_shards = len(shard_bounds(self.n, self.shard_size))
        done = group.attrs.get("shards", {})
        complete = sum(str(s) in done for s in range(n_shards))
        if complete < n_shards:
            raise StoreError(
                f"store {str(self.path)!r} has {complete} of {n_shards} shards complete; "
                "run make again with the same arguments to finish it"
            )
        recipe = meta.get("recipe", {})
        self.problem = recipe.get("problem", "")
        self.params = dict(recipe.get("params", {}))
        self.shards_read = 0
        self._arrays: tuple[Any, Any] | None = None
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def __len__(self) -> int:
        return self.n

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_arrays"] = None
        state["_cache"] = OrderedDict()
        return state

    def _shard(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        if s in self._cache:
            self._cache.move_to_end(s)
            return self._cache[s]
        inputs, targets = self._open()
        lo = s * self.shard_size
        hi = min(self.n, lo + self.shard_size)
        block = (inputs[lo:hi], targets[lo:hi])
        self.shards_read += 1
        self._cache[s] = block
        while len(self._cache) > self.cache_shards:
            self._cache.popitem(last=False)
        return block

    def _open(self) -> tuple[Any, Any]:
        if self._arrays is None:
            group = open_group(self.path)
            self._arrays = (group["inputs"], group["targets"])
        return self._arrays

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """A batch (what ``DataLoader`` asks for): samples of cached shards from the cache, the
        others read one sample each (one inner chunk) in one Zarr call per array."""
        indices = [int(i) + self.n if int(i) < 0 else int(i) for i in indices]
        bad = [i for i in indices if not 0 <= i < self.n]
        if bad:
            raise IndexError(f"index {bad[0]} out of range for {self.n} samples")
        out: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for i in indices:
            s, j = divmod(i, self.shard_size)
            if s in self._cache:
                x, y = self._cache[s]
                out[i] = torch.from_numpy(x[j].copy()), torch.from_numpy(y[j].copy())
        wanted = sorted(set(indices) - set(out))
        if wanted:
            inputs, targets = self._open()
            xs, ys = inputs.oindex[wanted], targets.oindex[wanted]
            for k, i in enumerate(wanted):
                out[i] = torch.from_numpy(xs[k]), torch.from_numpy(ys[k])
        return [out[i] for i in indices]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = int(index)
        if index < 0:
            index += self.n
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} samples")
        s, j = divmod(index, self.shard_size)
        x, y = self._shard(s)
        return torch.from_numpy(x[j].copy()), torch.from_numpy(y[j].copy())

    def __repr__(self) -> str:
        return f"StoreDataset({str(self.path)!r}, n={self.n}, shard_size={self.shard_size})"


def open_dataset(path: str | os.PathLike, *, cache_shards: int = 2) -> StoreDataset:
    """Open a complete store as a streaming torch ``Dataset`` (see :class:`StoreDataset`).

    Parameters
    ----------
    path
        The store folder.
    cache_shards
        Decoded shards kept in memory per process.
    """
    return StoreDataset(path, cache_shards=cache_shards)
