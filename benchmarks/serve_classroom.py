"""A classroom on ``labkit serve spectrum``: time per slider update with 1, 10 and 30 students.

Each student is a Bokeh client session on 127.0.0.1 (``labkit.viz.classroom``) that moves the
"top k" slider and waits until the summary, the ranked plot's title and its data show its own
value. Prints p50/p95 seconds per update for each room size, the server's memory (idle, peak,
after the sessions closed), and as the last line ``ratio: X`` = p95 at the largest room / p95
with one student.

    python benchmarks/serve_classroom.py            # 1, 10, 30 students, 20 moves each
    python benchmarks/serve_classroom.py --smoke    # 1 and 4 students, 4 moves each
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import psutil

from labkit.viz.classroom import run_room

K_MAX = 20  # the demo spectrum's slider runs 1..20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, extra: list[str]) -> subprocess.Popen:
    """``labkit serve spectrum`` in a subprocess; returns once the page answers."""
    # ``labkit serve spectrum``; with extra serving options, the same server through
    # ``python -m labkit.viz.apps`` (which takes --processes/--threads).
    entry = ["labkit.viz.apps"] if extra else ["labkit.cli", "serve"]
    cmd = [sys.executable, "-m", *entry, "spectrum", "--port", str(port), *extra]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ}
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/spectrum", timeout=5).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}") from None
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the server did not answer within 120 s")


def rss(proc: subprocess.Popen) -> int:
    """Resident memory of the server and its child processes, in bytes."""
    root = psutil.Process(proc.pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])


def cpu_seconds(proc: subprocess.Popen | None) -> float:
    """CPU seconds used by the server and its children (``None``: this process)."""
    root = psutil.Process(proc.pid if proc is not None else None)
    family = [root, *root.children(recursive=True)] if proc is not None else [root]
    return sum(sum(p.cpu_times()[:2]) for p in family)


def settle(proc: subprocess.Popen, seconds: float = 15.0) -> int:
    """Memory once closed sessions have been cleaned up (the lowest over ``seconds``)."""
    lowest = rss(proc)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.5)
        lowest = min(lowest, rss(proc))
    return lowest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="1 and 4 students, 4 moves")
    parser.add_argument("--rooms", type=int, nargs="+", default=None)
    parser.add_argument("--moves", type=int, default=None)
    parser.add_argument("--serve-args", default="", help="e.g. '--processes 2 --threads 2'")
    args = parser.parse_args(argv)
    rooms = args.rooms or ([1, 4] if args.smoke else [1, 10, 30])
    moves = args.moves or (4 if args.smoke else 20)
    wait = 4.0 if args.smoke else 15.0  # seconds for closed sessions to be cleaned up

    port = free_port()
    proc = start_server(port, args.serve_args.split())
    url = f"http://127.0.0.1:{port}/spectrum"
    try:
        run_room(url, 1, 2, K_MAX)  # warm-up: the first session imports what sessions need
        idle = settle(proc, wait)
        print(f"server memory idle: {idle / 2**20:.0f} MiB")
        p95 = {}
        for n in rooms:
            start, cpu = time.perf_counter(), (cpu_seconds(proc), cpu_seconds(None))
            reports = run_room(url, n, moves, K_MAX)
            wall = time.perf_counter() - start
            server_cpu, client_cpu = cpu_seconds(proc) - cpu[0], cpu_seconds(None) - cpu[1]
            errors = [e for r in reports for e in r.errors]
            seconds = np.array([s for r in reports for s in r.seconds])
            p50, p95[n] = np.percentile(seconds, [50, 95]) if seconds.size else (np.nan,) * 2
            after = settle(proc, wait)
            print(
                f"{n:3d} students x {moves} moves: p50 {p50:.3f} s  p95 {p95[n]:.3f} s  "
                f"({seconds.size} updates, {len(errors)} errors, {wall:.1f} s in all, CPU "
                f"{server_cpu:.1f} s server + {client_cpu:.1f} s students); "
                f"memory after close {after / 2**20:.0f} MiB ({after / idle - 1:+.0%} of idle)"
            )
            for error in errors[:3]:
                print(f"    error: {error}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"ratio: {p95[rooms[-1]] / p95[rooms[0]]:.2f}")


if __name__ == "__main__":
    main()
