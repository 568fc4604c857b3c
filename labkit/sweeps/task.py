"""One run of a sweep: its key, and the task that executes it on a Dask worker.

A run's key hashes the notebook's bytes, its parameters, smoke mode and repeat index, so the
same run always lands in the same folder (``DIR/runs/KEY``) and a resumed sweep knows it.
The task depends on its arguments only, so Dask may run it again elsewhere when a worker dies.

Examples
--------
>>> a = run_key(b"{}", {"n": 16, "seed": 0}, smoke=True, repeat=0)
>>> a == run_key(b"{}", {"seed": 0, "n": 16}, smoke=True, repeat=0)
True
>>> a == run_key(b"{}", {"n": 16, "seed": 1}, smoke=True, repeat=0), len(a)
(False, 16)
>>> git_blob_id(b"hello\\n")  # what `git hash-object` prints for the same bytes
'ce013625030ba8dba906f756967f9e9ca394464a'
>>> failed_cell("00_tour: cell 7 (execution count 5, `u = f(x)`) raised ValueError: bad")
7
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["failed_cell", "git_blob_id", "git_commit", "run_key", "run_one"]

_CELL = re.compile(r"\bcell (\d+) \(")
_ONE_AT_A_TIME = threading.Lock()  # papermill changes the process's working folder


def run_key(content: bytes, parameters: dict[str, Any], *, smoke: bool, repeat: int) -> str:
    """16 hex digits of the SHA-256 of the notebook's bytes and the run's settings."""
    settings = json.dumps(
        {"parameters": parameters, "smoke": bool(smoke), "repeat": int(repeat)},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(content + b"\0" + settings.encode()).hexdigest()[:16]


def git_blob_id(content: bytes) -> str:
    """The git object id of ``content`` (``git hash-object``), with or without a repository."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def git_commit(path: Path, content: bytes) -> str | None:
    """The last commit that changed ``path``, when ``path`` is in a git repository and its bytes
    are those of that commit; ``None`` otherwise (not in a repository, untracked, edited)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(path.parent), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return done.stdout.strip()

    try:
        commit = git("log", "-1", "--format=%H", "--", path.name)
        committed = git("rev-parse", f"{commit}:./{path.name}") if commit else ""
    except (OSError, subprocess.SubprocessError):
        return None
    return commit if commit and committed == git_blob_id(content) else None


def failed_cell(message: str) -> int | None:
    """The index of the failing cell named in a ``NotebookError`` message, if it names one."""
    match = _CELL.search(message)
    return int(match.group(1)) if match else None


def _executed(out_dir: Path) -> str | None:
    notebooks = sorted(p for p in out_dir.glob("*.ipynb") if not p.name.startswith("."))
    return str(notebooks[0]) if notebooks else None


def run_one(
    notebook: str,
    parameters: dict[str, Any],
    smoke: bool,
    out_dir: str,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Execute ``notebook`` once with ``parameters`` into ``out_dir``; never raises.

    Returns
    -------
    dict
        ``status`` (``"ok"`` or ``"failed"``), ``seconds``, ``records``, ``failed_cell`` and
        ``error`` (for a failed run), and ``executed``, the path of the executed notebook.
    """
    from labkit.notebooks import NotebookError, run_notebook

    out = Path(out_dir)
    start = time.perf_counter()
    try:
        with _ONE_AT_A_TIME:
            run = run_notebook(notebook, parameters, smoke=smoke, out_dir=out, timeout=timeout)
    except NotebookError as exc:
        message = str(exc)
    except Exception as exc:  # a bug or a broken environment: recorded, the sweep goes on
        message = f"{type(exc).__name__}: {exc}"
    else:
        return {
            "status": "ok",
            "seconds": run.seconds,
            "records": run.results,
            "failed_cell": None,
            "error": None,
            "executed": str(run.notebook),
        }
    return {
        "status": "failed",
        "seconds": time.perf_counter() - start,
        "records": {},
        "failed_cell": failed_cell(message),
        "error": message,
        "executed": _executed(out) if out.is_dir() else None,
    }
