"""Darcy data generation: labkit's multigrid-preconditioned CG against sparse direct and pyamg.

Every run solves the same ``--samples`` Darcy problems (the FNO benchmark coefficient, ``f = 1``)
on ``n x n`` nodes:

- labkit multigrid: batched CG preconditioned by a geometric V-cycle
  (``darcy.solve(method="multigrid")``, in chunks of about 2^20 nodes as ``make_dataset``
  solves), on ``--device``;
- labkit Jacobi-PCG: the same batched CG with the Jacobi preconditioner, for reference;
- scipy direct: a sparse LU per sample (``darcy.solve(method="direct")``);
- pyamg (if installed, the ``bench`` extra): a Ruge-Stuben and a smoothed-aggregation hierarchy
  built for every sample, used as CG preconditioners, as pyamg's documentation does.

The iterative runs stop at the same relative residual ``--tol``; each row prints its largest
difference from the direct solution. Runs alternate ``--repeats`` times and the fastest counts.
Prints ``ratio: X`` = labkit multigrid time / the fastest peer's (direct or pyamg) last.

Usage: ``python benchmarks/pde_darcy_multigrid.py [--smoke] [--n 421] [--samples 16]``
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _timing import interleaved

from labkit.pde import darcy, darcy_coefficient


def chunked(a: torch.Tensor, method: str, tol: float) -> torch.Tensor:
    """Solve in chunks of about 2^20 nodes, as ``make_dataset`` does."""
    size = max(1, (1 << 20) // a.shape[-1] ** 2)
    return torch.cat(
        [darcy.solve(a[i : i + size], method=method, tol=tol) for i in range(0, len(a), size)]
    )


def pyamg_solve(a: torch.Tensor, tol: float, kind: str) -> torch.Tensor:
    """A pyamg hierarchy per sample (``ruge_stuben`` or ``smoothed_aggregation``) inside CG."""
    import pyamg

    build = getattr(pyamg, f"{kind}_solver")
    op = darcy.DarcyOperator.from_coefficient(a.cpu().double())
    n = a.shape[-1]
    b = np.ones((n - 2) ** 2)
    out = torch.zeros(a.shape, dtype=torch.float64)
    for i in range(a.shape[0]):
        matrix = op.to_scipy(i).tocsr()
        x = build(matrix).solve(b, tol=tol, accel="cg")
        out[i, 1:-1, 1:-1] = torch.from_numpy(x.reshape(n - 2, n - 2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--n", type=int, default=421, help="nodes per side")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--tol", type=float, default=1e-8, help="relative residual")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs, min time")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.samples, args.repeats = 65, 4, 1
    a = darcy_coefficient(args.n, batch=args.samples, seed=0, dtype=torch.float64)
    on_device = a.to(args.device)
    print(f"Darcy {args.n}x{args.n}, {args.samples} samples, tol {args.tol:g}, {args.device}")

    runs = {
        "labkit multigrid-PCG": lambda: chunked(on_device, "multigrid", args.tol),
        "labkit Jacobi-PCG": lambda: chunked(on_device, "cg", args.tol),
        "scipy direct (sparse LU)": lambda: darcy.solve(a, method="direct"),
    }
    peers = ["scipy direct (sparse LU)"]
    try:
        import pyamg

        for kind in ("ruge_stuben", "smoothed_aggregation"):
            name = f"pyamg {pyamg.__version__} {kind} + CG"
            runs[name] = lambda kind=kind: pyamg_solve(a, args.tol, kind)
            peers.append(name)
    except ImportError:
        print("pyamg is not installed (pip install -e '.[bench]'): compared with direct only")

    results, seconds = interleaved(runs, args.repeats)
    exact = results["scipy direct (sparse LU)"]
    scale = float(exact.abs().max())
    for name in runs:
        diff = float((results[name].cpu() - exact).abs().max()) / scale
        best = min(seconds[name])
        print(
            f"{name:42s}: {best:7.3f} s ({best / args.samples * 1e3:7.1f} ms/sample)  "
            f"max rel. difference from direct {diff:.1e}"
        )
    peer = min(peers, key=lambda name: min(seconds[name]))
    print(f"fastest peer: {peer}")
    print(f"ratio: {min(seconds['labkit multigrid-PCG']) / min(seconds[peer]):.3f}")


if __name__ == "__main__":
    main()
