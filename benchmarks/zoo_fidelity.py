"""Test error of labkit's FNO and neuraloperator's FNO trained alike on the same PDE data.

Both models get the same labkit-made Darcy pairs, the same per-pixel unit-Gaussian
normalisation of inputs and targets (as the FNO paper's ``UnitGaussianNormalizer``), and one
hand-written training loop: Adam (lr 1e-3, weight decay 1e-4), a cosine learning-rate decay
over all steps, batch 10, the relative L2 loss summed over the batch on decoded outputs (the
paper's ``LpLoss(size_average=False)``). The test error is the mean relative L2 error of the
decoded prediction. Every model is trained with several seeds (the same seed gives both models
the same batch order).

The configurations are ones both libraries build (the parameter counts are checked to agree
within 1 %): modes 12 (labkit ``modes=(12, 12)``, neuraloperator ``n_modes=(24, 23)``, the same
kept frequencies), width 32, 4 Fourier layers, a linear skip, no channel MLP inside the blocks
(neuraloperator's ``use_channel_mlp=False``), grid coordinates ``i / n`` appended, a projection
with ``4 * width`` hidden channels (the paper's 128), about 1/8 of each axis of zero padding
(labkit pads one side by ``round(n / 8)``, neuraloperator both sides by ``round(n / 16)``), and
either lift:

* ``linear``: one linear map (the FNO paper; labkit ``lifting_ratio=0``, neuraloperator
  ``lifting_channel_ratio=0``);
* ``mlp``: two linear maps with a GELU between and ``2 * width`` hidden channels
  (neuraloperator's default; labkit ``lifting_ratio=2``).

labkit's FNO uses its defaults otherwise, including ``spectral_init="neuraloperator"`` (the
initial spectral weights drawn as neuraloperator draws them); ``--labkit-init paper`` trains it
with the FNO paper's uniform ``[0, 1/width^2)`` instead. Each labkit model is trained with each
block of ``--labkit-blocks``:

* ``paper``: labkit's default, the FNO paper's block: one GELU between Fourier layers, the
  padding at the end of each axis;
* ``neuraloperator``: ``double_activation=True, padding_sides="both"``, the two places where
  neuraloperator 2.0's block differs (it applies the GELU twice between layers when
  ``use_channel_mlp=False``, and pads both sides). Initial distributions are the same
  (checked in docs/ZOO.md), and ``tests/test_operators_fno.py`` shows that this labkit model
  and neuraloperator's FNO are the same function once their weights are copied across.

What still differs with the ``neuraloperator`` block: on a grid whose padded size is odd (43 +
2·3 = 49 here), neuraloperator 2.0's ``SpectralConv`` shifts its output spectrum back with
``fftshift`` instead of ``ifftshift``, which writes every output frequency ``k`` of the leading
axes at ``k - 1``; labkit does not copy that. ``--neuraloperator-shift shipped,ifftshift``
trains neuraloperator both as shipped and with ``ifftshift`` there (:func:`output_shift`;
``tests/test_operators_fno.py`` checks that its layer is then labkit's on odd grids), to tell
how much of a gap the quirk carries.

``--problem navier_stokes`` does the same on the lab's Navier-Stokes data (the vorticity at
``t_in = 10`` record times in, the next 10 out, as channels; 32^2 periodic grid, no padding),
where the FNO lift's default was checked too.

Prints per configuration and model the errors per seed and their mean, and as the last line
``ratio: X`` = labkit's mean test error / neuraloperator's, for labkit's default lift (goal:
at most 1.05).

Usage::

    python benchmarks/zoo_fidelity.py --smoke              # seconds
    OMP_NUM_THREADS=1 python benchmarks/zoo_fidelity.py    # 250/50 pairs at 43^2, 3 seeds
    OMP_NUM_THREADS=1 python benchmarks/zoo_fidelity.py --problem navier_stokes
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import math
import statistics
import time
import types
from collections.abc import Iterator

import torch

from labkit.data import FieldNormaliser
from labkit.operators import FNO
from labkit.pde import make_dataset

LIFTS = {"linear": 0, "mlp": 2}
SHIFTS = ("shipped", "ifftshift")


class _FFTShiftingBack:
    """``torch.fft`` whose every second ``fftshift`` (a layer's output) is ``ifftshift``."""

    def __init__(self) -> None:
        self.calls = 0

    def __getattr__(self, name: str):
        return getattr(torch.fft, name)

    def fftshift(self, x: torch.Tensor, dim=None) -> torch.Tensor:
        self.calls += 1  # neuraloperator's SpectralConv.forward: once on the input, once out
        return (torch.fft.fftshift if self.calls % 2 else torch.fft.ifftshift)(x, dim=dim)


class _TorchShiftingBack(types.ModuleType):
    """``torch`` with :class:`_FFTShiftingBack` as ``fft``, for one neuraloperator module."""

    def __init__(self) -> None:
        super().__init__("torch")
        self.fft = _FFTShiftingBack()

    def __getattr__(self, name: str):
        return getattr(torch, name)


@contextlib.contextmanager
def output_shift(shift: str) -> Iterator[None]:
    """neuraloperator 2.0's ``SpectralConv`` as ``"shipped"`` or with ``"ifftshift"`` on its output.

    As shipped it shifts the kept output spectrum back with ``fftshift``, which on an odd grid
    writes every frequency of the leading axes one index low; ``"ifftshift"`` puts the inverse
    shift there, inside this block only (the module's ``torch`` is swapped, then restored).
    """
    if shift not in SHIFTS:
        raise ValueError(f"shift must be one of {SHIFTS}, got {shift!r}")
    if shift == "shipped":
        yield
        return
    import neuralop.layers.spectral_convolution as module

    module.torch = _TorchShiftingBack()
    try:
        yield
    finally:
        module.torch = torch


BLOCKS = {"paper": {}, "neuraloperator": {"double_activation": True, "padding_sides": "both"}}


def build(library: str, lift: str, modes: int, width: int, layers: int,
          init: str | None = None, block: str = "paper", channels: tuple[int, int] = (1, 1),
          padding: float = 1 / 8) -> torch.nn.Module:
    """labkit's or neuraloperator's FNO; ``padding`` in all (neuraloperator: half per side)."""
    if library == "labkit":
        extra = {} if init is None else {"spectral_init": init}
        return FNO(*channels, modes=(modes, modes), width=width, n_layers=layers,
                   padding=padding, lifting_ratio=LIFTS[lift], projection_ratio=4,
                   **BLOCKS[block], **extra)
    from neuralop.models import FNO as NeuralopFNO

    return NeuralopFNO(
        n_modes=(2 * modes, 2 * modes - 1), in_channels=channels[0], out_channels=channels[1],
        hidden_channels=width, n_layers=layers, lifting_channel_ratio=LIFTS[lift],
        projection_channel_ratio=4, positional_embedding="grid", use_channel_mlp=False,
        fno_skip="linear", domain_padding=padding / 2 if padding else None,
    )


def count(model: torch.nn.Module) -> int:
    """Real parameters (a complex weight counts twice; labkit stores it as real pairs)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())


def relative_l2(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Per-sample ``||pred - true|| / ||true||``."""
    return (pred - true).flatten(1).norm(dim=1) / true.flatten(1).norm(dim=1)


def train_and_test(model, data, epochs: int, batch: int, seed: int) -> float:
    """The one loop for every model; returns the mean test relative L2 error."""
    x_train, y_train, x_test, y_test, y_norm = data
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    steps = epochs * math.ceil(len(x_train) / batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    order = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x_train), generator=order).split(batch):
            opt.zero_grad(set_to_none=True)
            pred = y_norm.inverse(model(x_train[idx]))
            loss = relative_l2(pred, y_norm.inverse(y_train[idx])).sum()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        return float(relative_l2(y_norm.inverse(model(x_test)), y_test).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="darcy", choices=["darcy", "navier_stokes"])
    parser.add_argument("--resolution", type=int, default=None,
                        help="grid points per side (default: 43 Darcy, 32 Navier-Stokes)")
    parser.add_argument("--train", type=int, default=250)
    parser.add_argument("--test", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--modes", type=int, default=12)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--lifts", default="linear,mlp", help="comma-separated: linear, mlp")
    parser.add_argument("--labkit-init", default=None, choices=["paper", "neuraloperator"],
                        help="labkit's spectral_init (default: the FNO default)")
    parser.add_argument("--labkit-blocks", default="paper,neuraloperator",
                        help="comma-separated labkit blocks: paper (default), neuraloperator")
    parser.add_argument("--neuraloperator-shift", default="shipped",
                        help="comma-separated: shipped, ifftshift (its odd-grid output shift)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run")
    args = parser.parse_args()
    if args.resolution is None:
        args.resolution = 43 if args.problem == "darcy" else 32
    if args.smoke:
        args.resolution, args.train, args.test, args.epochs = 17, 20, 10, 2
        args.seeds, args.modes, args.width, args.layers = 2, 4, 8, 2
        if args.problem == "navier_stokes":
            args.resolution, args.train, args.test = 16, 8, 4
    torch.set_num_threads(args.threads)
    default = "mlp" if inspect.signature(FNO).parameters["lifting_ratio"].default else "linear"
    lifts = args.lifts.split(",")
    if default not in lifts:
        lifts.append(default)
    # Navier-Stokes: periodic, no padding; a shorter record in the smoke run
    extra = {"t_in": 4, "t_out": 4} if args.smoke and args.problem == "navier_stokes" else {}
    train = make_dataset(args.problem, args.train, resolution=args.resolution, seed=0, **extra)
    test = make_dataset(args.problem, args.test, resolution=args.resolution, seed=1, **extra)
    # per-pixel unit-Gaussian, as the FNO paper's UnitGaussianNormalizer
    x_norm = FieldNormaliser("pixel").fit(train.inputs)
    y_norm = FieldNormaliser("pixel").fit(train.targets)
    data = (x_norm.transform(train.inputs), y_norm.transform(train.targets),
            x_norm.transform(test.inputs), test.targets, y_norm)
    shape = {"channels": (train.inputs.shape[1], train.targets.shape[1]),
             "padding": 1 / 8 if args.problem == "darcy" else 0.0}
    print(f"{args.problem} {args.train}/{args.test} pairs at {args.resolution}^2, "
          f"{tuple(train.inputs.shape[1:2])} -> {tuple(train.targets.shape[1:2])} channels, "
          f"{args.epochs} epochs, "
          f"batch {args.batch}, modes {args.modes}, width {args.width}, layers {args.layers}, "
          f"threads {torch.get_num_threads()}, seeds 0..{args.seeds - 1}")
    blocks = args.labkit_blocks.split(",")
    if any(b not in BLOCKS for b in blocks):
        parser.error(f"--labkit-blocks must list some of {sorted(BLOCKS)}, got {blocks}")
    if "paper" not in blocks:
        blocks.insert(0, "paper")
    shifts = args.neuraloperator_shift.split(",")
    if not shifts or any(x not in SHIFTS for x in shifts):
        parser.error(f"--neuraloperator-shift must list some of {list(SHIFTS)}, got {shifts}")
    runs = [("labkit", b) for b in blocks] + [("neuraloperator", x) for x in shifts]
    peers = [f"neuraloperator/{x}" if x != "shipped" else "neuraloperator" for x in shifts]
    means: dict[tuple[str, str], float] = {}
    for lift in lifts:
        for library, block in runs:
            errors, tic = [], time.perf_counter()
            for seed in range(args.seeds):
                torch.manual_seed(seed)
                labkit = library == "labkit"
                model = build(library, lift, args.modes, args.width, args.layers,
                              args.labkit_init, block if labkit else "paper", **shape)
                with output_shift("shipped" if labkit else block):
                    errors.append(train_and_test(model, data, args.epochs, args.batch, seed))
            if library == "labkit":
                name = f"labkit/{block}"
            else:
                name = library if block == "shipped" else f"{library}/{block}"
            means[lift, name] = statistics.mean(errors)
            print(f"{lift:>6} lift {name:>24} ({count(model):,} parameters): test rel. L2 "
                  + " ".join(f"{e:.4f}" for e in errors)
                  + f"  mean {means[lift, name]:.4f}  ({time.perf_counter() - tic:.0f} s)")
        gap = abs(count(build("labkit", lift, args.modes, args.width, args.layers, **shape))
                  / count(build("neuraloperator", lift, args.modes, args.width, args.layers,
                                **shape)) - 1)
        if gap > 0.01:
            raise SystemExit(f"parameter counts differ by {gap:.1%}: not the same configuration")
    for lift in lifts:
        for block in blocks:
            for peer in peers:
                print(f"{lift:>6} lift, labkit {block} block / {peer} = "
                      f"{means[lift, f'labkit/{block}'] / means[lift, peer]:.3f}")
    print(f"labkit's default: {default} lift, paper block, against {peers[0]}")
    print(f"ratio: {means[default, 'labkit/paper'] / means[default, peers[0]]:.3f}")


if __name__ == "__main__":
    main()
