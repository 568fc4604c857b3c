"""Sweep explorer: any record of a sweep against any parameter, repeats as mean ± deviation,
log axes, and a power law ``y ≈ c·x^(−α)`` fitted on demand.

The input is a sweep's table (``labkit.sweep(...)``, ``labkit.sweeps.read_table(DIR)``, a sweep
folder or its ``results.parquet``) or any table of numbers (a DataFrame or a mapping of
columns). Rows whose ``status`` is not ``"ok"`` are left out. Points with the same x and colour
are repeats (other seeds, ``--repeat``): they are drawn as their mean with error bars of one
standard deviation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labkit._checks import check_int
from labkit.viz import theme

__all__ = [
    "PowerLaw",
    "SweepSeries",
    "SweepView",
    "demo_sweep",
    "fit_power_law",
    "sweep_explorer",
    "sweep_view",
]

_META = {"run", "repeat", "status", "seconds", "failed_cell", "error", "smoke", "notebook",
         "notebook_revision", "notebook_commit", "labkit_version", "executed"}  # fmt: skip


@dataclass
class PowerLaw:
    """``y ≈ c·x^(−alpha)``, fitted by least squares on ``log y = log c − alpha·log x``."""

    c: float
    alpha: float
    n_points: int

    def __call__(self, x: Any) -> np.ndarray:
        return self.c * np.asarray(x, dtype=float) ** (-self.alpha)

    def label(self, x: str = "x") -> str:
        return f"{self.c:.3g}·{x}^(−{self.alpha:.3g})"


@dataclass
class SweepSeries:
    """One colour of the plot: x values, mean and standard deviation of y, repeats per x."""

    label: str
    x: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    count: np.ndarray
    fit: PowerLaw | None = None


@dataclass
class SweepView:
    """What the explorer draws: one series per colour value."""

    x: str
    y: str
    colour: str | None
    series: list[SweepSeries] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the view as plain lists."""
        return {
            "x": self.x,
            "y": self.y,
            "colour": self.colour,
            "series": [
                {
                    "label": s.label,
                    "x": s.x.tolist(),
                    "mean": s.mean.tolist(),
                    "std": s.std.tolist(),
                    "count": s.count.tolist(),
                    "fit": None if s.fit is None else {"c": s.fit.c, "alpha": s.fit.alpha},
                }
                for s in self.series
            ],
        }


def fit_power_law(x: Any, y: Any) -> PowerLaw:
    """Fit ``y ≈ c·x^(−alpha)`` to positive ``x``, ``y`` by least squares in log–log.

    Examples
    --------
    >>> law = fit_power_law([1, 10, 100], [2.0, 0.2, 0.02])
    >>> round(law.c, 6), round(law.alpha, 6)
    (2.0, 1.0)
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if len(np.unique(x[keep])) < 2:
        raise ValueError("a power law needs positive x and y at two or more distinct x values")
    slope, intercept = np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)
    return PowerLaw(float(np.exp(intercept)), float(-slope), int(keep.sum()))


def _as_table(table: Any):
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        return table
    if isinstance(table, (str, os.PathLike)):
        from labkit.sweeps.table import read_table

        return read_table(Path(table))
    if isinstance(table, Mapping):
        return pd.DataFrame(dict(table))
    if hasattr(table, "__dict__"):
        return pd.DataFrame(vars(table))
    raise TypeError(
        f"table must be a DataFrame, a sweep folder or a mapping of columns, "
        f"got {type(table).__name__}"
    )


def sweep_columns(table: Any) -> tuple[list[str], list[str]]:
    """The parameter columns and the record columns of a sweep's table.

    A table without ``attrs["labkit_sweep"]`` is split by kind: text columns and columns with
    few distinct values are parameters, the other numeric columns records.
    """
    info = getattr(table, "attrs", {}).get("labkit_sweep", {})
    if info.get("parameters") is not None and info.get("records") is not None:
        params = [c for c in info["parameters"] if c in table.columns]
        return params, [c for c in info["records"] if c in table.columns]
    params, records = [], []
    for name in table.columns:
        if name in _META:
            continue
        column = table[name]
        numeric = np.issubdtype(column.dtype, np.number) and column.dtype != bool
        if numeric and column.nunique() > max(8, len(table) // 2):
            records.append(name)
        else:
            params.append(name)
    return params, records


def sweep_view(
    table: Any,
    *,
    x: str,
    y: str,
    colour: str | None = None,
    fit: bool = False,
    fit_from: int = 0,
) -> SweepView:
    """Group the ok rows of ``table`` by ``colour`` and ``x``: the mean and standard deviation of
    ``y`` over repeats; with ``fit`` a power law per colour on the points from the
    ``fit_from``-th smallest x on.

    Examples
    --------
    >>> rows = {"n": [10, 10, 100, 100], "err": [0.09, 0.11, 0.009, 0.011]}
    >>> view = sweep_view(rows, x="n", y="err", fit=True)
    >>> view.series[0].mean.round(6).tolist(), round(view.series[0].fit.alpha, 3)
    ([0.1, 0.01], 1.0)
    """
    table = _as_table(table)
    for arg, name in (("x", x), ("y", y), ("colour", colour)):
        if name is not None and name not in table.columns:
            raise ValueError(f"{arg} must be a column of the table, got {name!r}")
    fit_from = check_int("fit_from", fit_from, minimum=0)
    if "status" in table.columns:
        table = table[table["status"] == "ok"]
    table = table[table[x].notna() & table[y].notna()]
    groups = [(None, table)] if colour is None else list(table.groupby(colour, sort=True))
    view = SweepView(x, y, colour)
    for key, rows in groups:
        stats = rows.groupby(x, sort=True)[y].agg(["mean", "std", "count"])
        xs = np.asarray(stats.index, dtype=float)
        series = SweepSeries(
            label=y if colour is None else f"{colour} = {key}",
            x=xs,
            mean=stats["mean"].to_numpy(dtype=float),
            std=np.nan_to_num(stats["std"].to_numpy(dtype=float)),
            count=stats["count"].to_numpy(dtype=int),
        )
        if fit:
            lowest = xs[min(int(fit_from), len(xs) - 1)] if len(xs) else 0.0
            kept = rows[np.asarray(rows[x], dtype=float) >= lowest]
            try:
                series.fit = fit_power_law(kept[x], kept[y])
            except ValueError:
                series.fit = None
        view.series.append(series)
    return view


def demo_sweep(n_values: Sequence[int] = (64, 128, 256, 512, 1024, 2048, 4096), seeds: int = 3):
    """A sweep table computed on the spot: the error of a Monte Carlo estimate of π from ``n``
    points, plain (error ≈ c·n^(−1/2)) and stratified on an ``√n × √n`` grid (≈ c·n^(−3/4)).

    Each row is the root-mean-square error of 16 estimates, one seed per row.
    """
    import pandas as pd

    rows = []
    for n in n_values:
        side = int(round(np.sqrt(n)))
        for seed in range(seeds):
            rng = np.random.default_rng(seed * 100_003 + n)
            for method in ("plain", "stratified"):
                points = rng.random((16, side * side, 2))
                if method == "stratified":
                    cells = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1)
                    points = (points + cells.reshape(1, -1, 2)) / side
                estimates = 4 * (np.square(points).sum(-1) <= 1).mean(-1)
                rms = float(np.sqrt(np.mean((estimates - np.pi) ** 2)))
                rows.append({"n": side * side, "seed": seed, "method": method, "rms_error": rms,
                             "status": "ok"})  # fmt: skip
    table = pd.DataFrame(rows)
    table.attrs["labkit_sweep"] = {"parameters": ["n", "seed", "method"], "records": ["rms_error"]}
    return table


def sweep_explorer(
    table: Any,
    *,
    x: str | None = None,
    y: str | None = None,
    colour: str | None = None,
    log: bool = True,
    fit: bool = False,
    title: str = "Sweep",
):
    """Explore a sweep's table: pick x, y and colour, log axes, a fitted power law.

    Parameters
    ----------
    table
        A sweep's table, its folder or ``results.parquet``, or a mapping of columns.
    x, y, colour
        Columns shown at first (default: the first parameter, the first record, none).
    log
        Start with log–log axes.
    fit
        Start with the power law drawn; the slider leaves the smallest x values out of the fit.
    title
        Title above the explorer.

    Returns
    -------
    panel.layout.Column

    Examples
    --------
    >>> app = sweep_explorer(demo_sweep(n_values=(64, 256, 1024), seeds=2), colour="method")
    >>> type(app).__name__
    'Column'
    """
    theme.setup()
    import holoviews as hv
    import panel as pn

    table = _as_table(table)
    params, records = sweep_columns(table)
    choices = params + records
    if not params or not records:
        raise ValueError(
            f"table needs at least one parameter and one record column, got {list(table.columns)}"
        )
    x = x or params[0]
    y = y or records[0]
    sweep_view(table, x=x, y=y, colour=colour)  # validates the columns up front
    none = "(none)"
    x_pick = pn.widgets.Select(label="x", options=choices, value=x, width=160)
    y_pick = pn.widgets.Select(label="y", options=choices, value=y, width=160)
    colour_pick = pn.widgets.Select(
        label="colour", options=[none, *params], value=colour or none, width=160
    )
    log_x = pn.widgets.Checkbox(label="log x", value=log)
    log_y = pn.widgets.Checkbox(label="log y", value=log)
    fit_box = pn.widgets.Checkbox(label="fit y ≈ c·x^(−α)", value=fit)
    n_x = max(int(table[c].nunique()) for c in params)
    fit_from = pn.widgets.IntSlider(
        label="fit from the k-th smallest x", start=0, end=max(n_x - 2, 1), value=0, width=220
    )

    def view_of(xv, yv, cv, fv, kv):
        return sweep_view(table, x=xv, y=yv, colour=None if cv == none else cv, fit=fv,
                          fit_from=min(kv, max(table[xv].nunique() - 2, 0)))  # fmt: skip

    def plot(xv, yv, cv, lx, ly, fv, kv):
        view = view_of(xv, yv, cv, fv, kv)
        layers = []
        for i, s in enumerate(view.series):
            colour_i = theme.PALETTE[i % len(theme.PALETTE)]
            low = np.where(ly, np.minimum(s.std, 0.999 * s.mean), s.std) if len(s.x) else s.std
            layers.append(
                hv.ErrorBars((s.x, s.mean, low, s.std), xv, [yv, "low", "high"]).opts(
                    color=colour_i, line_width=1.5
                )
            )
            layers.append(
                hv.Curve((s.x, s.mean), xv, yv, label=s.label).opts(color=colour_i, line_width=2)
                * hv.Scatter((s.x, s.mean), xv, yv).opts(color=colour_i, size=7)
            )
            if s.fit is not None:
                grid = np.geomspace(s.x[s.x > 0].min(), s.x.max(), 50)
                layers.append(
                    hv.Curve((grid, s.fit(grid)), xv, yv, label=f"{s.label}: {s.fit.label(xv)}")
                    .opts(color=colour_i, line_dash="dashed", line_width=2)
                )
        overlay = hv.Overlay(layers) if layers else hv.Curve([], xv, yv)
        return overlay.opts(
            **theme.plot_opts(title=f"{yv} against {xv}", width=620, height=380,
                              framewise=True, logx=lx, logy=ly),  # fmt: skip
            legend_position="bottom_left",
        )

    def summary(xv, yv, cv, fv, kv) -> str:
        view = view_of(xv, yv, cv, fv, kv)
        runs = int(sum(s.count.sum() for s in view.series))
        text = f"{runs} runs in {len(view.series)} series; error bars: ± one standard deviation"
        laws = [f"**{s.label}**: {yv} ≈ {s.fit.label(xv)}" for s in view.series if s.fit]
        return text + ("  \n" + "  \n".join(laws) if laws else "")

    widgets = (x_pick, y_pick, colour_pick, log_x, log_y, fit_box, fit_from)
    pane = pn.pane.HoloViews(hv.DynamicMap(pn.bind(plot, *widgets)), linked_axes=False)
    return pn.Column(
        pn.pane.Markdown(f"## {title}"),
        pn.Row(x_pick, y_pick, colour_pick),
        pn.Row(log_x, log_y, fit_box, fit_from),
        pn.pane.Markdown(pn.bind(summary, x_pick, y_pick, colour_pick, fit_box, fit_from)),
        pane,
    )
