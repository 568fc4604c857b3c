"""``sweep``: run a notebook over a parameter grid on a Dask cluster, gather one table.

The client submits one task per run (:func:`labkit.sweeps.task.run_one`), each in its own kernel
and its own folder ``DIR/runs/KEY``, and is the only writer of the table: it adds a row when a
run's future finishes, keyed by the run's key, so a task that Dask reruns after a worker died is
recorded once. The table is rewritten atomically after every run, so an interrupted sweep keeps
what finished, and the next call resumes.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labkit._checks import check_int, check_type
from labkit._io import atomic_write
from labkit.sweeps.grid import check_grid, expand_grid
from labkit.sweeps.table import META, flatten, make_table, read_table, write_table
from labkit.sweeps.task import git_blob_id, git_commit, run_key, run_one

__all__ = ["sweep"]

MANIFEST = "sweep.json"


def _identity(notebook: Path, smoke: bool) -> dict[str, Any]:
    return {"notebook": notebook.stem, "smoke": bool(smoke)}


def _claim(out: Path, identity: dict[str, Any]) -> None:
    """Make ``out`` this sweep's folder, or refuse one that holds something else."""
    manifest = out / MANIFEST
    if out.exists() and not out.is_dir():
        raise ValueError(f"out {str(out)!r} is a file; give a folder for the sweep")
    if manifest.is_file():
        try:
            held = json.loads(manifest.read_text())
        except ValueError:
            held = None
        if held != identity:
            raise ValueError(
                f"out {str(out)!r} holds a different sweep ({held}, not {identity}); "
                "give another folder"
            )
        return
    if out.is_dir() and any(out.iterdir()):
        raise ValueError(
            f"out {str(out)!r} holds files that are not a labkit sweep; give a new or empty folder"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"out {str(out)!r} cannot be created: {exc}") from None
    text = json.dumps(identity, indent=2) + "\n"
    atomic_write(manifest, lambda fh: fh.write(text.encode()))


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` so that two sweeps never write one table at once."""
    import fcntl

    with open(out / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ValueError(
                f"out {str(out)!r} is in use by another running sweep; wait for it or give "
                "another folder"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _relative(path: str | None, out: Path) -> str | None:
    if path is None:
        return None
    try:
        return str(Path(path).resolve().relative_to(out.resolve()))
    except ValueError:
        return path


def _row(plan: dict[str, Any], result: dict[str, Any], out: Path, fixed: dict[str, Any]):
    row: dict[str, Any] = {"run": plan["key"], **plan["parameters"], "repeat": plan["repeat"]}
    taken = set(row) | set(fixed) | {"status", "seconds", "failed_cell", "error", "executed"}
    for name, value in flatten(result["records"]).items():
        row[f"record.{name}" if name in taken else name] = value
    row.update(
        status=result["status"],
        seconds=round(float(result["seconds"]), 3),
        failed_cell=result["failed_cell"],
        error=result["error"],
        executed=_relative(result["executed"], out),
        **fixed,
    )
    return row


def _died(exc: BaseException) -> dict[str, Any]:
    return {
        "status": "failed",
        "seconds": float("nan"),
        "records": {},
        "failed_cell": None,
        "error": f"the task did not finish: {type(exc).__name__}: {exc}",
        "executed": None,
    }


def _existing(out: Path) -> dict[str, dict[str, Any]]:
    if not (out / "results.parquet").is_file():
        return {}
    table = read_table(out)
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    return {row["run"]: {k: v for k, v in row.items() if v is not None} for row in rows}


def sweep(
    notebook: str | os.PathLike,
    grid: Mapping[str, Any],
    *,
    out: str | os.PathLike,
    zipped: bool = False,
    repeat: int = 1,
    smoke: bool = False,
    client: Any = None,
    workers: int | None = None,
    retry_failed: bool = False,
    timeout: float | None = None,
    progress: bool = True,
):
    """Run ``notebook`` over a parameter grid on a Dask cluster; return one row per run.

    Each run executes through :func:`labkit.run_notebook` in its own kernel and its own folder
    ``out/runs/KEY``; ``KEY`` hashes the notebook's bytes and the run's parameters. Runs already
    in ``out``'s table are not run again (failed ones are with ``retry_failed``).

    Parameters
    ----------
    notebook
        A notebook name (``"00_tour"``), unique prefix or path.
    grid
        Parameter name -> list of values; every name must be declared in the notebook's
        ``parameters`` cell.
    out
        The sweep's folder: ``results.parquet``, ``results.csv``, ``sweep.json`` and ``runs/``.
        A folder that holds another sweep (another notebook or smoke mode) or other files is
        refused.
    zipped
        Pair the value lists element by element instead of taking their Cartesian product.
    repeat
        Runs per parameter combination (for notebooks whose result varies from run to run).
    smoke
        Run the notebook's smoke mode.
    client, workers
        Where the runs go (see :func:`labkit.cluster.dask_client`): ``None`` for a local cluster
        of ``workers`` processes started for this call, a scheduler address, or a ``Client``.
    retry_failed
        Run again the runs that the table records as failed.
    timeout
        Per-cell time limit in seconds.
    progress
        Show runs done / failed / left.

    Returns
    -------
    pandas.DataFrame
        The rows of this grid (in grid order): ``run``, the parameters, ``repeat``, the records
        (nested ones flattened, ``a.b``, ``a[0]``), ``status``, ``seconds``, ``failed_cell``,
        ``error``, ``smoke``, ``notebook``, ``notebook_revision`` (git blob id),
        ``notebook_commit``, ``labkit_version`` and ``executed`` (relative to ``out``).
        ``attrs["labkit_sweep"]`` names the parameter and record columns and counts the runs
        this call executed (``"ran"``). ``out/results.parquet`` holds every run recorded in
        ``out``, this call's and earlier ones'.

    Raises
    ------
    ValueError, TypeError
        Bad input (an undeclared parameter, an empty value list, zipped lists of unequal length,
        an ``out`` folder holding something else), before anything runs or is written.
    labkit.cluster.ClusterError
        When the cluster cannot be reached or started.

    Examples
    --------
    >>> import labkit
    >>> table = labkit.sweep("00_tour", {"n": [64, 128]}, out="sweeps/tour")  # doctest: +SKIP
    >>> table[["n", "poisson_max_error", "status"]]  # doctest: +SKIP
    """
    import labkit
    from labkit.cluster import dask_client
    from labkit.notebooks import declared_parameters, find_notebook

    repeat = check_int("repeat", repeat, minimum=1)
    if workers is not None:
        check_int("workers", workers, minimum=1)
    check_type("zipped", zipped, bool)
    check_type("smoke", smoke, bool)
    if timeout is not None:
        from labkit._checks import check_positive

        check_positive("timeout", timeout)
    path = find_notebook(str(notebook)).resolve()
    declared = declared_parameters(path)
    values = check_grid(grid, declared, path.stem, zipped=zipped)
    if "smoke" in values:
        raise ValueError("grid must not set 'smoke'; use smoke=True (--smoke) for smoke mode")
    out = Path(out)
    content = path.read_bytes()
    identity = _identity(path, smoke)
    _claim(out, identity)

    fixed = {
        "smoke": smoke,
        "notebook": path.stem,
        "notebook_revision": git_blob_id(content),
        "notebook_commit": git_commit(path, content),
        "labkit_version": labkit.__version__,
    }
    plans = [
        {"key": run_key(content, params, smoke=smoke, repeat=r), "parameters": params, "repeat": r}
        for params in expand_grid(values, zipped=zipped)
        for r in range(repeat)
    ]
    names = list(values)
    with _locked(out):
        rows = _existing(out)
        known = [
            n
            for n in dict.fromkeys(k for row in rows.values() for k in row)
            if n in declared and n not in META
        ]
        columns = list(dict.fromkeys([*names, *known]))
        todo = [
            p
            for p in plans
            if p["key"] not in rows or (retry_failed and rows[p["key"]].get("status") != "ok")
        ]
        todo = list({p["key"]: p for p in todo}.values())
        info = {**identity, "ran": 0}
        _say(
            progress,
            f"{path.stem}: {len(plans)} runs, {len(plans) - len(todo)} recorded already, "
            f"{len(todo)} to run",
        )
        try:
            if todo:
                with dask_client(client, workers=workers) as dask:
                    if getattr(dask, "dashboard_link", None):
                        _say(progress, f"Dask dashboard: {dask.dashboard_link}")
                    info["ran"] = _run_all(dask, todo, path, smoke, out, timeout, fixed, rows,
                                           lambda: make_table(list(rows.values()), columns, info),
                                           progress)  # fmt: skip
        finally:  # also when interrupted: what finished is kept
            table = make_table(list(rows.values()), columns, info)
            if todo or not (out / "results.parquet").is_file():
                write_table(table, out)
    order = {p["key"]: i for i, p in enumerate(plans)}
    mine = table[table["run"].isin(order)].copy()
    mine = mine.iloc[mine["run"].map(order).argsort()].reset_index(drop=True)
    mine.attrs = table.attrs
    return mine


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def _run_all(dask, todo, path, smoke, out, timeout, fixed, rows, table, progress) -> int:
    """Submit every planned run, record each as it finishes; return how many finished."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    runs = out / "runs"
    runs.mkdir(exist_ok=True)
    futures = {
        dask.submit(
            run_one,
            str(path),
            plan["parameters"],
            smoke,
            str((runs / plan["key"]).resolve()),
            timeout,
            key=f"labkit-sweep-{plan['key']}",
            pure=False,
        ): plan
        for plan in todo
    }
    done = failed = 0
    last_write = time.monotonic()
    bar = tqdm(total=len(todo), desc="sweep", unit="run", disable=not progress, file=sys.stderr)
    try:
        for future in as_completed(futures, loop=dask.loop):
            plan = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # the task's worker died too often, or it was lost
                result = _died(exc)
            rows[plan["key"]] = _row(plan, result, out, fixed)
            if result["status"] == "ok":
                done += 1
            else:
                failed += 1
            left = len(todo) - done - failed
            bar.set_postfix_str(f"done {done}, failed {failed}, left {left}", refresh=False)
            bar.update(1)
            if time.monotonic() - last_write > 1.0:
                write_table(table(), out)
                last_write = time.monotonic()
    finally:
        bar.close()
        for future in futures:
            future.cancel()
    return done + failed
