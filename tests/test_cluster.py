"""labkit.cluster: a local cluster started and stopped by the call, a scheduler reached by
address (started from the command line), and clear errors."""

import os

import pytest
from _dask import cli_cluster, worker_pids

from labkit.cluster import ClusterError, dask_client


def _pid():
    return os.getpid()


def test_local_cluster_runs_tasks_in_worker_processes_and_stops():
    with dask_client(workers=2, dashboard=False) as client:
        pids = set(client.gather([client.submit(_pid, pure=False) for _ in range(8)]))
        assert pids <= set(worker_pids(client)) and os.getpid() not in pids
        cluster = client.cluster
    assert cluster.status.name == "closed"


def test_scheduler_address_from_the_command_line(tmp_path):
    with cli_cluster(tmp_path, workers=2) as address:
        with dask_client(address) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            assert client.submit(sum, [1, 2, 3]).result() == 6
            # the caller's client is used as is and not closed
            with dask_client(client) as same:
                assert same is client
            assert client.status == "running"
        assert client.status == "closed"


def test_a_scheduler_that_does_not_answer_is_one_clear_error():
    with pytest.raises(ClusterError, match="no Dask scheduler answers at 'tcp://127.0.0.1:9'"):
        with dask_client("tcp://127.0.0.1:9", timeout=1):
            pass


def test_bad_arguments_name_themselves():
    with pytest.raises(TypeError, match="client must be"):
        with dask_client(3):
            pass
    with pytest.raises(ValueError, match="workers must be >= 1"):
        with dask_client(workers=0):
            pass
