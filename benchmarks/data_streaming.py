"""labkit.data: FNO training streamed from a Zarr store vs from in-memory tensors; peak RSS.

1. Speed: the same random-field pairs as a store (``write_store``) and as a ``TensorDataset``;
   ``labkit.train.fit`` trains the same FNO with the same seed on both (the losses must be
   equal, checked). The store is read by ``fit``'s DataLoader with ``--num-workers`` worker
   processes (default 1, overlapping reads with the training step); the tensors with none.
   One torch thread in both; interleaved, the best of two runs each.
2. Memory: a store of ``--rss-gb`` GB of random fields is written straight to Zarr (streaming
   does not care what the numbers are), then a fresh process trains one epoch over all of it
   from ``open_dataset`` and reports its peak resident memory (``getrusage`` ``ru_maxrss`` of
   that process and of its DataLoader workers). Goal: under 2 GB for an 8 GB store.

Prints ``ratio: X`` = store time / in-memory time last (goal <= 1.1 on a quiet machine).

Usage: ``python benchmarks/data_streaming.py [--smoke] [--n 2048] [--resolution 64]
[--epochs 3] [--rss-gb 8] [--num-workers 1]``
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from labkit.data import open_dataset, write_store
from labkit.operators import FNO
from labkit.train import TrainConfig, fit


class RandomFields:
    """``n`` random float32 samples ``[1, r, r]``, made slice by slice (never all in memory)."""

    def __init__(self, n: int, r: int, seed: int) -> None:
        self.n, self.r, self.seed = n, r, seed
        self.shape = (n, 1, r, r)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, sl: slice) -> np.ndarray:
        rng = np.random.default_rng([self.seed, sl.start])
        return rng.standard_normal((sl.stop - sl.start, 1, self.r, self.r), dtype=np.float32)


def train(data, args, num_workers: int) -> tuple[list[float], float]:
    torch.manual_seed(0)
    model = FNO(1, 1, modes=(args.modes, args.modes), width=args.width, n_layers=4)
    start = time.perf_counter()
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=1e-3, device="cpu",
                         seed=0, num_workers=num_workers)
    history = fit(model, data, config=config)
    return history.train_loss, time.perf_counter() - start


def rss_child(store: str, batch_size: int, num_workers: int) -> None:
    torch.set_num_threads(1)
    ds = open_dataset(store)
    model = FNO(1, 1, modes=(8, 8), width=8, n_layers=2)
    start = time.perf_counter()
    fit(model, ds, config=TrainConfig(epochs=1, batch_size=batch_size, device="cpu",
                                      num_workers=num_workers))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"peak_rss_kib": own, "worker_peak_rss_kib": children,
                      "seconds": time.perf_counter() - start, "samples": len(ds)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run")
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--modes", type=int, default=12)
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--rss-gb", type=float, default=8.0)
    parser.add_argument("--rss-resolution", type=int, default=128)
    parser.add_argument("--folder", default=None, help="where to write the stores (default /tmp)")
    parser.add_argument("--rss-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.batch_size, args.num_workers)
        return
    if args.smoke:
        args.n, args.resolution, args.epochs, args.width, args.modes = 64, 32, 1, 8, 6
        args.rss_gb, args.rss_resolution = 0.02, 32
    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="labkit-bench-", dir=args.folder))
    try:
        x = torch.from_numpy(RandomFields(args.n, args.resolution, 0)[0:args.n])
        y = torch.roll(x, 3, dims=-1) + 0.5 * x
        write_store(folder / "speed", x, y, recipe={"benchmark": "speed"}, shard_size=64)
        t_mem = t_store = float("inf")
        for _ in range(2):  # interleaved; the best of two (the first pays one-off warm-ups)
            mem_loss, t = train(TensorDataset(x, y), args, 0)
            t_mem = min(t_mem, t)
            store_loss, t = train(open_dataset(folder / "speed"), args, args.num_workers)
            t_store = min(t_store, t)
        assert store_loss == mem_loss, "streamed training saw other numbers"
        r = args.rss_resolution
        n_big = max(64, int(args.rss_gb * 1e9 / (2 * 4 * r * r)))
        fields = RandomFields(n_big, r, 1)
        start = time.perf_counter()
        write_store(folder / "big", fields, fields, recipe={"benchmark": "rss"}, shard_size=256)
        t_write = time.perf_counter() - start
        out = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(folder / "big"),
             "--batch-size", "64", "--num-workers", str(args.num_workers)],
            check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]
        rss = json.loads(out)
    finally:
        shutil.rmtree(folder)
    gb = 2 * 4 * r * r * n_big / 1e9
    print(f"speed: {args.n} pairs {args.resolution}^2, {args.epochs} epochs: in memory "
          f"{t_mem:.2f} s, streamed {t_store:.2f} s ({args.num_workers} loader worker(s)), "
          "equal losses")
    print(f"memory: {gb:.2f} GB store ({n_big} pairs {r}^2, written in {t_write:.1f} s), one "
          f"epoch in {rss['seconds']:.1f} s, peak RSS {rss['peak_rss_kib'] / 2**20:.2f} GiB "
          f"(loader workers {rss['worker_peak_rss_kib'] / 2**20:.2f} GiB)")
    print(f"ratio: {t_store / t_mem:.3f}")


if __name__ == "__main__":
    main()
