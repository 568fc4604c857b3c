"""Real Dask clusters for the tests: a ``dask scheduler`` + ``dask worker`` started from the
command line on 127.0.0.1, and a way to kill a worker process mid-run.

Examples
--------
.. code-block:: python

    from _dask import cli_cluster, kill_one_worker

    with cli_cluster(tmp_path, workers=2) as address:
        with labkit.cluster.dask_client(address) as client:
            ...
            kill_one_worker(client)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

DASK = Path(sys.executable).with_name("dask")


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


@contextmanager
def cli_cluster(folder: Path, workers: int = 2, timeout: float = 60.0):
    """Start ``dask scheduler`` and ``workers`` separate ``dask worker`` processes; yield the
    scheduler address; stop them all on exit."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(scheduler_file)],
            stdout=subprocess.DEVNULL, stderr=open(folder / "scheduler.log", "wb"), env=env,
        )
    ]
    try:
        _wait_for(scheduler_file.exists, timeout, "the scheduler file")
        address = _wait_for(
            lambda: json.loads(scheduler_file.read_text() or "{}").get("address"),
            timeout, "the scheduler address",
        )
        for i in range(workers):
            procs.append(
                subprocess.Popen(
                    [str(DASK), "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                     "--no-dashboard", "--local-directory", str(folder / f"worker-{i}")],
                    stdout=subprocess.DEVNULL, stderr=open(folder / f"worker-{i}.log", "wb"),
                    env=env,
                )
            )
        from distributed import Client

        with Client(address, timeout=timeout) as client:
            client.wait_for_workers(workers, timeout=timeout)
        yield address
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def worker_pids(client) -> list[int]:
    """The process ids of the cluster's worker processes (not their nannies)."""
    return list(client.run(os.getpid).values())


def kill_one_worker(client, when=None, timeout: float = 120.0) -> int:
    """SIGKILL one worker process, once ``when(client)`` holds (default: at once); return its pid.

    Its nanny starts a fresh worker, and the scheduler reruns the tasks the dead one held.
    """
    if when is not None:
        _wait_for(lambda: when(client), timeout, "the moment to kill a worker")
    pid = worker_pids(client)[0]
    os.kill(pid, signal.SIGKILL)
    return pid
