"""The parts of a sweep that need no cluster: value lists, grids, flattened records, notebook
revisions against git itself, and the explorer's power-law fit against known power laws."""

from __future__ import annotations

import itertools
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from labkit.sweeps.grid import check_grid, expand_grid, parse_values
from labkit.sweeps.table import flatten, make_table, read_table, write_table
from labkit.sweeps.task import git_blob_id, git_commit, run_key
from labkit.viz.sweep import demo_sweep, fit_power_law, sweep_explorer, sweep_view


@pytest.mark.parametrize(
    "text, default, expected",
    [
        ("16,32,64", 128, [16, 32, 64]),
        ("1e-3, 0.01", 0.1, [0.001, 0.01]),
        ("fno,unet", "fno", ["fno", "unet"]),
        ("[1, 2],[3]", [0], [[1, 2], [3]]),
        ("'a,b',c", "x", ["a,b", "c"]),
        ("1,-1,2", 0, [1, -1, 2]),
    ],
)
def test_value_lists_parse_like_labkit_run(text, default, expected):
    assert parse_values("p", text, default) == expected


def test_product_and_zip_follow_itertools():
    grid = {"a": [1, 2, 3], "b": ["x", "y"], "c": [0.5]}
    product = expand_grid(check_grid(grid, grid, "nb"))
    assert [tuple(r.values()) for r in product] == list(itertools.product(*grid.values()))
    grid = {"a": [1, 2], "b": [np.int64(3), np.int64(4)]}
    zipped = expand_grid(check_grid(grid, grid, "nb", zipped=True), zipped=True)
    assert zipped == [{"a": 1, "b": 3}, {"a": 2, "b": 4}]
    assert all(type(r["b"]) is int for r in zipped)  # numpy scalars become plain Python


def test_run_key_depends_on_bytes_parameters_smoke_and_repeat():
    base = run_key(b"nb", {"n": 1}, smoke=False, repeat=0)
    others = [
        run_key(b"nb ", {"n": 1}, smoke=False, repeat=0),
        run_key(b"nb", {"n": 2}, smoke=False, repeat=0),
        run_key(b"nb", {"n": 1}, smoke=True, repeat=0),
        run_key(b"nb", {"n": 1}, smoke=False, repeat=1),
    ]
    assert len({base, *others}) == 5


def test_nested_records_flatten_to_dotted_columns_and_round_trip(tmp_path):
    rows = [
        {"run": "r1", "n": 1, "repeat": 0,
         **flatten({"err": {"1x": 0.1, "2x": 0.2}, "eigs": [3.0, 1.0], "label": "a"}),
         "status": "ok"},
        {"run": "r2", "n": 2, "repeat": 0, "status": "failed", "failed_cell": 3, "error": "boom"},
    ]  # fmt: skip
    table = make_table(rows, ["n"], {"notebook": "nb"})
    assert list(table.columns[:8]) == ["run", "n", "repeat", "err.1x", "err.2x", "eigs[0]",
                                       "eigs[1]", "label"]  # fmt: skip
    write_table(table, tmp_path)
    back = read_table(tmp_path)
    pd.testing.assert_frame_equal(back, table, check_dtype=False)
    assert back.attrs["labkit_sweep"]["records"] == ["err.1x", "err.2x", "eigs[0]", "eigs[1]",
                                                     "label"]  # fmt: skip
    csv = pd.read_csv(tmp_path / "results.csv")
    assert csv["err.2x"].iloc[0] == 0.2 and csv["error"].iloc[1] == "boom"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")
def test_notebook_revision_is_what_git_says(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_bytes(b'{"cells": []}\n')
    blob = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    assert git_blob_id(path.read_bytes()) == blob
    assert git_commit(path, path.read_bytes()) is None  # not in a repository

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip

    git("init", "-q")
    git("add", "nb.ipynb")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "nb")
    assert git_commit(path, path.read_bytes()) == git("rev-parse", "HEAD")
    path.write_bytes(b'{"cells": [1]}\n')  # edited since the commit: no commit describes it
    assert git_commit(path, path.read_bytes()) is None


@pytest.mark.parametrize("c, alpha", [(0.8, 0.5), (3.0, 1.25), (0.05, -0.3)])
def test_power_law_fit_recovers_a_known_law(c, alpha):
    n = np.array([16, 32, 64, 128, 256, 512], dtype=float)
    law = fit_power_law(n, c * n ** (-alpha))
    assert law.c == pytest.approx(c, rel=1e-12) and law.alpha == pytest.approx(alpha, abs=1e-12)
    assert law.n_points == len(n)


def test_sweep_view_means_deviations_and_fit_per_colour():
    rows = []
    for model, (c, alpha) in {"fno": (2.0, 0.5), "unet": (1.0, 0.25)}.items():
        for n in (10, 20, 40, 80):
            for seed in range(3):  # the same multiplicative noise in every column of a seed
                rows.append({"model": model, "n": n, "seed": seed, "status": "ok",
                             "err": c * n ** -alpha * np.exp(0.1 * (seed - 1))})  # fmt: skip
    rows.append({"model": "fno", "n": 10, "seed": 9, "status": "failed", "err": np.nan})
    rows.append({"model": "fno", "n": 20, "seed": 5, "status": "ok", "err": 1e-9})  # below x-cut
    table = pd.DataFrame(rows[:-1] + [rows[-1] | {"n": 5}])
    view = sweep_view(table, x="n", y="err", colour="model", fit=True, fit_from=1)
    ok = table[table["status"] == "ok"]
    for series, (model, group) in zip(view.series, ok.groupby("model"), strict=True):
        stats = group.groupby("n")["err"].agg(["mean", "std", "count"])
        np.testing.assert_allclose(series.x, stats.index.to_numpy(float))
        np.testing.assert_allclose(series.mean, stats["mean"], rtol=1e-14)
        np.testing.assert_allclose(series.std, stats["std"].fillna(0), rtol=1e-14)
        # the fit skips the smallest x (the outlier at n = 5 for fno); seeds' noise is the
        # same factor at every n, so the exponent is exact
        c, alpha = {"fno": (2.0, 0.5), "unet": (1.0, 0.25)}[model]
        assert series.fit.alpha == pytest.approx(alpha, abs=1e-12)
        assert series.fit.c == pytest.approx(c * np.exp(0.1 * np.mean([-1, 0, 1])), rel=0.01)
    with pytest.raises(ValueError, match="x must be a column"):
        sweep_view(table, x="nope", y="err")


def test_explorer_moves_the_fit_when_its_slider_moves():
    import panel as pn
    from bokeh.document import Document

    app = sweep_explorer(demo_sweep(n_values=(16, 64, 256, 1024), seeds=2), colour="method",
                         fit=True)  # fmt: skip
    doc = Document()
    doc.add_root(app.get_root(doc))
    slider = app.select(pn.widgets.IntSlider)[0]
    events = []
    doc.on_change(events.append)
    slider.value = 1
    assert any(type(getattr(e, "model", None)).__name__ == "ColumnDataSource" for e in events)
