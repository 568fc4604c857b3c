"""Time per training step of ``labkit.train.fit`` against a bare hand-written loop, side by side.

Both train the same FNO on the same batches with AdamW, a constant learning rate, gradient
clipping and the relative L2 loss, reading each step's loss back as ``fit`` does (every step on
CPU, every 25 on CUDA). The bare loop is what ``fit`` would be with nothing else: no sampler, no
callbacks, no checks. The two alternate so that load on the machine hits both alike, and their
losses must agree (checked). Prints per-step medians and, last, ``ratio: X`` = fit / bare.

The script runs with the ``fit`` of any labkit: with ``TrainConfig`` when it exists, with the
old keywords otherwise, so the same command measures a branch and its base.

Usage::

    python benchmarks/train_fit_overhead.py --smoke      # seconds
    python benchmarks/train_fit_overhead.py              # CPU, FNO 2-D 32^2, width 32
    python benchmarks/train_fit_overhead.py --device cuda --resolution 128 --batch 32
"""

from __future__ import annotations

import argparse
import statistics

import torch
from _timing import interleaved
from torch.utils.data import TensorDataset

from labkit.operators import FNO
from labkit.train import LpLoss, fit

try:
    from labkit.train import TrainConfig
except ImportError:  # labkit before TrainConfig: the old keywords
    TrainConfig = None


def run_fit(model, data, **options):
    if TrainConfig is None:
        return fit(model, data, progress=False, **options)
    return fit(model, data, config=TrainConfig(**options))


def bare(model, data, *, epochs, batch_size, lr, seed, device, sync_every):
    """The same run written by hand: seeded permutation per epoch, AdamW, clip, constant lr."""
    x, y = data.tensors
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    loss_fn, losses, pending = LpLoss(), [], []
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + epoch))
        for start in range(0, len(x), batch_size):
            index = order[start : start + batch_size]
            xb, yb = x[index].to(device), y[index].to(device)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            pending.append(loss.detach())
            if len(pending) >= sync_every:
                losses += torch.stack(pending).tolist()
                pending = []
    return losses + torch.stack(pending).tolist() if pending else losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--modes", type=int, default=8)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.smoke:
        args.resolution, args.samples, args.width, args.epochs, args.repeats = 16, 64, 8, 1, 3
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.samples, 1, args.resolution, args.resolution, generator=g)
    data = TensorDataset(x, torch.roll(x, 2, dims=-1) + 0.5 * x)
    options = dict(epochs=args.epochs, batch_size=args.batch, lr=1e-3, seed=0)
    sync_every = 25 if device.type == "cuda" else 1

    def model():
        torch.manual_seed(0)
        return FNO(1, 1, modes=(args.modes, args.modes), width=args.width, n_layers=4).to(device)

    def with_fit():
        config = dict(options, schedule="constant", grad_clip=1.0, device=args.device)
        return run_fit(model(), data, **config).train_loss

    def by_hand():
        return bare(model(), data, device=device, sync_every=sync_every, **options)

    steps = args.epochs * -(-args.samples // args.batch)
    interleaved({"fit": with_fit, "bare": by_hand}, 1)  # warm-up round
    losses, seconds = interleaved({"fit": with_fit, "bare": by_hand}, args.repeats)
    gap = max(abs(a - b) / abs(b) for a, b in zip(losses["fit"], losses["bare"], strict=True))
    if gap > 1e-4:
        raise SystemExit(f"fit and the bare loop disagree (relative loss gap {gap:.2g})")
    medians = {name: statistics.median(t) / steps for name, t in seconds.items()}
    print(
        f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"FNO 2-D {args.resolution}^2 width {args.width} modes {args.modes}, batch {args.batch}, "
        f"{steps} steps x {args.repeats} repeats, losses agree to {gap:.1g}"
    )
    for name, value in medians.items():
        print(f"{name:>5}: {1e3 * value:8.2f} ms per step (median over repeats)")
    print(f"ratio: {medians['fit'] / medians['bare']:.3f}")


if __name__ == "__main__":
    main()
