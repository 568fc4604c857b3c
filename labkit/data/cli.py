"""``labkit data make | info | verify | export | import``.

Examples
--------
.. code-block:: console

    $ labkit data make darcy --n 256 --resolution 129 --out darcy129 --workers 2
    $ labkit data make navier_stokes --n 10000 --resolution 64 --out ns64 \\
          --scheduler tcp://10.0.0.5:8786 -p solve_resolution 256
    $ labkit data info darcy129
    $ labkit data verify darcy129
    $ labkit data export darcy129 darcy129.h5
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

from labkit.cli import CLIError as DataCLIError  # one line, exit status 2

__all__ = ["add_data_parser"]


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a word such as multigrid or fno


def _cmd_make(args: argparse.Namespace) -> int:
    from labkit.data import make_store

    params = {key: _value(text) for key, text in (args.param or [])}
    client = args.scheduler
    try:
        report = make_store(
            args.problem,
            args.n,
            args.out,
            resolution=args.resolution,
            seed=args.seed,
            client=client,
            workers=args.workers,
            shard_size=args.shard_size,
            progress=not args.quiet,
            device=args.device,
            timeout=args.timeout,
            **params,
        )
    except (ValueError, TypeError) as exc:
        raise DataCLIError(str(exc)) from None
    print(
        f"{report.path}: {len(report.made)} of {report.shards} shards made "
        f"({report.shards - len(report.made)} were complete)",
        file=sys.stderr,
    )
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from labkit.data import read_info

    try:
        info = read_info(args.store)
    except ValueError as exc:
        raise DataCLIError(str(exc)) from None
    print(json.dumps(info, indent=2, sort_keys=True))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from labkit.data import verify
    from labkit.data.verify import chunk_files

    try:
        report = verify(args.store)
    except ValueError as exc:
        raise DataCLIError(str(exc)) from None
    for s, reason in sorted(report.bad.items()):
        files = ", ".join(str(p.relative_to(args.store)) for p in chunk_files(args.store, s))
        print(f"bad shard {s} ({files}): {reason}")
    if report.missing:
        print(f"{len(report.missing)} shard(s) not made yet: {report.missing}")
    good = report.shards - len(report.bad) - len(report.missing)
    print(f"{good} of {report.shards} shards intact", file=sys.stderr)
    if report.bad:
        print(
            "run `labkit data make` again with the same arguments to remake the bad shards",
            file=sys.stderr,
        )
    return 0 if report.ok else 1


def _cmd_export(args: argparse.Namespace) -> int:
    from labkit.data import export_hdf5, export_pt

    out = Path(args.out)
    try:
        if out.suffix in (".h5", ".hdf5"):
            export_hdf5(args.store, out)
        elif out.suffix == ".pt":
            export_pt(args.store, out)
        else:
            raise DataCLIError(f"OUT {args.out!r} must end in .h5, .hdf5 or .pt")
    except ValueError as exc:
        raise DataCLIError(str(exc)) from None
    print(f"{args.store} -> {out}", file=sys.stderr)
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from labkit.data import import_hdf5

    try:
        path = import_hdf5(args.h5, args.out, shard_size=args.shard_size)
    except ValueError as exc:
        raise DataCLIError(str(exc)) from None
    print(f"{args.h5} -> {path}", file=sys.stderr)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def add_data_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``data make``, ``data info``, ``data verify``, ``data export``, ``data import``."""
    data = sub.add_parser("data", help="PDE datasets as Zarr stores made on a Dask cluster")
    dsub = data.add_subparsers(dest="data_command", required=True)

    p = dsub.add_parser("make", help="make (or complete) a store on a Dask cluster")
    p.add_argument("problem", help="darcy, burgers or navier_stokes")
    p.add_argument("--n", type=_positive, required=True, help="number of samples")
    p.add_argument("--resolution", type=_positive, required=True, help="grid size")
    p.add_argument("--out", required=True, help="store folder (new, or one to complete)")
    p.add_argument("--seed", type=int, default=0)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive, default=None,
                       help="worker processes of a local cluster (default: one per core)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="a running Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--shard-size", type=_positive, default=None, help="samples per shard")
    p.add_argument("--device", default=None, help="where workers solve, e.g. cuda")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds to wait for the scheduler (default 10)")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help="a problem parameter, e.g. -p nu 0.05")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_make)

    p = dsub.add_parser("info", help="print a store's recipe and completion as JSON")
    p.add_argument("store")
    p.set_defaults(func=_cmd_info)

    p = dsub.add_parser("verify", help="check every shard's SHA-256 (exit 1 if any is bad)")
    p.add_argument("store")
    p.set_defaults(func=_cmd_verify)

    p = dsub.add_parser("export", help="write a store as HDF5 (.h5) or neuraloperator .pt")
    p.add_argument("store")
    p.add_argument("out", help="OUT.h5 / OUT.hdf5 or OUT.pt")
    p.set_defaults(func=_cmd_export)

    p = dsub.add_parser("import", help="make a store from an HDF5 file (/inputs, /targets)")
    p.add_argument("h5")
    p.add_argument("out", help="new store folder")
    p.add_argument("--shard-size", type=_positive, default=None)
    p.set_defaults(func=_cmd_import)
