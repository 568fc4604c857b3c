"""Train step time of the same FNO in labkit and in neuraloperator 2.0, side by side.

Both models: 2-D, the same Fourier modes (labkit ``modes=(m, m)`` keeps frequencies -m..m-1 on
the first axis and 0..m-1 on the last; neuraloperator ``n_modes=(2m, 2m-1)`` keeps the same
set), the same width and layers, lifting/projection MLPs of width ``2 * width``, grid
coordinates appended, a linear skip and no channel MLP, so the parameter counts agree to within
1 % (checked). Each timed step is forward + backward + AdamW step on the same batch; the two
models alternate so that load on the machine hits both alike. Prints per-batch medians and,
as the last line, ``ratio: X`` = labkit time / neuraloperator time.

Usage::

    python benchmarks/fno_vs_neuraloperator.py --smoke         # seconds
    python benchmarks/fno_vs_neuraloperator.py                 # CPU, small problem
    python benchmarks/fno_vs_neuraloperator.py --device cuda --resolution 256 --batch 32 \
        --bf16 --compile
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from labkit.operators import FNO


def build_pair(modes: int, width: int, layers: int):
    from neuralop.models import FNO as NeuralopFNO

    ours = FNO(1, 1, modes=(modes, modes), width=width, n_layers=layers, lifting_ratio=2,
               projection_ratio=2)
    theirs = NeuralopFNO(
        n_modes=(2 * modes, 2 * modes - 1),
        in_channels=1,
        out_channels=1,
        hidden_channels=width,
        n_layers=layers,
        lifting_channel_ratio=2,
        projection_channel_ratio=2,
        positional_embedding="grid",
        use_channel_mlp=False,
        fno_skip="linear",
    )
    return ours, theirs


def count(model: torch.nn.Module) -> int:
    """Real parameters (a complex weight counts twice; labkit stores it as real pairs)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())


def make_step(model, x, y, bf16: bool):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    device_type = x.device.type

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            pred = model(x)
        loss = (pred.float() - y).square().mean()
        loss.backward()
        opt.step()

    return step


def timed(step, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    tic = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--modes", type=int, default=12)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the labkit model")
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run")
    args = parser.parse_args()
    if args.smoke:
        args.resolution, args.modes, args.width, args.steps, args.warmup = 32, 6, 16, 3, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    ours, theirs = build_pair(args.modes, args.width, args.layers)
    n_ours, n_theirs = count(ours), count(theirs)
    gap = abs(n_ours - n_theirs) / n_theirs
    print(f"parameters: labkit {n_ours:,}  neuraloperator {n_theirs:,}  (difference {gap:.2%})")
    if gap > 0.01:
        raise SystemExit("parameter counts differ by more than 1%: not the same configuration")
    ours, theirs = ours.to(device), theirs.to(device)
    x = torch.randn(args.batch, 1, args.resolution, args.resolution, device=device)
    y = torch.randn_like(x)
    with torch.no_grad():
        assert ours(x).shape == theirs(x).shape == y.shape
    ours_run = torch.compile(ours) if args.compile else ours
    steps = {
        "labkit": make_step(ours_run, x, y, args.bf16),
        "neuraloperator": make_step(theirs, x, y, args.bf16),
    }
    for _ in range(args.warmup):
        for step in steps.values():
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.steps):
        for name, step in steps.items():
            times[name].append(timed(step, device))
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(
        f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"batch {args.batch}, grid {args.resolution}^2, modes {args.modes}, width {args.width}, "
        f"layers {args.layers}, bf16 {args.bf16}, compile {args.compile}"
    )
    for name, value in medians.items():
        print(f"{name:>15}: {1e3 * value:8.2f} ms per batch (forward + backward + step, median)")
    print(f"ratio: {medians['labkit'] / medians['neuraloperator']:.3f}")


if __name__ == "__main__":
    main()
