"""labkit.data on real Dask clusters: equal bytes across workers and in memory, faults, resume.

Two clusters for the whole module: a LocalCluster of one worker process (labkit's default
route, ``dask_client(workers=1)``) and a ``dask scheduler`` + two ``dask worker`` processes
started from the command line, reached by address.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from _dask import cli_cluster, kill_one_worker, worker_pids

from labkit.cluster import dask_client
from labkit.data import make_store, open_dataset, verify
from labkit.data.store import StoreError, store_lock
from labkit.data.verify import chunk_files
from labkit.pde import make_dataset

pytestmark = pytest.mark.slow

SETS = {
    "darcy": dict(n=5, resolution=17),
    "burgers": dict(n=5, resolution=32, t_final=0.2),
    "navier_stokes": dict(
        n=4, resolution=16, solve_resolution=32, t_in=2, t_out=2, record_dt=0.05
    ),
}
SLOW = dict(resolution=17, solve_resolution=129)  # about 0.1 s a sample: time to kill mid-run


@pytest.fixture(scope="module")
def local():
    with dask_client(workers=1) as client:
        yield client


@pytest.fixture(scope="module")
def address(tmp_path_factory):
    with cli_cluster(tmp_path_factory.mktemp("dask"), workers=2) as addr:
        yield addr


def stored(path) -> tuple[np.ndarray, np.ndarray]:
    """The store's arrays read with zarr alone."""
    group = zarr.open_group(str(path), mode="r")
    return group["inputs"][:], group["targets"][:]


def in_memory(problem: str, seed: int = 0, **kw):
    kw = dict(kw)
    n = kw.pop("n")
    ds = make_dataset(problem, n, seed=seed, cache_dir=False, **kw)
    return ds.inputs.numpy(), ds.targets.numpy()


def assert_same_bytes(path, expected) -> None:
    x, y = stored(path)
    assert x.tobytes() == expected[0].tobytes() and y.tobytes() == expected[1].tobytes()


@pytest.mark.parametrize("problem", list(SETS))
def test_one_worker_two_workers_and_memory_give_equal_bytes(problem, local, address, tmp_path):
    kw = dict(SETS[problem])
    n = kw.pop("n")
    expected = in_memory(problem, n=n, **kw)
    one = make_store(problem, n, tmp_path / "one", seed=0, client=local, shard_size=2,
                     progress=False, **kw)
    two = make_store(problem, n, tmp_path / "two", seed=0, client=address, shard_size=3,
                     progress=False, **kw)
    assert one.made == list(range(one.shards)) and two.made == list(range(two.shards))
    assert_same_bytes(tmp_path / "one", expected)
    assert_same_bytes(tmp_path / "two", expected)
    assert verify(tmp_path / "two").ok


def test_a_worker_killed_mid_run_still_gives_the_same_bytes(local, tmp_path):
    n = 12
    before = set(worker_pids(local))
    killed = []
    killer = threading.Thread(
        target=lambda: killed.append(
            kill_one_worker(local, when=lambda c: any(c.processing().values()))
        )
    )
    killer.start()
    report = make_store("darcy", n, tmp_path / "s", seed=1, client=local, shard_size=2,
                        progress=False, **SLOW)
    killer.join()
    assert killed and killed[0] in before
    local.wait_for_workers(1, timeout=60)
    assert killed[0] not in set(worker_pids(local))  # a fresh worker took its place
    assert report.made == list(range(6))
    assert_same_bytes(tmp_path / "s", in_memory("darcy", seed=1, n=n, **SLOW))


def recorded(path: Path) -> int:
    try:
        return len(json.loads((path / "zarr.json").read_text())["attributes"]["shards"])
    except (OSError, ValueError, KeyError):
        return 0


def test_client_killed_mid_run_then_rerun_makes_only_missing_shards(address, tmp_path):
    n, shard = 32, 2
    store = tmp_path / "s"
    cmd = [
        sys.executable, "-m", "labkit", "data", "make", "darcy", "--n", str(n),
        "--resolution", "17", "-p", "solve_resolution", "129", "--shard-size", str(shard),
        "--seed", "2", "--out", str(store), "--scheduler", address, "-q",
    ]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, env={**os.environ})
    deadline = time.monotonic() + 120
    while recorded(store) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = recorded(store)
    assert 2 <= before < n // shard, proc.stderr.read().decode()[-2000:]
    assert (store / ".labkit-lock").exists()  # left by the killed run, taken over below
    report = make_store("darcy", n, store, seed=2, client=address, progress=False, **SLOW)
    assert len(report.made) == n // shard - before
    assert_same_bytes(store, in_memory("darcy", seed=2, n=n, **SLOW))


def test_verify_names_a_truncated_and_an_altered_chunk_and_a_rerun_remakes_them(
    local, tmp_path
):
    kw = dict(SETS["darcy"])
    n = kw.pop("n")
    store = tmp_path / "s"
    make_store("darcy", n, store, seed=0, client=local, shard_size=2, progress=False, **kw)
    truncated = chunk_files(store, 0)[0]
    truncated.write_bytes(truncated.read_bytes()[:-7])
    altered = chunk_files(store, 2)[1]
    data = bytearray(altered.read_bytes())
    data[len(data) // 2] ^= 0x40
    altered.write_bytes(bytes(data))
    report = verify(store)
    assert sorted(report.bad) == [0, 2] and not report.missing
    again = make_store("darcy", n, store, seed=0, client=local, progress=False, **kw)
    assert again.made == [0, 2]
    assert verify(store).ok
    assert_same_bytes(store, in_memory("darcy", n=n, **kw))
    assert len(open_dataset(store)) == n


def test_other_parameters_and_a_second_writer_are_refused_and_nothing_is_lost(local, tmp_path):
    kw = dict(SETS["darcy"])
    n = kw.pop("n")
    store = tmp_path / "s"
    make_store("darcy", n, store, seed=0, client=local, shard_size=2, progress=False, **kw)
    before = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    with pytest.raises(StoreError, match="seed: store 0, asked 1"):
        make_store("darcy", n, store, seed=1, client=local, progress=False, **kw)
    with pytest.raises(StoreError, match="alpha"):
        make_store("darcy", n, store, seed=0, client=local, progress=False, alpha=3.0, **kw)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (store / ".labkit-lock").write_text(
            json.dumps({"pid": sleeper.pid, "host": socket.gethostname()})
        )
        with pytest.raises(StoreError, match=f"being written by process {sleeper.pid}"):
            make_store("darcy", n, store, seed=0, client=local, progress=False, **kw)
    finally:
        sleeper.kill()
        sleeper.wait()
    (store / ".labkit-lock").unlink()
    with store_lock(store), pytest.raises(StoreError, match="being written"):
        make_store("darcy", n, store, seed=0, client=local, progress=False, **kw)
    after = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    assert after == before


def test_make_dataset_with_a_store_streams_the_in_memory_bytes(local, tmp_path):
    kw = dict(SETS["burgers"])
    n = kw.pop("n")
    ds = make_dataset("burgers", n, seed=4, store=tmp_path / "s", client=local, progress=False,
                      **kw)
    mem = make_dataset("burgers", n, seed=4, cache_dir=False, **kw)
    x = torch.stack([ds[i][0] for i in range(n)])
    assert torch.equal(x, mem.inputs) and torch.equal(ds[n - 1][1], mem.targets[n - 1])
