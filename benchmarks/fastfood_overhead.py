"""Training-step overhead of a Fastfood subspace model against direct training, D >= 1e6.

An MLP 784-1000-1000-10 (D = 1,796,010, about the size of the intrinsic-dimension paper's
MNIST FC nets) on a batch of 256 random inputs. Direct training updates all D weights; the
subspace model trains only theta_d (d = 1000) and runs two fast Walsh-Hadamard transforms of
length 2^21 forward and two backward per step. The original TensorFlow code reports about 8x
(0.022 s vs 0.0027 s per step). The last line is ``ratio: subspace step time / direct step
time``.

Run: ``python benchmarks/fastfood_overhead.py [--d 1000] [--steps 10]``
"""

from __future__ import annotations

import argparse
import time

import torch

from labkit.landscape import SubspaceModel


def step_time(model, x, y, steps: int) -> float:
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(2):
        step()
    best = float("inf")
    for _ in range(steps):
        if x.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        if x.is_cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 1000),
        torch.nn.ReLU(),
        torch.nn.Linear(1000, 1000),
        torch.nn.ReLU(),
        torch.nn.Linear(1000, 10),
    ).to(args.device)
    D = sum(p.numel() for p in net.parameters())
    x = torch.randn(args.batch, 784, device=args.device)
    y = torch.randint(0, 10, (args.batch,), device=args.device)
    sub = SubspaceModel(net, d=args.d, projection="fastfood").to(args.device)
    extra = sum(b.numel() * b.element_size() for b in sub.projection.buffers())
    print(
        f"D = {D}, d = {args.d}, batch {args.batch}, device {args.device}, "
        f"threads {torch.get_num_threads()}; Fastfood buffers {extra / 2**20:.1f} MiB "
        f"(a dense P would take {D * args.d * 4 / 2**30:.1f} GiB)"
    )
    direct = step_time(net, x, y, args.steps)
    subspace = step_time(sub, x, y, args.steps)
    print(f"direct training  : {direct * 1e3:8.2f} ms per step")
    print(f"Fastfood subspace: {subspace * 1e3:8.2f} ms per step")
    print(f"ratio: {subspace / direct:.2f}")


if __name__ == "__main__":
    main()
