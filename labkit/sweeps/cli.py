"""``labkit sweep NAME -p KEY V1,V2,... --out DIR``: the command line of ``labkit.sweeps.sweep``.

Kept free of heavy imports: ``labkit --help`` builds this parser.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_sweep_parser"]


def add_sweep_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to the ``labkit`` parser's subparsers ``sub``."""
    p = sub.add_parser(
        "sweep",
        help="run a notebook over a parameter grid on a Dask cluster; gather its records",
        description="Run a notebook over the Cartesian product (or zip) of parameter values, "
        "one kernel per run on a Dask cluster, and write one row per run to "
        "DIR/results.parquet and DIR/results.csv. Runs already recorded in DIR are skipped. "
        "Exit status: 0 when every run of the grid succeeded, 1 when one failed, 2 on bad input.",
    )
    p.add_argument("name", metavar="NAME", help="notebook name, prefix or path")
    p.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        metavar=("KEY", "V1,V2,..."),
        help="a parameter declared in the notebook and its comma-separated values",
    )
    p.add_argument("--zip", action="store_true", help="pair the value lists instead of crossing")
    p.add_argument("--repeat", type=int, default=1, metavar="N", help="runs per combination")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="K",
                       help="worker processes of the local cluster (default: one per core)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--smoke", action="store_true", help="run the notebook's smoke mode")
    p.add_argument("--out", required=True, metavar="DIR", help="the sweep's folder")
    p.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    p.add_argument("--timeout", type=float, default=None, help="per-cell limit in seconds")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress")
    p.set_defaults(func=_cmd_sweep)
    return p


def _grid(name: str, pairs: list[list[str]]) -> tuple[str, dict[str, list[Any]]]:
    from labkit.notebooks import declared_parameters, find_notebook
    from labkit.sweeps.grid import parse_values

    path = find_notebook(name)
    declared = declared_parameters(path)
    grid: dict[str, list[Any]] = {}
    for key, text in pairs:
        if key in grid:
            raise ValueError(f"parameter {key!r} is given twice; give all its values in one -p")
        if key not in declared:
            raise ValueError(
                f"{path.stem} does not declare parameter {key!r}; "
                f"declared: {', '.join(sorted(declared))}"
            )
        grid[key] = parse_values(key, text, declared[key])
    return str(path), grid


def _cmd_sweep(args: argparse.Namespace) -> int:
    from labkit.cli import CLIError
    from labkit.sweeps.runner import sweep

    try:
        path, grid = _grid(args.name, args.param or [])
        table = sweep(
            path,
            grid,
            out=args.out,
            zipped=args.zip,
            repeat=args.repeat,
            smoke=args.smoke,
            client=args.scheduler,
            workers=args.workers,
            retry_failed=args.retry_failed,
            timeout=args.timeout,
            progress=not args.quiet,
        )
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    failed = table[table["status"] != "ok"]
    for _, row in failed.iterrows():
        print(f"labkit: run {row['run']} failed: {row['error']}", file=sys.stderr)
    ran = table.attrs.get("labkit_sweep", {}).get("ran", 0)
    print(
        f"{len(table)} runs ({ran} run now): {len(table) - len(failed)} ok, {len(failed)} failed "
        f"-> {args.out}/results.parquet",
        file=sys.stderr,
    )
    return 1 if len(failed) else 0
