"""Recycled, sorted Krylov solves against independent Jacobi-PCG on a Darcy data-set sequence.

Both sides solve the same systems to the same relative residual with the same Jacobi
preconditioner, one system after another (as a data generator does). The recycled side orders
the coefficients greedily by similarity and deflates each solve with approximate slow
eigenvectors carried over from the previous solves. The two are run alternately ``--repeats``
times and the fastest run of each counts (the machine may be shared). The batched independent
PCG time (all systems at once) is printed for reference. Prints ``ratio: X`` = recycled time /
independent time last.

Usage: ``python benchmarks/pde_darcy_recycling.py [--smoke] [--n 65] [--systems 64]``
"""

from __future__ import annotations

import argparse
import time

import torch

from labkit.pde import darcy, darcy_coefficient
from labkit.pde.krylov import cg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--n", type=int, default=65, help="nodes per side")
    parser.add_argument("--systems", type=int, default=64, help="length of the sequence")
    parser.add_argument("--tol", type=float, default=1e-8, help="relative residual")
    parser.add_argument("--recycle", type=int, default=20, help="recycle space dimension")
    parser.add_argument("--directions", type=int, default=40, help="directions kept per solve")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs, min time")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.systems, args.repeats = 33, 12, 1
    a = darcy_coefficient(args.n, batch=args.systems, seed=0, dtype=torch.float64)
    a = a.to(args.device)
    print(f"Darcy {args.n}x{args.n}, {args.systems} systems, tol {args.tol:g}, {args.device}")

    independent_s, recycled_s = [], []
    for _ in range(args.repeats):
        independent = darcy.solve_sequence(
            a, recycle=False, warm_start=False, sort=False, tol=args.tol
        )
        recycled = darcy.solve_sequence(
            a, n_recycle=args.recycle, n_directions=args.directions, tol=args.tol
        )
        independent_s.append(independent.seconds)
        recycled_s.append(recycled.seconds)
    op = darcy.DarcyOperator.from_coefficient(a)
    rhs = torch.ones(args.systems, (args.n - 2) ** 2, dtype=torch.float64, device=a.device)
    start = time.perf_counter()
    batched = cg(op.matvec, rhs, diagonal=op.diagonal(), tol=args.tol)
    batched_seconds = time.perf_counter() - start

    diff = float((recycled.u - independent.u).abs().max() / independent.u.abs().max())
    it_ratio = float(recycled.iterations.sum() / independent.iterations.sum())
    print(
        f"independent PCG : {int(independent.iterations.sum()):7d} iterations "
        f"{min(independent_s):7.2f} s"
    )
    print(
        f"recycled, sorted: {int(recycled.iterations.sum()):7d} iterations "
        f"{min(recycled_s):7.2f} s  (k={args.recycle}, l={args.directions})"
    )
    print(
        f"batched independent PCG (all systems at once, reference): "
        f"{int(batched.iterations.sum())} iterations {batched_seconds:.2f} s"
    )
    print(f"max relative difference recycled vs independent: {diff:.1e}")
    print(f"iteration ratio: {it_ratio:.3f}")
    print(f"ratio: {min(recycled_s) / min(independent_s):.3f}")


if __name__ == "__main__":
    main()
