"""Make a PDE dataset as a Zarr store, one shard per Dask task.

A shard task computes samples ``lo .. hi-1`` (each from its own seed, see
:func:`labkit.pde.datasets.sample_seed`), writes them as one whole chunk of ``inputs`` and of
``targets``, and returns the shard's SHA-256. Its result depends only on its arguments, so
Dask may run it again on another worker when one dies: the same bytes are written again. The
client records each digest in the group attributes as tasks finish; a shard written but not
yet recorded (the client was killed) is made again by the next call, which makes only the
shards without a record.

Examples
--------
>>> report = make_store("darcy", 8, "/tmp/darcy-17", resolution=17, seed=0,
...                     workers=2)  # doctest: +SKIP
>>> report.made  # doctest: +SKIP
[0, 1, 2, 3, 4, 5, 6, 7]
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit._checks import check_choice, check_int
from labkit.cluster import ClusterError
from labkit.data.store import (
    ATTR,
    create_store,
    open_group,
    shard_bounds,
    shard_digest,
    shard_file,
    store_lock,
)

__all__ = ["MakeReport", "default_shard_size", "make_shard", "make_store", "recipe_of"]

_SHARD_BYTES = 32 << 20
"""Target bytes of one shard (inputs + targets, before compression)."""


@dataclass
class MakeReport:
    """What a :func:`make_store` call did.

    Attributes
    ----------
    path
        The store.
    shards
        Number of shards of the set.
    made
        Shards made by this call (the others were complete already).
    dashboard
        The Dask dashboard link of the cluster used (``""`` when it has none).
    """

    path: Path
    shards: int
    made: list[int] = field(default_factory=list)
    dashboard: str = ""


def recipe_of(problem: str, resolution: int, seed: int, params: dict) -> dict:
    """Everything that decides the bytes of a store: problem, grid, seed, every parameter
    (solver included) and how samples are seeded."""
    from labkit.pde.datasets import BLOCK, FORMAT_VERSION

    return {
        "problem": problem,
        "resolution": resolution,
        "seed": seed,
        "params": dict(params),
        "sampling": f"labkit.pde.datasets v{FORMAT_VERSION}: sample i from sample_seed(seed, i), "
        f"solved in blocks of {BLOCK[problem]}",
    }


def _sample_shapes(problem: str, resolution: int, p: dict) -> tuple[tuple, tuple]:
    if problem == "darcy":
        return (1, resolution, resolution), (1, resolution, resolution)
    if problem == "burgers":
        return (1, resolution), (1, resolution)
    return (p["t_in"], resolution, resolution), (p["t_out"], resolution, resolution)


def default_shard_size(n: int, sample_bytes: int, block: int = 1) -> int:
    """Samples per shard: about 32 MiB of float32, at least 8 shards when ``n >= 8``, and a
    multiple of the problem's solve block (:data:`labkit.pde.datasets.BLOCK`), so that no
    shard solves a block that another shard solves too.

    Depends only on the set, never on the cluster, so a store can be resumed on any cluster.
    """
    by_bytes = max(1, _SHARD_BYTES // max(1, sample_bytes))
    size = max(1, min(by_bytes, math.ceil(n / 8)))
    return math.ceil(size / block) * block


def make_shard(
    path: str,
    problem: str,
    lo: int,
    hi: int,
    resolution: int,
    seed: int,
    params: dict,
    device: str | None = None,
) -> str:
    """Make samples ``lo .. hi-1``, write them as whole chunks, return their SHA-256.

    The Dask task of one shard: the result and the bytes written depend only on the arguments.
    """
    import zarr

    from labkit.pde.datasets import make_samples

    x, y = make_samples(problem, lo, hi, resolution=resolution, seed=seed, params=params,
                        device=device)
    x, y = x.numpy(), y.numpy()
    for name, value in (("inputs", x), ("targets", y)):
        array = zarr.open_array(os.path.join(path, name), mode="r+")
        # An earlier, unrecorded attempt may have left this shard's file, perhaps damaged:
        # zarr would read it back to merge; the shard is rewritten whole instead.
        shard_file(path, name, lo // array.shards[0], array.ndim).unlink(missing_ok=True)
        array[lo:hi] = value
    return shard_digest(x, y)


def make_store(
    problem: str,
    n: int,
    store: str | os.PathLike,
    *,
    resolution: int,
    seed: int,
    client: Any = None,
    workers: int | None = None,
    shard_size: int | None = None,
    progress: bool | None = True,
    device: str | None = None,
    timeout: float = 10.0,
    **params: Any,
) -> MakeReport:
    """Make ``n`` pairs of a PDE problem into the Zarr store ``store`` on a Dask cluster.

    The bytes equal those of ``make_dataset(problem, n, resolution=..., seed=..., **params)``
    in memory, whatever the shard size, the workers or the order the shards finish in. A
    store already holding some shards of the same recipe is completed: only the shards
    without a recorded checksum are made.

    Parameters
    ----------
    problem, n, resolution, seed, **params
        As for :func:`labkit.pde.make_dataset`.
    store
        Folder of the store (new, or a store of the same recipe to complete). The workers
        must see it at the same path (a shared filesystem on a cluster).
    client
        ``None`` (a local cluster for the call), a scheduler address or a
        ``distributed.Client`` (see :func:`labkit.cluster.dask_client`).
    workers
        Worker processes of the local cluster (only with ``client=None``).
    shard_size
        Samples per shard (one shard file); default :func:`default_shard_size`. Any size gives
        the same bytes; a multiple of the problem's solve block wastes no work.
    progress
        Show a progress bar.
    device
        Where the workers solve (``"cuda"`` on GPU workers).
    timeout
        Seconds to wait for a scheduler at an address.

    Returns
    -------
    MakeReport

    Raises
    ------
    StoreError
        The store holds another recipe, is a file, or another run is writing it.
    labkit.cluster.ClusterError
        No scheduler answers at the address.
    """
    from labkit.cluster import dask_client
    from labkit.pde.datasets import BLOCK, PROBLEMS, resolve_params

    check_choice("problem", problem, PROBLEMS)
    n = check_int("n", n, minimum=1)
    resolution = check_int("resolution", resolution, minimum=3 if problem == "darcy" else 4)
    seed = check_int("seed", seed, minimum=0)
    p = resolve_params(problem, resolution, params)
    x_shape, y_shape = _sample_shapes(problem, resolution, p)
    path = Path(store).absolute()
    if shard_size is None and (path / "zarr.json").is_file():
        shard_size = open_group(path).attrs[ATTR]["shard_size"]  # resume as it was made
    if shard_size is None:
        sample_bytes = 4 * (math.prod(x_shape) + math.prod(y_shape))
        shard_size = default_shard_size(n, sample_bytes, BLOCK[problem])
    shard_size = check_int("shard_size", shard_size, minimum=1)
    import labkit

    created = not path.exists()

    group = create_store(
        path,
        recipe=recipe_of(problem, resolution, seed, p),
        n=n,
        shard_size=shard_size,
        input_shape=x_shape,
        target_shape=y_shape,
        made_with={"labkit": labkit.__version__},
    )
    bounds = shard_bounds(n, shard_size)
    report = MakeReport(path=path, shards=len(bounds))
    try:
        with store_lock(path):
            done = dict(group.attrs.get("shards", {}))
            todo = [s for s in range(len(bounds)) if str(s) not in done]
            if not todo:
                return report
            with dask_client(client, workers=workers, timeout=timeout) as c:
                report.dashboard = getattr(c, "dashboard_link", "") or ""
                futures = {
                    c.submit(
                        make_shard, str(path), problem, *bounds[s], resolution, seed, p, device,
                        key=f"labkit-shard-{s}-{os.getpid()}-{time.time_ns()}",
                    ): s
                    for s in todo
                }
                _collect(group, futures, done, report, progress, problem)
    except ClusterError:
        if created and not report.made:
            shutil.rmtree(path)  # the empty store this call created; nothing was made
        raise
    return report

def _collect(group, futures: dict, done: dict, report: MakeReport, progress, problem) -> None:
    """Record each finished shard's digest; flush the record at most twice a second."""
    from labkit.cluster import track

    errors = []
    last = time.monotonic()
    try:
        for future in track(futures, description=f"{problem} shards", progress=bool(progress)):
            s = futures[future]
            if future.status == "error":
                errors.append((s, future.exception()))
                continue
            done[str(s)] = future.result()
            report.made.append(s)
            if time.monotonic() - last > 0.5:
                group.attrs["shards"] = done
                last = time.monotonic()
    finally:
        group.attrs["shards"] = done
        for future in futures:
            future.release()
    report.made.sort()
    if errors:
        s, exc = errors[0]
        raise RuntimeError(
            f"{len(errors)} shard(s) failed, first shard {s}: {exc!r}; the complete shards are "
            f"recorded, call again to retry the others"
        ) from exc

