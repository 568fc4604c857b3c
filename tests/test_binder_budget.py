"""Binder reality: every notebook at its default (not smoke) parameters on one CPU within 2 GB.

Each notebook runs as ``labkit run NAME --out DIR`` in a subprocess pinned to one CPU with
``OMP_NUM_THREADS=1``; the resident memory of the whole process tree (CLI, papermill, kernel) is
polled and its peak must stay under 2 GB (mybinder.org restarts the kernel above that). A markdown
table of time and peak memory per notebook is written to ``$LABKIT_BINDER_TABLE`` (default
``build/binder_budget.md``) for the README.

Expensive: the notebook runs happen only with ``LABKIT_BINDER=1`` (marker ``binder``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from binder_hour import binder_env, run_measured  # noqa: E402 - the measurement the README uses

LIMIT_BYTES = 2 * 1024**3
TIME_LIMIT_S = 20 * 60

binder_only = pytest.mark.skipif(
    os.environ.get("LABKIT_BINDER") != "1", reason="Binder budget run: set LABKIT_BINDER=1"
)


def _notebooks() -> list[str]:
    return sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def table():
    rows: dict[str, tuple[float, float, str]] = {}
    yield rows
    path = Path(os.environ.get("LABKIT_BINDER_TABLE", ROOT / "build" / "binder_budget.md"))
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "| notebook | time (s) | peak memory (MB) | within 2 GB |",
        "|---|---:|---:|:---:|",
        *(
            f"| {name} | {seconds:.0f} | {peak_mb:.0f} | {ok} |"
            for name, (seconds, peak_mb, ok) in sorted(rows.items())
        ),
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    print(f"\nBinder budget table written to {path}")


def test_tree_rss_sees_a_child_allocation():
    code = (
        "import time; b = bytearray(300 * 1024**2); b[::4096] = b'x' * len(b[::4096]); "
        "time.sleep(2)"
    )
    env = {**os.environ}
    rc, _, peak = run_measured([sys.executable, "-c", code], env, timeout_s=60)
    assert rc == 0
    assert 300 * 1024**2 < peak < 600 * 1024**2


@pytest.mark.binder
@binder_only
@pytest.mark.parametrize("name", _notebooks())
def test_notebook_fits_binder(name, table, tmp_path):
    labkit = Path(sys.executable).parent / "labkit"
    cmd = [str(labkit), "run", name, "--out", str(tmp_path)]
    rc, seconds, peak = run_measured(cmd, binder_env(), TIME_LIMIT_S)
    ok = rc == 0 and peak <= LIMIT_BYTES
    table[name] = (seconds, peak / 1024**2, "yes" if ok else "**no**")
    assert rc == 0, f"{name} failed at default parameters (exit {rc}) after {seconds:.0f} s"
    assert peak <= LIMIT_BYTES, f"{name} peaked at {peak / 1024**3:.2f} GB (limit 2 GB)"
