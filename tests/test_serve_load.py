"""A classroom on ``labkit serve spectrum``: 30 Bokeh client sessions at once, and bad clients.

Real sessions (``bokeh.client``, see ``labkit.viz.classroom``) against a real ``labkit serve``
subprocess on 127.0.0.1. Checked: every update of every student arrives; no student ever sees
another's value (while it waits for its move, it only sees its previous value or the new one);
the ranked plot draws the demo spectrum's largest eigenvalues; the server's memory comes back to
within 10 % of idle once the sessions close; and a client that never sends ``document_ready``, or
that drops in the middle of an update, costs the server no CPU once it has stopped sending.
No timing is asserted (the benchmark ``benchmarks/serve_classroom.py`` measures it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psutil
import pytest

from labkit.viz import apps, demo
from labkit.viz.classroom import moves_for, open_student, run_room

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "browser"))
from _browser import free_port, labkit_command, stop, wait_for_http  # noqa: E402

pytestmark = pytest.mark.timeout(300)

STUDENTS = 30
MOVES = 20
K_MAX = 20  # the demo spectrum's slider runs 1..20
FIRST_K = 10  # and starts at min(20, 10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``labkit serve spectrum`` on a free port; yields (process, URL)."""
    log = tmp_path_factory.mktemp("serve-load") / "serve.log"
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "w") as handle:
        proc = subprocess.Popen(
            labkit_command() + ["serve", "spectrum", "--port", str(port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}/spectrum"
    try:
        wait_for_http(url, proc, timeout=240, log=log)
        yield proc, url
    finally:
        stop(proc)


def _processes(proc: subprocess.Popen) -> list[psutil.Process]:
    root = psutil.Process(proc.pid)
    return [root, *root.children(recursive=True)]


def _rss(proc: subprocess.Popen) -> int:
    return sum(p.memory_info().rss for p in _processes(proc))


def _cpu_seconds(proc: subprocess.Popen) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in _processes(proc))


def _settled_rss(proc: subprocess.Popen, at_most: float | None = None, wait: float = 30.0) -> int:
    """The lowest memory seen while closed sessions are cleaned up (until ``<= at_most``)."""
    lowest = _rss(proc)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and (at_most is None or lowest > at_most):
        time.sleep(0.5)
        lowest = min(lowest, _rss(proc))
    return lowest


def _quiet_cpu(proc: subprocess.Popen, window: float = 3.0, wait: float = 30.0) -> float:
    """CPU seconds the server used over ``window`` seconds, the least of windows in ``wait``."""
    least = float("inf")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and least > 0.05 * window:
        before = _cpu_seconds(proc)
        time.sleep(window)
        least = min(least, _cpu_seconds(proc) - before)
    return least


def test_a_room_of_30_students_each_sees_its_own_updates(server):
    proc, url = server
    run_room(url, 1, 2, K_MAX)  # warm-up: the first session loads what every session needs
    idle = _settled_rss(proc, wait=apps.SESSION_LIFETIME_MS / 1000 + 3)

    reports = run_room(url, STUDENTS, MOVES, K_MAX, timeout=120)

    assert [e for r in reports for e in r.errors] == []
    _, first_model, _ = next(iter(demo.demo_spectrum().values()))  # the model shown first
    top = np.sort(first_model.eigenvalues)[::-1]
    for i, report in enumerate(reports):
        moves = moves_for(i, MOVES, K_MAX)
        assert len(report.seconds) == MOVES, f"student {i}: not every update arrived"
        for j, *shown in report.seen:
            allowed = {moves[j], moves[j - 1] if j else FIRST_K}
            assert set(shown) <= allowed, f"student {i}, move {j}: saw {shown}, not {allowed}"
        np.testing.assert_allclose(report.ranked, top[: moves[-1]], rtol=1e-9)

    after = _settled_rss(proc, at_most=1.10 * idle)
    assert after <= 1.10 * idle, f"memory {after / idle - 1:+.0%} of idle after the room closed"


def test_careless_and_dropped_clients_cost_no_cpu_once_they_stop(server):
    # Bokeh's client runs its own event loop: in a thread of its own, so that no loop another
    # test left in the main thread gets in its way (as the 30 students run in threads).
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_careless_and_dropped, server).result()


def _careless_and_dropped(server):
    proc, url = server
    careless = open_student(url, ready=False)  # moves a widget, never says document_ready
    for value in (3, 7, 12, 5):
        careless.move(value)
    careless.session.force_roundtrip()
    dropped = open_student(url)  # closes its socket while the server is updating it
    dropped.move(9)
    dropped.session.force_roundtrip()  # the move has reached the server
    dropped.drop()

    # Past the grace the server treats the careless session as ready: its next move is drawn.
    time.sleep(apps.READY_GRACE_MS / 1000 + 1)
    careless.move(8)
    assert careless.wait_for(lambda: careless.state() == (8, 8, 8), timeout=60)
    used = _quiet_cpu(proc)
    assert used <= 0.05 * 3.0, f"the server used {used:.2f} s of CPU in 3 s with idle clients"

    careless.close()
