"""Stores to and from other formats: HDF5 (h5py) and neuraloperator's ``.pt`` dictionary.

HDF5 layout (one file; ``docs/DATA_STORE.md``)::

    /inputs    float32 [n, C_in, *grid], chunked by shard
    /targets   float32 [n, C_out, *grid], chunked by shard
    attrs["labkit_data"]   JSON text: the store's recipe, n and shard_size

neuraloperator's ``.pt``: ``{"x": inputs, "y": targets}`` with the channel axis dropped when
it has one channel (as in its Darcy and Burgers files; its loaders add it back).

Every output is written beside its final name and renamed into place: a failure leaves any
older file whole.

Examples
--------
>>> import tempfile, torch
>>> from labkit.data import open_dataset
>>> from labkit.data.store import write_store
>>> with tempfile.TemporaryDirectory() as d:
...     x = torch.arange(12.0).reshape(3, 1, 4)
...     _ = write_store(d + "/s", x, x + 1, recipe={"problem": "demo"}, shard_size=2)
...     _ = export_hdf5(d + "/s", d + "/s.h5")
...     _ = import_hdf5(d + "/s.h5", d + "/t")
...     bool(torch.equal(open_dataset(d + "/t")[2][0], x[2]))
True
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from labkit._io import atomic_write
from labkit.data.store import ATTR, open_group, shard_bounds, write_store
from labkit.data.stream import StoreDataset

__all__ = ["export_hdf5", "export_pt", "import_hdf5"]


def _complete(path) -> StoreDataset:
    return StoreDataset(path)  # refuses an incomplete store


def export_hdf5(store: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write a complete store to one HDF5 file, shard by shard (memory: one shard)."""
    import h5py

    _complete(store)
    group = open_group(store)
    meta = dict(group.attrs[ATTR])
    out = Path(out)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            for name in ("inputs", "targets"):
                arr = group[name]
                ds = f.create_dataset(
                    name, shape=arr.shape, dtype="float32",
                    chunks=(min(meta["shard_size"], arr.shape[0]), *arr.shape[1:]),
                )
                for lo, hi in shard_bounds(meta["n"], meta["shard_size"]):
                    ds[lo:hi] = arr[lo:hi]
            f.attrs[ATTR] = json.dumps(meta, sort_keys=True)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def import_hdf5(
    h5: str | os.PathLike, store: str | os.PathLike, *, shard_size: int | None = None
) -> Path:
    """Make a store from an HDF5 file of the layout above (``/inputs``, ``/targets``).

    The recipe is the file's ``labkit_data`` attribute when present, else
    ``{"imported_from": <file name>}``.
    """
    import h5py

    h5 = Path(h5)
    if not h5.is_file():
        raise ValueError(f"HDF5 file {str(h5)!r} does not exist")
    with h5py.File(h5, "r") as f:
        missing = [k for k in ("inputs", "targets") if k not in f]
        if missing:
            raise ValueError(f"{str(h5)!r} lacks dataset(s) {missing}; expected /inputs, /targets")
        meta = json.loads(f.attrs[ATTR]) if ATTR in f.attrs else {}
        recipe = meta.get("recipe", {"imported_from": h5.name})
        size = shard_size or meta.get("shard_size") or 64
        return write_store(store, f["inputs"], f["targets"], recipe=recipe, shard_size=size)


def export_pt(store: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write a complete store as neuraloperator's ``{"x": ..., "y": ...}`` ``.pt`` file.

    The whole set is loaded in memory (neuraloperator's format is one tensor per side).
    """
    ds = _complete(store)
    group = open_group(store)
    x = torch.from_numpy(np.asarray(group["inputs"][:]))
    y = torch.from_numpy(np.asarray(group["targets"][:]))
    if x.shape[1] == 1:
        x = x[:, 0]
    if y.shape[1] == 1:
        y = y[:, 0]
    del ds
    return atomic_write(out, lambda fh: torch.save({"x": x, "y": y}, fh))
