"""Test error of labkit's FNO at the FNO paper's data size, next to the paper's figure.

Li et al. (2021), "Fourier Neural Operator for Parametric PDEs", report these relative L2 test
errors (as reproduced in neuraloperator's ``doc/source/theory_guide/fno.rst``). Both come from
1000 training and 100 test samples:

* Burgers (``fourier_1d.py``): nu = 0.1, ``u0 ~ N(0, 625 (-Delta + 25 I)^-2)``, target
  ``u(t=1)``; modes 16, width 64, 4 Fourier layers; 0.0149 at s = 256 (0.0158 at 512, 0.0160
  at 1024).
* Darcy (``fourier_2d.py``): ``-div(a grad u) = 1`` with piecewise-constant ``a``, solved on
  421 x 421 nodes and subsampled to s = 85; modes 12, width 32; 0.0108 at s = 85.

This script makes the data with :func:`labkit.pde.make_dataset`, with fresh samples from the
same distributions (not the paper's files). Training samples use ``seed``, test samples
``seed + 1``. It then trains :class:`labkit.operators.FNO` with the paper's recipe through
:func:`labkit.train.fit`:

* Adam, lr 1e-3, weight decay 1e-4 (L2 added to the gradient, as ``torch.optim.Adam`` and
  the original ``Adam.py`` do);
* batch 20 and 500 epochs;
* no gradient clipping;
* training loss: the relative L2 error summed over the batch, as the original
  ``LpLoss(size_average=False)`` is.

The learning rate follows StepLR: it halves every 50 epochs (Burgers) or every 100 epochs
(Darcy). ``fit`` has no step schedule. So ``fit`` runs with ``schedule="constant"``, and a
:class:`StepDecay` callback sets the rate of the next step after each step. When ``--epochs``
is below the paper's 500, the step size shrinks in proportion, so the run still halves the
rate 10 (Burgers) or 5 (Darcy) times.

For Darcy, inputs and targets are normalised pointwise by the training mean and standard
deviation, as the original's ``UnitGaussianNormalizer`` does. The loss is taken on the
decoded output.

Known differences from the original code:

* labkit's FNO draws its initial spectral weights as neuraloperator does (the original:
  uniform in ``[0, 1/width^2)``; ``spectral_init="paper"`` restores it).
* Its pointwise skip has no bias (the spectral convolution carries one, an equivalent map).
* For Darcy it pads by 1/8 of the grid (the original uses 9 of 85 points).
* labkit's Darcy coefficient takes the values 12 / 3. That is labkit's default; the paper's
  ``demo.m`` says 12 / 4.

The error is the mean over test samples of ``||pred - u|| / ||u||``, from
:func:`labkit.train.evaluate` with :class:`labkit.train.LpLoss`. The script prints the paper's
figure next to labkit's. Its last line is ``ratio: X``, which is labkit's error divided by the
paper's.

Caveat for Burgers: with nu = 0.1, diffusion leaves almost nothing but the k = 1 mode by t = 1
(99.99 % of the target's energy). Diffusion alone, with no advection, already predicts the
target to within about 7 % (the script prints this yardstick). A full 500-epoch run gave
about 3e-4, some 50 times below the paper's 0.0149. That suggests the paper's data file was
harder than the parameters it states; neuraloperator PR #35 notes that nu = 0.1 "never
developed a shock". Read a ratio far below 1 as "easier data", not "better model".

Usage::

    python benchmarks/fno_paper_accuracy.py --smoke                 # seconds
    OMP_NUM_THREADS=1 python benchmarks/fno_paper_accuracy.py --epochs 500   # Burgers, s=256
    python benchmarks/fno_paper_accuracy.py --problem darcy --epochs 20      # partial run

Cost on one CPU thread: Burgers takes about 30 s to make its data and about 3 s per epoch at
s = 256. Darcy solved on 421 nodes takes about 3 s per sample, roughly an hour for 1100
samples. ``--solve-resolution 85`` solves on the coarse grid instead, which is faster but is
not the paper's data. A Darcy epoch at s = 85 takes about 2 minutes.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from labkit.operators import FNO
from labkit.pde import PDEDataset, make_dataset
from labkit.train import Callback, LpLoss, TrainConfig, TrainState, evaluate, fit

# relative L2 test error of FNO in Li et al. (2021), by grid size
PAPER_ERROR = {
    "burgers": {256: 0.0149, 512: 0.0158, 1024: 0.0160, 2048: 0.0146, 4096: 0.0142, 8192: 0.0139},
    "darcy": {85: 0.0108, 141: 0.0109, 211: 0.0109, 421: 0.0098},
}

# the paper's recipe per problem (fourier_1d.py, fourier_2d.py)
RECIPE = {
    "burgers": dict(modes=16, width=64, epochs=500, step_size=50, resolution=256),
    "darcy": dict(modes=12, width=32, epochs=500, step_size=100, resolution=85),
}
N_LAYERS, BATCH, LR, WEIGHT_DECAY, GAMMA = 4, 20, 1e-3, 1e-4, 0.5
DARCY_SOLVE_RESOLUTION = 421


class StepDecay(Callback):
    """StepLR on top of ``fit``: the rate is ``lr * gamma ** (epoch // step_size)``.

    ``fit`` steps its own (constant) schedule before ``on_step_end``. This callback then sets
    the rate for the next step, using the epoch that the next step belongs to.
    """

    def __init__(self, lr: float, step_size: int, gamma: float, steps_per_epoch: int) -> None:
        self.lr, self.step_size, self.gamma = lr, step_size, gamma
        self.steps_per_epoch = steps_per_epoch

    def rate(self, epoch: int) -> float:
        return self.lr * self.gamma ** (epoch // self.step_size)

    def on_step_end(self, state: TrainState) -> None:
        next_epoch = state.step // self.steps_per_epoch
        for group in state.optimizer.param_groups:
            group["lr"] = self.rate(next_epoch)


class EpochLog(Callback):
    """Print the train loss, the test error and the epoch time every ``every`` epochs."""

    def __init__(self, test: PDEDataset, every: int, total: int) -> None:
        self.test, self.every, self.total = test, every, total

    def on_epoch_end(self, state: TrainState) -> None:
        epoch = state.epoch + 1
        if epoch % self.every and epoch != self.total:
            return
        h = state.history
        error = evaluate(state.model, self.test, LpLoss(), device=state.device)
        print(
            f"epoch {epoch:4d}  lr {state.optimizer.param_groups[0]['lr']:.2e}  "
            f"train {h.train_loss[-1] / BATCH:.3g}  test {error:.3g}  "
            f"({h.epoch_time[-1]:.2f} s/epoch)",
            flush=True,
        )


class Normalized(nn.Module):
    """``decode(model(encode(x)))`` with pointwise Gaussian normalisers (Darcy's recipe)."""

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float = 1e-5):
        super().__init__()
        self.model = model
        self.register_buffer("x_mean", x.mean(0))
        self.register_buffer("x_std", x.std(0) + eps)
        self.register_buffer("y_mean", y.mean(0))
        self.register_buffer("y_std", y.std(0) + eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model((x - self.x_mean) / self.x_std)
        return out * self.y_std + self.y_mean


def make_data(args: argparse.Namespace) -> tuple[PDEDataset, PDEDataset, float]:
    """Training and test sets, and the seconds it took to make (or load) them."""
    params = {}
    if args.problem == "darcy":
        params["solve_resolution"] = args.solve_resolution or (
            args.resolution if args.smoke else DARCY_SOLVE_RESOLUTION
        )
    elif args.solve_resolution:
        params["solve_resolution"] = args.solve_resolution
    common = dict(
        resolution=args.resolution,
        cache_dir=False if args.no_cache else None,
        device=args.device,
        progress=False,
        **params,
    )
    tic = time.perf_counter()
    train = make_dataset(args.problem, args.n_train, seed=args.seed, **common)
    test = make_dataset(args.problem, args.n_test, seed=args.seed + 1, **common)
    return train, test, time.perf_counter() - tic


def heat_baseline(test: PDEDataset) -> float:
    """Test error of ``u0`` diffused by ``nu u_xx`` alone (Burgers without advection).

    A yardstick for how much of the map is nonlinear: the operator must beat it.
    """
    x, y = test.inputs, test.targets
    nu, t_final = test.params["nu"], test.params["t_final"]
    k = torch.fft.rfftfreq(x.shape[-1], d=1.0 / x.shape[-1], dtype=torch.float64)
    decay = torch.exp(-nu * t_final * (2 * torch.pi * k) ** 2)
    pred = torch.fft.irfft(torch.fft.rfft(x.double()) * decay, n=x.shape[-1])
    return float(LpLoss()(pred.float(), y))


def build_model(problem: str, train: PDEDataset) -> nn.Module:
    """The paper's FNO for ``problem`` (Darcy wrapped in its normalisers)."""
    recipe = RECIPE[problem]
    if problem == "burgers":
        # fourier_1d.py: fc1 = Linear(64, 128), a projection of 2 x width
        return FNO(1, 1, modes=(recipe["modes"],), width=recipe["width"], n_layers=N_LAYERS,
                   projection_ratio=128 // recipe["width"])
    fno = FNO(
        1,
        1,
        modes=(recipe["modes"],) * 2,
        width=recipe["width"],
        n_layers=N_LAYERS,
        padding=1 / 8,
        endpoints=True,
    )
    return Normalized(fno, train.inputs, train.targets)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="burgers", choices=sorted(RECIPE))
    parser.add_argument("--n-train", type=int, default=None, help="default 1000 (the paper)")
    parser.add_argument("--n-test", type=int, default=None, help="default 100 (the paper)")
    parser.add_argument("--resolution", type=int, default=None, help="default 256 / 85")
    parser.add_argument("--solve-resolution", type=int, default=None, help="default s / 421")
    parser.add_argument("--epochs", type=int, default=None, help="default 500 (the paper)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="default CUDA when available, else CPU")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--log-every", type=int, default=None, help="epochs between log lines")
    parser.add_argument("--no-cache", action="store_true", help="always regenerate the data")
    parser.add_argument("--smoke", action="store_true", help="tiny run (seconds), no comparison")
    args = parser.parse_args(argv)
    recipe = RECIPE[args.problem]
    small = args.smoke
    args.n_train = args.n_train or (40 if small else 1000)
    args.n_test = args.n_test or (10 if small else 100)
    args.epochs = args.epochs or (2 if small else recipe["epochs"])
    args.resolution = args.resolution or recipe["resolution"]
    for name in ("n_train", "n_test", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.resolution not in PAPER_ERROR[args.problem]:
        parser.error(
            f"--resolution must be one the paper reports for {args.problem}: "
            f"{sorted(PAPER_ERROR[args.problem])}, got {args.resolution}"
        )
    args.log_every = args.log_every or max(1, args.epochs // 20)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = RECIPE[args.problem]
    step_size = max(1, round(recipe["step_size"] * args.epochs / recipe["epochs"]))
    train, test, data_time = make_data(args)
    print(
        f"{args.problem}: {len(train)} train / {len(test)} test at s={args.resolution}, "
        f"data made or loaded in {data_time:.1f} s"
    )
    torch.manual_seed(args.seed)
    model = build_model(args.problem, train)
    n_params = sum(p.numel() for p in model.parameters())
    steps_per_epoch = -(-len(train) // BATCH)
    print(
        f"FNO modes {recipe['modes']} width {recipe['width']} layers {N_LAYERS}, "
        f"{n_params:,} parameters; Adam lr {LR} wd {WEIGHT_DECAY}, batch {BATCH}, "
        f"{args.epochs} epochs, StepLR step {step_size} gamma {GAMMA}, "
        f"{torch.get_num_threads()} thread(s)",
        flush=True,
    )
    history = fit(
        model,
        train,
        loss=LpLoss(reduction="sum"),
        config=TrainConfig(
            epochs=args.epochs,
            lr=LR,
            batch_size=BATCH,
            device=args.device,
            optimizer="adam",
            weight_decay=WEIGHT_DECAY,
            schedule="constant",
            grad_clip=None,
            seed=args.seed,
        ),
        callbacks=[
            StepDecay(LR, step_size, GAMMA, steps_per_epoch),
            EpochLog(test, args.log_every, args.epochs),
        ],
    )
    train_error = evaluate(model, train, LpLoss())
    test_error = evaluate(model, test, LpLoss())
    paper = PAPER_ERROR[args.problem][args.resolution]
    print(
        f"time per epoch: median {statistics.median(history.epoch_time):.2f} s, "
        f"total {sum(history.epoch_time):.0f} s"
    )
    print(f"train relative L2: {train_error:.3g}")
    if args.problem == "burgers":
        baseline = heat_baseline(test)
        print(f"heat equation alone (no advection), test relative L2: {baseline:.3g}")
    print(f"test relative L2:  labkit {test_error:.3g}   paper {paper:.4f} (s={args.resolution})")
    if args.smoke or args.epochs < recipe["epochs"] or args.n_train < 1000:
        print(
            f"note: {args.epochs} epochs, {args.n_train} train; the paper's figure is for "
            f"{recipe['epochs']} epochs and 1000 train"
        )
    print(f"ratio: {test_error / paper:.3f}")


if __name__ == "__main__":
    main()
