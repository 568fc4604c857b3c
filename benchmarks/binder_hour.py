"""A Binder hour: every notebook at its default parameters on one CPU, timed, its memory watched.

mybinder.org gives a session 1 CPU and 2 GB for about an hour. Each notebook runs as
``labkit run NAME --out DIR`` in a subprocess pinned to one CPU, with ``OMP_NUM_THREADS``,
``MKL_NUM_THREADS`` and torch at one thread and ``LABKIT_BINDER=1`` set; the resident memory of
the whole process tree (CLI, papermill, kernel) is polled. The table (notebook, wall time, peak
memory, within the bounds) is printed and written to ``--table`` (markdown). Bounds: each notebook
under 4 minutes and 2 GB, the whole set under 20 minutes.

Run it on a quiet machine (it takes the length of all the notebooks)::

    python benchmarks/binder_hour.py --table build/binder_hour.md
    python benchmarks/binder_hour.py --only 00_tour --smoke     # seconds: checks the harness

The last line is ``ratio: X``, the whole set's time over the 20-minute budget.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_LIMIT_S = 4 * 60
TOTAL_LIMIT_S = 20 * 60
MEMORY_LIMIT = 2 * 1024**3
POLL_S = 0.2


def tree_rss(proc) -> int:
    """Resident memory (bytes) of ``proc`` and all its descendants; vanished ones count 0."""
    import psutil

    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def run_measured(cmd: list[str], env: dict[str, str], timeout_s: float) -> tuple[int, float, int]:
    """Run ``cmd`` on one CPU; return (exit code, seconds, peak tree RSS in bytes)."""
    import psutil

    cpu = min(os.sched_getaffinity(0))
    start = time.perf_counter()
    popen = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )  # fmt: skip
    proc, peak = psutil.Process(popen.pid), 0
    while popen.poll() is None:
        peak = max(peak, tree_rss(proc))
        if time.perf_counter() - start > timeout_s:
            for child in proc.children(recursive=True):
                child.kill()
            popen.kill()
            break
        time.sleep(POLL_S)
    output = popen.communicate()[0].decode(errors="replace")
    elapsed = time.perf_counter() - start
    if popen.returncode != 0:
        print(output[-3000:], file=sys.stderr)
    return popen.returncode, elapsed, peak


def binder_env() -> dict[str, str]:
    """The environment of a Binder-sized run: one thread everywhere, ``LABKIT_BINDER=1``."""
    one = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    return {**os.environ, **one, "LABKIT_BINDER": "1", "MPLBACKEND": "Agg"}


def notebook_names() -> list[str]:
    """The notebooks of the lab, by name."""
    return sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))


def markdown_table(rows: dict[str, tuple[int, float, int]]) -> str:
    """One line per notebook: time, peak memory and whether both are within the bounds."""
    lines = [
        "| notebook | time (s) | peak memory (MB) | within 4 min and 2 GB |",
        "|---|---:|---:|:---:|",
    ]
    for name, (rc, seconds, peak) in rows.items():
        ok = rc == 0 and seconds <= NOTEBOOK_LIMIT_S and peak <= MEMORY_LIMIT
        status = "yes" if ok else ("**failed**" if rc else "**no**")
        lines.append(f"| {name} | {seconds:.0f} | {peak / 1024**2:.0f} | {status} |")
    total = sum(seconds for _, seconds, _ in rows.values())
    lines.append(f"| **all** | {total:.0f} | | {'yes' if total <= TOTAL_LIMIT_S else '**no**'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=None, help="these notebooks (default: all)")
    parser.add_argument(
        "--smoke", action="store_true", help="smoke parameters (checks the harness)"
    )
    parser.add_argument("--table", default=None, help="write the markdown table here too")
    parser.add_argument("--out", default=None, help="keep the executed notebooks here")
    args = parser.parse_args(argv)
    names = notebook_names()
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        parser.error(f"--only: no notebook named {unknown}; choose among {names}")
    labkit = Path(sys.executable).parent / "labkit"
    cli = [str(labkit)] if labkit.exists() else [sys.executable, "-m", "labkit.cli"]
    rows: dict[str, tuple[int, float, int]] = {}
    with tempfile.TemporaryDirectory(prefix="binder-hour-") as tmp:
        out = args.out or tmp
        for name in args.only or names:
            cmd = [*cli, "run", name, "--out", out, *(["--smoke"] if args.smoke else [])]
            rows[name] = run_measured(cmd, binder_env(), timeout_s=2 * NOTEBOOK_LIMIT_S)
            rc, seconds, peak = rows[name]
            print(f"{name}: {seconds:.1f} s, peak {peak / 1024**2:.0f} MB, exit {rc}", flush=True)
    table = markdown_table(rows)
    print(table)
    if args.table:
        path = Path(args.table)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_table = path.with_name(path.name + ".tmp")
        tmp_table.write_text(table)
        tmp_table.replace(path)
    total = sum(seconds for _, seconds, _ in rows.values())
    print(f"ratio: {total / TOTAL_LIMIT_S:.3f}")
    return 0 if all(rc == 0 for rc, _, _ in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
