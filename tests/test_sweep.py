"""Notebook sweeps on real Dask clusters: a local cluster of 2 worker processes, a scheduler and
workers started from the command line, and a worker killed mid-sweep.

The truth for a sweep's records is ``run_notebook`` (what ``labkit run`` calls) of the same
parameters, and for the small notebook written here, the arithmetic it records.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import nbformat
import pytest
from _dask import cli_cluster, kill_one_worker, worker_pids

from labkit.cli import main
from labkit.cluster import dask_client
from labkit.notebooks import run_notebook
from labkit.sweeps import read_table, sweep

pytestmark = pytest.mark.timeout(300)


def small_notebook(folder: Path) -> Path:
    """A notebook that records a·b, a + b and a − b, and raises in cell 4 when a < 0."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# small"),
        nbformat.v4.new_code_cell(
            "smoke = False\na = 1\nb = 2.0\npause = 0.0", metadata={"tags": ["parameters"]}
        ),
        nbformat.v4.new_code_cell("import time\nfrom labkit import record\ntime.sleep(pause)"),
        nbformat.v4.new_code_cell("if a < 0:\n    raise ValueError(f'a must be >= 0, got {a}')"),
        nbformat.v4.new_code_cell(
            "record('product', a * b)\nrecord('stats', {'sum': a + b, 'diff': a - b})"
        ),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    path = folder / "small.ipynb"
    nbformat.write(nb, path)
    return path


def _executed_notebooks(out: Path) -> dict[str, float]:
    """Executed notebook -> modification time, for every run folder of a sweep."""
    return {
        str(p.relative_to(out)): p.stat().st_mtime_ns
        for p in (out / "runs").glob("*/*.ipynb")
        if not p.name.startswith(".")
    }


def test_tour_grid_on_two_worker_processes_equals_labkit_run(tmp_path, capsys):
    out = tmp_path / "sweep"
    grid = {"n": [32, 64], "sphere_resolution": [20, 28]}
    argv = ["sweep", "00_tour", "-p", "n", "32,64", "-p", "sphere_resolution", "20,28",
            "--workers", "2", "--out", str(out), "-q"]  # fmt: skip
    assert main(argv) == 0
    table = read_table(out)
    assert len(table) == 4 and set(table["status"]) == {"ok"}
    assert sorted(zip(table["n"], table["sphere_resolution"], strict=True)) == [
        (32, 20), (32, 28), (64, 20), (64, 28)
    ]  # fmt: skip
    assert table.attrs["labkit_sweep"]["records"] == ["poisson_max_error", "sphere_area_rel_error"]

    # two of the runs (each value of each parameter once) through run_notebook, in two processes
    combos = [dict(n=n, sphere_resolution=r)
              for n, r in zip(grid["n"], grid["sphere_resolution"], strict=True)]  # fmt: skip
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        runs = list(pool.map(partial(_run_tour, tmp_path / "reference"), combos))
    for params, records in zip(combos, runs, strict=True):
        n, resolution = params["n"], params["sphere_resolution"]
        row = table[(table["n"] == n) & (table["sphere_resolution"] == resolution)].iloc[0]
        assert {k: row[k] for k in records} == records
        executed = nbformat.read(out / row["executed"], as_version=4)
        assert executed.metadata["labkit"]["records"] == records
    # a CSV with the same rows
    csv = (out / "results.csv").read_text().splitlines()
    assert len(csv) == 5 and csv[0].startswith("run,n,sphere_resolution,repeat,")


def _run_tour(folder: Path, params: dict) -> dict:
    out = folder / f"{params['n']}-{params['sphere_resolution']}"
    return run_notebook("00_tour", params, out_dir=out).results


def test_failure_killed_worker_resume_and_retry(tmp_path):
    notebook = small_notebook(tmp_path)
    out = tmp_path / "sweep"
    grid = {"a": [1, 2, -1, 3], "b": [0.5, 1.5, 2.5, 3.5], "pause": [1.5]}
    with dask_client(workers=2, dashboard=False) as client:
        killed: list[int] = []

        def both_busy(c) -> bool:
            return sum(bool(keys) for keys in c.processing().values()) == 2

        killer = threading.Thread(
            target=lambda: killed.append(kill_one_worker(client, when=both_busy))
        )
        killer.start()
        grid_zipped = {"a": grid["a"], "b": grid["b"]}
        table = sweep(notebook, {**grid_zipped, "pause": [1.5, 1.5, 1.5, 1.5]}, out=out,
                      zipped=True, client=client, progress=False)  # fmt: skip
        killer.join()
        assert killed and killed[0] not in worker_pids(client)
        with pytest.raises(ProcessLookupError):
            os.kill(killed[0], 0)

        # every run recorded exactly once, in grid order; the failing one names its cell
        assert list(table["a"]) == grid["a"] and table["run"].is_unique
        assert len(read_table(out)) == 4
        ok = table[table["status"] == "ok"]
        assert list(ok["product"]) == [a * b for a, b in zip(ok["a"], ok["b"], strict=True)]
        assert list(ok["stats.sum"]) == [a + b for a, b in zip(ok["a"], ok["b"], strict=True)]
        assert list(ok["stats.diff"]) == [a - b for a, b in zip(ok["a"], ok["b"], strict=True)]
        failed = table[table["status"] == "failed"]
        assert list(failed["a"]) == [-1]
        row = failed.iloc[0]
        assert "ValueError: a must be >= 0, got -1" in row["error"]
        executed = nbformat.read(out / row["executed"], as_version=4)
        cells = [c for c in executed.cells  # papermill puts a note on the error at the top
                 if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]  # fmt: skip
        assert cells[row["failed_cell"]].source.startswith("if a < 0:")
        assert all(len(list((out / "runs" / key).glob("[!.]*.ipynb"))) == 1
                   for key in table["run"])  # fmt: skip

        # the same sweep again: nothing runs, nothing is rewritten
        before = _executed_notebooks(out)
        again = sweep(notebook, {**grid_zipped, "pause": [1.5] * 4}, out=out, zipped=True,
                      client=client, progress=False)  # fmt: skip
        assert again.attrs["labkit_sweep"]["ran"] == 0
        assert _executed_notebooks(out) == before
        assert again.drop(columns="seconds").equals(table.drop(columns="seconds"))

        # retry the failed run only
        retried = sweep(notebook, {**grid_zipped, "pause": [1.5] * 4}, out=out, zipped=True,
                        client=client, retry_failed=True, progress=False)  # fmt: skip
        assert retried.attrs["labkit_sweep"]["ran"] == 1
        after = _executed_notebooks(out)
        changed = {path for path in after if after[path] != before.get(path)}
        assert changed == {row["executed"]}
        assert len(read_table(out)) == 4


def test_scheduler_and_workers_from_the_command_line(tmp_path, capsys):
    notebook = small_notebook(tmp_path)
    out = tmp_path / "sweep"
    with cli_cluster(tmp_path / "cluster", workers=2) as address:
        argv = ["sweep", str(notebook), "-p", "a", "3", "-p", "b", "0.5", "--repeat", "2",
                "--scheduler", address, "--out", str(out), "-q"]  # fmt: skip
        assert main(argv) == 0
        table = read_table(out)
        assert list(table["a"]) == [3, 3] and sorted(table["repeat"]) == [0, 1]
        assert list(table["product"]) == [1.5, 1.5] and table["run"].is_unique
        # another notebook into the same folder: refused, nothing overwritten
        held = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
        capsys.readouterr()
        argv = ["sweep", "00_tour", "-p", "n", "32", "--scheduler", address, "--out", str(out)]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "holds a different sweep" in err[0]
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == held


@pytest.mark.parametrize(
    "params, extra, message",
    [
        ([["nope", "1,2"]], [], "does not declare parameter 'nope'"),
        ([["a", ""]], [], "empty value"),
        ([["a", "1,,2"]], [], "empty value"),
        ([["a", "1,2"], ["b", "0.5"]], ["--zip"], "equal lengths, got a: 2, b: 1"),
        ([["a", "1"], ["a", "2"]], [], "given twice"),
        ([["a", "1"]], ["--workers", "0"], "workers must be >= 1"),
        ([["a", "x"]], [], "cannot parse value 'x'"),
        ([["smoke", "True"]], [], "must not set 'smoke'"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, params, extra, message):
    notebook = small_notebook(tmp_path)
    out = tmp_path / "sweep"
    argv = ["sweep", str(notebook), *[x for p in params for x in ("-p", *p)], *extra,
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("labkit: error: ") and message in err[0]
    assert not out.exists()


def test_a_folder_holding_other_files_is_refused_untouched(tmp_path, capsys):
    notebook = small_notebook(tmp_path)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    assert main(["sweep", str(notebook), "-p", "a", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a labkit sweep" in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "my notes"


def test_api_refuses_a_string_for_a_value_list(tmp_path):
    notebook = small_notebook(tmp_path)
    with pytest.raises(TypeError, match=r"grid\['a'\] must be a list of values"):
        sweep(notebook, {"a": "12"}, out=tmp_path / "sweep")
    assert not (tmp_path / "sweep").exists()
