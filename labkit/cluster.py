"""The one way labkit reaches past one process: a Dask ``distributed`` client.

Datasets (:mod:`labkit.data`), notebook sweeps and chunked pore volumes all get their client
here, so a user learns one way to point labkit at a cluster:

* ``client=None`` starts a local cluster of worker processes on 127.0.0.1, sized to the machine
  (one single-threaded worker per core, the memory shared among them), and stops it on exit;
* ``client="tcp://host:port"`` connects to a running scheduler (a SLURM or Kubernetes cluster
  started with dask-jobqueue or dask-kubernetes, or ``dask scheduler`` + ``dask worker``) and
  closes only the connection on exit;
* ``client=<distributed.Client>`` or ``client=<Cluster>`` uses what the caller made and
  closes nothing the caller owns.

Worker processes run their tasks one at a time with one torch/BLAS thread each, so ``workers``
is the number of solves that run at once.

Examples
--------
>>> from labkit.cluster import dask_client
>>> with dask_client(workers=1) as client:  # doctest: +SKIP
...     client.submit(sum, [1, 2, 3]).result()
6
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from labkit._checks import check_int

__all__ = ["ClusterError", "dask_client", "default_workers", "track"]


class ClusterError(RuntimeError):
    """The cluster asked for cannot be reached or started; the message says which and why."""


def default_workers() -> int:
    """Worker processes for a local cluster: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


def _check_client(client: Any) -> Any:
    from distributed import Client
    from distributed.deploy import Cluster

    if client is None or isinstance(client, (str, Client, Cluster)):
        return client
    raise TypeError(
        "client must be None (a local cluster), a scheduler address such as "
        f"'tcp://127.0.0.1:8786', a distributed.Client or a Cluster, got {type(client).__name__}"
    )


@contextmanager
def dask_client(
    client: Any = None,
    *,
    workers: int | None = None,
    memory_limit: str | float | None = "auto",
    timeout: float = 10.0,
    dashboard: bool = True,
) -> Iterator[Any]:
    """Give a ``distributed.Client``; close on exit only what this call started.

    Parameters
    ----------
    client
        ``None`` for a local cluster started and stopped here; a scheduler address
        (``"tcp://host:port"``); a ``distributed.Client`` or a ``Cluster`` object to use as is.
    workers
        Worker processes of the local cluster (default: one per core). Only with ``client=None``.
    memory_limit
        Memory per local worker (``"auto"``: the machine's memory shared among the workers,
        ``"2GiB"``, a number of bytes, or ``None`` for no limit). Dask spills, pauses and at last
        restarts a worker that goes past it.
    timeout
        Seconds to wait for a scheduler at an address before giving up with :class:`ClusterError`.
    dashboard
        Serve the local cluster's dashboard on a free port of 127.0.0.1 (its link is
        ``client.dashboard_link``; dask-labextension shows it inside JupyterLab).

    Raises
    ------
    ClusterError
        When no scheduler answers at the address, or a local cluster cannot start.
    """
    client = _check_client(client)
    if workers is not None:
        check_int("workers", workers, minimum=1)
        if client is not None:
            raise ValueError("workers applies to a local cluster; leave it out with client=...")
    from distributed import Client, LocalCluster
    from distributed.deploy import Cluster

    if isinstance(client, Client):
        yield client
        return
    if isinstance(client, (str, Cluster)):
        try:
            made = Client(client, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"no Dask scheduler answers at {client!r} within {timeout:g} s ({exc}); "
                "start one with `dask scheduler` or check the address"
            ) from None
        try:
            yield made
        finally:
            made.close()
        return
    import dask

    try:
        # Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which makes glibc hand
        # memory back at every free: 32 Darcy solves at 129^2 took 0.95 s instead of 0.69 s in
        # such a worker. labkit's tasks allocate and free large arrays all the time, so the
        # local workers keep glibc's own threshold (a value the user exported still wins).
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = LocalCluster(
                n_workers=workers or default_workers(),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                # the scheduler always serves HTTP (health, metrics): on a free port of 127.0.0.1,
                # never the fixed 8787 that a second cluster would fight over
                dashboard_address="127.0.0.1:0",
                scheduler_kwargs={"dashboard": dashboard},
                memory_limit=memory_limit,
            )
    except (OSError, TimeoutError, RuntimeError) as exc:  # pragma: no cover - cannot spawn
        raise ClusterError(f"could not start a local Dask cluster: {exc}") from None
    try:
        with Client(cluster, set_as_default=False) as made:
            yield made
    finally:
        cluster.close()


def track(futures: Iterable[Any], *, description: str, progress: bool = True) -> Iterator[Any]:
    """Yield ``futures`` as they finish, with a progress bar (tqdm: a widget in notebooks).

    A future that errs is yielded like the others; the caller decides what its error means.
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    futures = list(futures)
    if not futures:
        return
    # The futures' own client's loop: labkit's clients are never made the default client.
    loop = futures[0].client.loop
    with tqdm(total=len(futures), desc=description, disable=not progress, unit="task") as bar:
        for future in as_completed(futures, loop=loop):
            bar.update(1)
            yield future
