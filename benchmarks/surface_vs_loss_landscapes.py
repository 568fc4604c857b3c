"""A 51 x 51 filter-normalised 2-D loss surface: labkit against ``loss_landscapes``.

Same CNN, same scikit-learn digits batch, same grid size and normalisation.
``loss_landscapes.random_plane`` (3.0.6) evaluates one grid point at a time by moving the
model's weights; labkit stacks chunks of grid points and evaluates each chunk with one ``vmap``
call or point by point, whichever it measures to be faster for the model. On a CPU a
compute-bound CNN gains little from ``vmap`` (the FLOPs are the same); the gain is largest for
small, overhead-bound evaluations and on GPUs. The last line is
``ratio: labkit time / loss_landscapes time`` (goal <= 0.2).

Both sides run ``--repeats`` times, interleaved; the best time of each counts.

Run: ``python benchmarks/surface_vs_loss_landscapes.py [--steps 51] [--batch 512] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import time

import loss_landscapes
import loss_landscapes.metrics
import numpy as np
import torch
from sklearn.datasets import load_digits

from labkit.landscape import loss_surface


def cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 4 * 4, 10),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=51)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs; best counts")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    digits = load_digits()
    x = torch.tensor(digits.images[: args.batch, None] / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target[: args.batch])
    model = cnn()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    x, y, model = x.to(args.device), y.to(args.device), model.to(args.device)
    n = args.steps
    print(
        f"CNN with {sum(p.numel() for p in model.parameters())} parameters, "
        f"{args.batch} digits, {n} x {n} grid, device {args.device}"
    )

    metric = loss_landscapes.metrics.Loss(torch.nn.CrossEntropyLoss(), x, y)

    def run_ours():
        return loss_surface(
            model,
            torch.nn.functional.cross_entropy,
            (x, y),
            directions=2,
            grid=np.linspace(-1.0, 1.0, n),
            normalization="filter",
        )

    def run_theirs():
        with torch.no_grad():
            return loss_landscapes.random_plane(
                model, metric, distance=1.0, steps=n, normalization="filter", deepcopy_model=True
            )

    times = {"ours": [], "theirs": []}
    for _ in range(args.repeats):
        for side, fn in (("ours", run_ours), ("theirs", run_theirs)):
            t0 = time.perf_counter()
            out = fn()
            if args.device == "cuda":
                torch.cuda.synchronize()
            times[side].append(time.perf_counter() - t0)
            if side == "ours":
                ours = out
            else:
                theirs = out
    t_ours, t_theirs = min(times["ours"]), min(times["theirs"])

    with torch.no_grad():
        at_solution = float(torch.nn.functional.cross_entropy(model(x), y))
    c = n // 2
    print(
        f"labkit         : {t_ours:7.2f} s, {ours.n_evals} points, chunks of {ours.chunk_size}, "
        f"{'vmap' if ours.vectorized else 'loop'}; centre {ours.loss[c, c]:.6f} vs loss at "
        f"solution {at_solution:.6f}"
    )
    print(f"loss_landscapes: {t_theirs:7.2f} s, {np.asarray(theirs).size} points, one at a time")
    print("all runs (s): " + ", ".join(f"{k} {[round(t, 2) for t in v]}" for k, v in times.items()))
    print(f"ratio: {t_ours / t_theirs:.3f}")


if __name__ == "__main__":
    main()
