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
- coarse + recycled: both (the recycled vectors act on top of the coarse space);
- with ``--oracle K ...``: deflation with the exact ``K`` slowest eigenvectors of each system's
  ``D^-1 A``, computed beforehand (scipy ``eigsh``) and not timed. No deflation space of
  dimension ``K`` leaves a smaller effective condition number, and any costs as much to apply,
  so it shows how far recycling of that dimension can go here;
- and, with ``--oracle``, deflation of each system in the sorted order with the exact slowest
  eigenvectors of the system before it (the first system: its own): the best that a space
  carried over from the neighbour can do, however it is computed.

The runs alternate ``--repeats`` times and the fastest run of each counts (the machine may be
shared). Iterations include the matrix-vector products spent on the recycled vectors. The
batched independent PCG time (all systems at once) is printed for reference. Prints
``ratio: X`` = coarse + recycled time / independent time last.

Usage: ``python benchmarks/pde_darcy_recycling.py [--smoke] [--n 65] [--systems 64]``
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import torch
from _timing import interleaved, timed

from labkit.pde import darcy, darcy_coefficient
from labkit.pde.darcy import SequenceResult
from labkit.pde.krylov import RecyclingCG, cg, greedy_similarity_order


def slowest_eigenvectors(op: darcy.DarcyOperator, k: int) -> list[torch.Tensor]:
    """The ``k`` slowest eigenvectors of ``D^-1 A`` for every system, unit rows ``[k, N]``."""
    out = []
    for i in range(op.ax.shape[0]):
        scale = 1.0 / np.sqrt(op.diagonal()[i].cpu().numpy())
        scaling = scipy.sparse.diags(scale)
        values, vectors = scipy.sparse.linalg.eigsh(
            scaling @ op.to_scipy(i) @ scaling, k=k, sigma=0, which="LM"
        )
        basis = (scale[:, None] * vectors[:, np.argsort(values)]).T
        basis /= np.linalg.norm(basis, axis=1, keepdims=True)
        out.append(torch.from_numpy(basis).to(op.ax.device))
    return out


def oracle_sequence(
    op: darcy.DarcyOperator,
    rhs: torch.Tensor,
    bases: list[torch.Tensor],
    tol: float,
    order: torch.Tensor | None = None,
) -> SequenceResult:
    """Deflated CG on each system with given exact slow eigenvectors.

    Without ``order`` each system gets its own; with it, the systems are solved in that order
    and each is deflated with the basis of the system before it (the first with its own).
    """
    solver = RecyclingCG(bases[0].shape[0], 1, tol=tol, recycle=False)
    diag = op.diagonal()
    x = torch.empty_like(rhs)
    iterations = torch.zeros(len(bases), dtype=torch.long)
    sequence = torch.arange(len(bases)) if order is None else order
    previous = int(sequence[0])
    for i in sequence.tolist():
        solver.basis = bases[i if order is None else previous]
        res = solver.solve(op.select(i).matvec, rhs[i : i + 1], diagonal=diag[i : i + 1])
        x[i], iterations[i] = res.x[0], int(res.iterations[0])
        previous = i
    n = op.m + 2
    u = torch.nn.functional.pad(x.reshape(-1, op.m, op.m), (1, 1, 1, 1)).reshape(-1, n, n)
    return SequenceResult(u, iterations, sequence, 0.0)


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
    parser.add_argument(
        "--oracle",
        type=int,
        nargs="*",
        default=[],
        help="also deflate with the exact K slowest eigenvectors of each system (not timed)",
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
    op = darcy.DarcyOperator.from_coefficient(a)
    rhs = torch.ones(args.systems, (args.n - 2) ** 2, dtype=torch.float64, device=a.device)
    calls = {
        name: lambda options=options: darcy.solve_sequence(a, tol=args.tol, **options)
        for name, options in runs.items()
    }
    if args.oracle:
        exact = slowest_eigenvectors(op, max(args.oracle))
        order = greedy_similarity_order(darcy.similarity_features(a))
        for label, sequence in (("oracle: exact", None), ("neighbour's exact", order)):
            for k in args.oracle:
                bases = [basis[:k].contiguous() for basis in exact]
                calls[f"{label} k={k} (free)"] = lambda b=bases, s=sequence: oracle_sequence(
                    op, rhs, b, args.tol, s
                )
    results, seconds = interleaved(calls, args.repeats)
    batched, batched_seconds = timed(
        lambda: cg(op.matvec, rhs, diagonal=op.diagonal(), tol=args.tol)
    )

    names = list(calls)
    base = results[names[0]]
    for name in names:
        res = results[name]
        diff = float((res.u - base.u).abs().max() / base.u.abs().max())
        print(
            f"{name:38s}: {int(res.iterations.sum()):6d} iterations "
            f"({float(res.iterations.sum() / base.iterations.sum()):.3f}) "
            f"{min(seconds[name]):6.2f} s ({min(seconds[name]) / min(seconds[names[0]]):.3f})  "
            f"max rel. difference {diff:.1e}"
        )
    print(
        f"batched independent PCG (all systems at once, reference): "
        f"{int(batched.iterations.sum())} iterations {batched_seconds:.2f} s"
    )
    headline = names[len(runs) - 1]
    print(f"ratio: {min(seconds[headline]) / min(seconds[names[0]]):.3f}")


if __name__ == "__main__":
    main()
