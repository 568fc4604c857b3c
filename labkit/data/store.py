"""The on-disk layout of a dataset: a Zarr v3 group (see ``docs/DATA_STORE.md``).

::

    STORE/
      zarr.json          group; attributes "labkit_data" (recipe, n, shard_size) and "shards"
      inputs/            float32 [n, C_in, *grid], shards [shard_size, C_in, *grid] of
                         one-sample inner chunks (Zarr v3 sharding codec)
      targets/           float32 [n, C_out, *grid], the same
      .labkit-lock       present only while a run writes the store (pid, host)

Shard ``s`` holds samples ``s * shard_size`` to ``min(n, (s + 1) * shard_size) - 1``: one shard
file of each array. ``attrs["shards"][str(s)]`` is the SHA-256 of the shard's inputs bytes followed
by its targets bytes (float32, C order); a shard without an entry is not complete.

Examples
--------
>>> import tempfile, torch
>>> with tempfile.TemporaryDirectory() as d:
...     x = torch.arange(12.0).reshape(3, 1, 4)
...     _ = write_store(d + "/s", x, 2 * x, recipe={"problem": "demo"}, shard_size=2)
...     read_info(d + "/s")["shards_complete"]
2
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from labkit._checks import check_int

__all__ = [
    "FORMAT",
    "StoreError",
    "create_store",
    "open_group",
    "read_info",
    "shard_bounds",
    "shard_digest",
    "shard_file",
    "store_lock",
    "write_store",
]

FORMAT = "labkit-data-1"
ATTR = "labkit_data"
LOCK = ".labkit-lock"


class StoreError(ValueError):
    """A store that cannot be used as asked; the message says why and what to do."""


def shard_bounds(n: int, shard_size: int) -> list[tuple[int, int]]:
    """``(lo, hi)`` sample ranges of the shards of ``n`` samples."""
    return [(lo, min(n, lo + shard_size)) for lo in range(0, n, shard_size)]


def shard_file(path: str | os.PathLike, name: str, shard: int, ndim: int) -> Path:
    """The file of ``shard`` of array ``name`` (Zarr v3 default chunk keys ``c/s/0/...``)."""
    return Path(path) / name / "c" / "/".join([str(shard)] + ["0"] * (ndim - 1))


def shard_digest(inputs: np.ndarray, targets: np.ndarray) -> str:
    """SHA-256 of a shard: its inputs bytes then its targets bytes (float32, C order)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(inputs, dtype=np.float32).tobytes())
    h.update(np.ascontiguousarray(targets, dtype=np.float32).tobytes())
    return h.hexdigest()


def _check_folder(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise StoreError(f"store {str(path)!r} is a file, not a folder; give a new folder name")


def open_group(path: str | os.PathLike, mode: str = "r") -> Any:
    """The store's Zarr group (``mode="r"`` or ``"r+"``); :class:`StoreError` if it is not one."""
    import zarr

    path = Path(path)
    _check_folder(path)
    if not (path / "zarr.json").exists():
        raise StoreError(f"{str(path)!r} is not a labkit data store (no zarr.json)")
    group = zarr.open_group(str(path), mode=mode)
    if group.attrs.get(ATTR, {}).get("format") != FORMAT:
        raise StoreError(f"{str(path)!r} is a Zarr group but not a labkit data store")
    return group


def create_store(
    path: str | os.PathLike,
    *,
    recipe: dict,
    n: int,
    shard_size: int,
    input_shape: tuple[int, ...],
    target_shape: tuple[int, ...],
    made_with: dict | None = None,
) -> Any:
    """Create the group and its two empty arrays, or open the existing store of this recipe.

    An existing store of another recipe or shard size is refused (:class:`StoreError`) and left
    as it is; so is a folder that holds anything else. ``made_with`` (versions) is recorded
    but not compared.
    """
    import zarr

    path = Path(path)
    _check_folder(path)
    meta = {"format": FORMAT, "recipe": recipe, "n": n, "shard_size": shard_size}
    if (path / "zarr.json").exists():
        group = open_group(path, "r+")
        have = {k: v for k, v in group.attrs[ATTR].items() if k != "made_with"}
        if json.dumps(have, sort_keys=True) != json.dumps(meta, sort_keys=True):
            diff = _differences(have, meta)
            raise StoreError(
                f"store {str(path)!r} was made with other parameters ({diff}); "
                "give another --out folder, or the same parameters to resume it"
            )
        return group
    if path.exists() and any(path.iterdir()):
        raise StoreError(
            f"{str(path)!r} is a folder that is not empty and not a labkit store; "
            "give a new folder name"
        )
    group = zarr.open_group(str(path), mode="w-")
    for name, shape in (("inputs", input_shape), ("targets", target_shape)):
        group.create_array(
            name,
            shape=(n, *shape),
            shards=(shard_size, *shape),  # one file per shard, written whole by its task
            chunks=(1, *shape),  # one sample per inner chunk: random reads decode one sample
            dtype="float32",
            fill_value=float("nan"),
        )
    group.attrs.update({ATTR: {**meta, "made_with": made_with or {}}, "shards": {}})
    return group


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _differences(have: dict, want: dict) -> str:
    flat_have = {**{k: v for k, v in have.items() if k != "recipe"}, **have.get("recipe", {})}
    flat_want = {**{k: v for k, v in want.items() if k != "recipe"}, **want.get("recipe", {})}
    keys = sorted(set(flat_have) | set(flat_want), key=str)
    same = [_canonical(flat_have.get(k)) == _canonical(flat_want.get(k)) for k in keys]
    parts = [
        f"{k}: store {flat_have.get(k)!r}, asked {flat_want.get(k)!r}"
        for k, equal in zip(keys, same, strict=True)
        if not equal
    ]
    return "; ".join(parts) or "metadata differs"


def read_info(path: str | os.PathLike) -> dict:
    """The store's recipe, sizes and how many shards are complete."""
    group = open_group(path)
    meta = dict(group.attrs[ATTR])
    n_shards = len(shard_bounds(meta["n"], meta["shard_size"]))
    done = group.attrs.get("shards", {})
    return {
        **meta,
        "input_shape": list(group["inputs"].shape[1:]),
        "target_shape": list(group["targets"].shape[1:]),
        "shards": n_shards,
        "shards_complete": sum(str(s) in done for s in range(n_shards)),
        "bytes": int(group["inputs"].nbytes + group["targets"].nbytes),
    }


@contextmanager
def store_lock(path: str | os.PathLike):
    """Hold ``STORE/.labkit-lock`` (created with O_EXCL; holds pid and host) while writing.

    Another live writer's lock is a :class:`StoreError`; a lock left by a dead process of this
    host is taken over.
    """
    lock = Path(path) / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                other = json.loads(lock.read_text() or "{}")
            except (OSError, ValueError):
                other = {}
            if other.get("host") == me["host"] and not _alive(other.get("pid")):
                lock.unlink(missing_ok=True)  # a dead writer's lock on this host
                continue
            raise StoreError(
                f"store {str(Path(path))!r} is being written by process {other.get('pid')} on "
                f"{other.get('host')!r}; wait for it, or remove {lock} if that run is gone"
            ) from None
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        break
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_store(
    path: str | os.PathLike,
    inputs: Any,
    targets: Any,
    *,
    recipe: dict,
    shard_size: int = 64,
) -> Path:
    """Write in-memory (or array-like, sliceable) ``inputs``/``targets`` as a new store.

    Used to import data made elsewhere (:func:`labkit.data.import_hdf5`) and by the
    benchmarks; PDE sets are made shard by shard with :func:`labkit.data.make_store`.
    """
    check_int("shard_size", shard_size, minimum=1)
    n = len(inputs)
    if len(targets) != n:
        raise ValueError(f"inputs has {n} samples but targets has {len(targets)}")
    path = Path(path)
    group = create_store(
        path,
        recipe=recipe,
        n=n,
        shard_size=shard_size,
        input_shape=tuple(inputs.shape[1:]),
        target_shape=tuple(targets.shape[1:]),
    )
    with store_lock(path):
        done = dict(group.attrs.get("shards", {}))
        for s, (lo, hi) in enumerate(shard_bounds(n, shard_size)):
            if str(s) in done:
                continue
            x = np.asarray(inputs[lo:hi], dtype=np.float32)
            y = np.asarray(targets[lo:hi], dtype=np.float32)
            group["inputs"][lo:hi] = x
            group["targets"][lo:hi] = y
            done[str(s)] = shard_digest(x, y)
            group.attrs["shards"] = done
    return path
