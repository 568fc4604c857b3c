"""Recycled, sorted Krylov solves against independent Jacobi-PCG on a Darcy data-set sequence.

All runs solve the same systems to the same relative residual with the same Jacobi
preconditioner, one system after another (as a data generator does):

- independent PCG: the baseline;
- recycled: the coefficients ordered greedily by similarity, each solve corrected with ``k``
  approximate slow eigenvectors carried over from the previous solves (Ritz vectors;
  ``darcy.solve(method="recycled")``);
- coarse only: no recycling, a bilinear coarse space whose Galerkin matrix is built for every
  system from its face coefficients (an additive coarse correction, no information carried;
  ``darcy.solve(method="two-level")``);
- coarse + recycled: both (the recycled vectors act on top of the coarse space).

The runs alternate ``--repeats`` times and the fastest run of each counts (the machine may be
shared). Iterations include the matrix-vector products spent on the recycled vectors. The
batched independent PCG time (all systems at once) is printed for reference. Prints
``ratio: X`` = coarse + recycled time / independent time last.

Usage: ``python benchmarks/pde_darcy_recycling.py [--smoke] [--n 65] [--systems 64]``
"""

from __future__ import annotations

import argparse

import torch
from _timing import timed

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
    parser.add_argument(
        "--coarse", type=int, default=darcy.COARSE_NODES, help="coarse nodes per side"
    )
    parser.add_argument(
        "--coarse-recycle", type=int, default=4, help="recycle dimension with the coarse space"
    )
    parser.add_argument(
        "--coarse-directions", type=int, default=10, help="directions kept with the coarse space"
    )
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs, min time")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.systems, args.repeats, args.coarse = 33, 12, 1, 7
    a = darcy_coefficient(args.n, batch=args.systems, seed=0, dtype=torch.float64)
    a = a.to(args.device)
    print(f"Darcy {args.n}x{args.n}, {args.systems} systems, tol {args.tol:g}, {args.device}")

    runs = {
        "independent PCG": dict(recycle=False, sort=False),
        f"recycled, sorted (k={args.recycle}, l={args.directions})": dict(
            n_recycle=args.recycle, n_directions=args.directions
        ),
        f"coarse only ({args.coarse}x{args.coarse})": dict(
            recycle=False, sort=False, coarse=args.coarse
        ),
        f"coarse + recycled (k={args.coarse_recycle}, l={args.coarse_directions})": dict(
            n_recycle=args.coarse_recycle,
            n_directions=args.coarse_directions,
            coarse=args.coarse,
        ),
    }
    seconds = {name: [] for name in runs}
    results = {}
    for _ in range(args.repeats):
        for name, options in runs.items():
            results[name], elapsed = timed(
                lambda options=options: darcy.solve_sequence(a, tol=args.tol, **options)
            )
            seconds[name].append(elapsed)
    op = darcy.DarcyOperator.from_coefficient(a)
    rhs = torch.ones(args.systems, (args.n - 2) ** 2, dtype=torch.float64, device=a.device)
    batched, batched_seconds = timed(
        lambda: cg(op.matvec, rhs, diagonal=op.diagonal(), tol=args.tol)
    )

    names = list(runs)
    base = results[names[0]]
    for name in names:
        res = results[name]
        diff = float((res.u - base.u).abs().max() / base.u.abs().max())
        print(
            f"{name:34s}: {int(res.iterations.sum()):6d} iterations "
            f"({float(res.iterations.sum() / base.iterations.sum()):.3f}) "
            f"{min(seconds[name]):6.2f} s ({min(seconds[name]) / min(seconds[names[0]]):.3f})  "
            f"max rel. difference {diff:.1e}"
        )
    print(
        f"batched independent PCG (all systems at once, reference): "
        f"{int(batched.iterations.sum())} iterations {batched_seconds:.2f} s"
    )
    print(f"ratio: {min(seconds[names[-1]]) / min(seconds[names[0]]):.3f}")


if __name__ == "__main__":
    main()
