"""The seeded blobs volume shared by the pore benchmarks, and its command-line arguments."""

from __future__ import annotations

import argparse

import numpy as np


def blobs_parser(doc: str) -> argparse.ArgumentParser:
    """A parser described by ``doc``'s first line, with the blobs volume's arguments."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--porosity", type=float, default=0.35)
    parser.add_argument("--blobiness", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def blobs_volume(args: argparse.Namespace) -> np.ndarray:
    """The blobs volume that ``args`` (from :func:`blobs_parser`) asks for."""
    import labkit.pores as lp

    return lp.blobs(args.size, porosity=args.porosity, blobiness=args.blobiness, seed=args.seed)
