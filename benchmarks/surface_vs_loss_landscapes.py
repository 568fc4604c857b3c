"""A 51 x 51 filter-normalised 2-D loss surface: labkit against ``loss_landscapes``.

Same model, same scikit-learn digits data, same grid size and normalisation, for two models:

- ``mlp`` (the headline, and the model of notebook 05): ``64 -> 32 -> 10`` with SiLU on all
  1797 digits;
- ``cnn``: two 3x3 convolutions and a linear layer on 512 digit images.

``loss_landscapes.random_plane`` (3.0.6) evaluates one grid point at a time by moving the
model's weights. labkit evaluates the first layer (linear in its parameters) once at the
origin and once per direction, combines those outputs exactly for every grid point, and runs
the rest of the model over chunks of grid points with one ``vmap`` call or point by point,
whichever it measures to be faster. Both sides do the same arithmetic for everything after the
first layer, so on a CPU the gain is bounded by the first layer's share of the time: measured
on a quiet 2-core machine, about 0.9-1.0 for the MLP (its second layer and the cross-entropy,
with 10 outputs, cost more than the 64 x 32 first layer) and about 1.0-1.3 for the CNN (88 % of
its multiply-adds are in the second convolution). Each model prints its own ratio; the last
line is ``ratio: labkit time / loss_landscapes time`` for the headline model (goal <= 0.2,
not met on a CPU).

Both sides run ``--repeats`` times, interleaved; the best time of each counts.

Run: ``python benchmarks/surface_vs_loss_landscapes.py [--models mlp cnn] [--steps 51]``
"""

from __future__ import annotations

import argparse
import time

import loss_landscapes
import loss_landscapes.metrics
import numpy as np
import torch
from _models import digits_cnn
from sklearn.datasets import load_digits

from labkit.landscape import loss_surface


def mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.SiLU(), torch.nn.Linear(32, 10))


def data(model_name: str, batch: int | None):
    digits = load_digits()
    n = len(digits.target) if batch is None else batch
    if model_name == "mlp":
        x = torch.tensor(digits.data[:n] / 16.0, dtype=torch.float32)
    else:
        x = torch.tensor(digits.images[:n, None] / 16.0, dtype=torch.float32)
    return x, torch.tensor(digits.target[:n])


def trained(model_name: str, x, y) -> torch.nn.Module:
    model = {"mlp": mlp, "cnn": digits_cnn}[model_name]()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


def compare(model_name: str, args) -> float:
    x, y = data(model_name, None if model_name == "mlp" else args.batch)
    model = trained(model_name, x, y)
    x, y, model = x.to(args.device), y.to(args.device), model.to(args.device)
    n = args.steps
    print(
        f"{model_name}: {sum(p.numel() for p in model.parameters())} parameters, "
        f"{len(x)} digits, {n} x {n} grid, device {args.device}"
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
        f"  labkit         : {t_ours:7.3f} s, {ours.n_evals} points, chunks of "
        f"{ours.chunk_size}, {'vmap' if ours.vectorized else 'loop'}, first layer "
        f"{'factored' if ours.first_layer_factored else 'per point'}; centre "
        f"{ours.loss[c, c]:.6f} vs loss at solution {at_solution:.6f}"
    )
    print(f"  loss_landscapes: {t_theirs:7.3f} s, {np.asarray(theirs).size} points, one at a time")
    runs = ", ".join(f"{k} {[round(t, 3) for t in v]}" for k, v in times.items())
    print(f"  all runs (s): {runs}")
    print(f"  {model_name} ratio {t_ours / t_theirs:.3f}")
    return t_ours / t_theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["cnn", "mlp"], choices=["mlp", "cnn"])
    parser.add_argument("--steps", type=int, default=51)
    parser.add_argument("--batch", type=int, default=512, help="digit images for the CNN")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs; best counts")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    ratios = {name: compare(name, args) for name in args.models}
    headline = "mlp" if "mlp" in ratios else args.models[-1]
    print(f"ratio: {ratios[headline]:.3f}")


if __name__ == "__main__":
    main()
