"""Spectrum explorer: the Hessian's spectral density, its top eigenvalues, and a block picker.

The input is any object (or mapping) with

- ``grid``: 1-D eigenvalue grid,
- ``density``: spectral density on ``grid`` (same length),
- ``eigenvalues``: the computed top eigenvalues,
- ``blocks`` (optional): a mapping ``name -> object with the same three fields``, e.g. one
  per layer.

A ``labkit.landscape.spectral_density`` result has no eigenvalues: pass the top eigenvalues
(an array or a ``top_eigenvalues`` result) as ``eigenvalues=``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from labkit.viz import theme
from labkit.viz._inputs import as_array, get_field

__all__ = ["SpectrumView", "spectrum_explorer", "spectrum_view"]

ALL = "whole model"


@dataclass
class SpectrumView:
    """What the explorer draws for one block: the density and the top-k eigenvalues."""

    grid: np.ndarray
    density: np.ndarray
    eigenvalues: np.ndarray
    log_density: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the view as plain lists."""
        return {
            "grid": self.grid.tolist(),
            "density": self.density.tolist(),
            "eigenvalues": self.eigenvalues.tolist(),
            "log_density": self.log_density,
        }


def _blocks(result: Any) -> dict[str, Any]:
    blocks = {ALL: result}
    extra = get_field(result, "blocks", None)
    if extra is None:
        return blocks
    if not isinstance(extra, Mapping):
        raise TypeError(
            f"result.blocks must be a mapping name -> result, got {type(extra).__name__}"
        )
    blocks.update({str(k): v for k, v in extra.items()})
    return blocks


def spectrum_view(result: Any, *, top_k: int, log_density: bool = False) -> SpectrumView:
    """Return the density curve and the ``top_k`` largest eigenvalues of ``result``.

    With ``log_density`` the density is shown as ``log10(density + 1e-12 * max)``.

    Examples
    --------
    >>> import numpy as np
    >>> r = {"grid": np.linspace(0, 1, 5), "density": np.ones(5), "eigenvalues": [3.0, 1.0, 2.0]}
    >>> spectrum_view(r, top_k=2).eigenvalues.tolist()
    [3.0, 2.0]
    """
    grid = as_array("result.grid", get_field(result, "grid"), ndim=1)
    density = as_array("result.density", get_field(result, "density"), ndim=1)
    if density.shape != grid.shape:
        raise ValueError(
            f"result.density must have the shape of result.grid {grid.shape}, got {density.shape}"
        )
    eigs = np.sort(as_array("result.eigenvalues", get_field(result, "eigenvalues"), ndim=1))[::-1]
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    if log_density:
        density = np.log10(np.clip(density, 0, None) + 1e-12 * max(density.max(), 1e-300))
    return SpectrumView(grid, density, eigs[: int(top_k)], log_density)


def spectrum_explorer(
    result: Any,
    *,
    eigenvalues: Any = None,
    top_k: int | None = None,
    title: str = "Hessian spectrum",
):
    """Explore a spectral density with its top eigenvalues; pick a block and how many to show.

    Parameters
    ----------
    result
        Object or mapping with ``grid``, ``density``, ``eigenvalues`` and optional ``blocks``.
    eigenvalues
        Top eigenvalues (array, or object with ``.eigenvalues``) when ``result`` has none.
    top_k
        Number of top eigenvalues shown at first (default: all, at most 10).
    title
        Title above the explorer.

    Returns
    -------
    panel.layout.Column
        Widgets (block, top-k, density scale) and two plots that update in place.

    Examples
    --------
    >>> from labkit.viz.demo import demo_spectrum
    >>> app = spectrum_explorer(demo_spectrum(n=120))
    >>> type(app).__name__
    'Column'
    """
    theme.setup()
    import panel as pn

    if eigenvalues is not None:
        result = SimpleNamespace(
            grid=get_field(result, "grid"),
            density=get_field(result, "density"),
            eigenvalues=get_field(eigenvalues, "eigenvalues", eigenvalues, argname="eigenvalues"),
            blocks=get_field(result, "blocks", None),
        )
    blocks = _blocks(result)
    for block in blocks.values():
        spectrum_view(block, top_k=1)  # validates every block up front
    n_max = max(len(np.atleast_1d(get_field(b, "eigenvalues"))) for b in blocks.values())
    if top_k is None:
        top_k = min(n_max, 10)
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")

    block = pn.widgets.Select(label="block", options=list(blocks), value=ALL, width=200)
    k = pn.widgets.IntSlider(
        label="top k", start=1, end=max(n_max, 2), value=min(int(top_k), n_max), width=200
    )
    scale = pn.widgets.RadioButtonGroup(label="density", options=["linear", "log"], value="linear")
    summary = pn.pane.Markdown()
    density_fig, top_fig = _SpectrumFigures.create()

    def redraw(*_events) -> None:
        # One update of data, ranges and titles in place: no plot is rebuilt on a move, so a
        # move costs a few milliseconds of the server's time per session, not a re-render.
        density = spectrum_view(
            blocks[block.value], top_k=k.value, log_density=scale.value == "log"
        )
        top = spectrum_view(blocks[block.value], top_k=k.value)
        with pn.io.hold():  # one message to the page, so it never shows half an update
            density_fig.show_density(block.value, density)
            top_fig.show_top(top.eigenvalues)
            summary.object = _summary(block.value, top.eigenvalues)

    redraw()
    block.param.watch(redraw, "value")
    k.param.watch(redraw, "value")
    scale.param.watch(redraw, "value")
    return pn.Column(
        pn.pane.Markdown(f"## {title}"),
        pn.Row(block, k, pn.Column("density scale", scale)),
        summary,
        pn.Row(
            pn.pane.Bokeh(density_fig.figure, width=theme.WIDTH, height=theme.HEIGHT),
            pn.pane.Bokeh(top_fig.figure, width=theme.WIDTH, height=theme.HEIGHT),
        ),
    )


def _summary(block_name: str, eigs: np.ndarray) -> str:
    return (
        f"**{block_name}** — λ_max = {eigs[0]:.4g}, λ_{len(eigs)} = {eigs[-1]:.4g}, "
        f"λ_max / λ_{len(eigs)} = {eigs[0] / eigs[-1]:.3g}"
        if eigs[-1] != 0
        else f"**{block_name}** — λ_max = {eigs[0]:.4g}"
    )


def _same(data: Mapping[str, Any], new: Mapping[str, np.ndarray]) -> bool:
    """Does a data source already hold ``new`` (so that nothing needs sending)?"""
    return data.keys() == new.keys() and all(
        np.array_equal(np.asarray(data[key]), value) for key, value in new.items()
    )


def _padded(low: float, high: float, pad: float = 0.05) -> tuple[float, float]:
    span = high - low if high > low else max(abs(high), 1.0)
    return low - pad * span, high + pad * span


@dataclass
class _SpectrumFigures:
    """One Bokeh figure of the explorer with the data sources it redraws in place."""

    figure: Any
    line: Any
    sticks: Any
    points: Any

    @classmethod
    def create(cls) -> tuple[_SpectrumFigures, _SpectrumFigures]:
        """Return the (density, top-k) figures, empty until ``show_*`` fills them."""
        from bokeh.models import ColumnDataSource, FixedTicker

        density = cls._figure("eigenvalue λ", "density")
        top = cls._figure("rank", "eigenvalue λ")
        top.xaxis.ticker = FixedTicker(ticks=[])
        line = ColumnDataSource({"grid": [], "density": []})
        spikes = ColumnDataSource({"x": [], "y0": [], "y1": []})
        density.line("grid", "density", source=line, color=theme.PALETTE[0], line_width=2)
        density.segment("x", "y0", "x", "y1", source=spikes, color=theme.ACCENT, line_width=2)
        sticks = ColumnDataSource({"rank": [], "zero": [], "eigenvalue": []})
        points = ColumnDataSource({"rank": [], "eigenvalue": []})
        top.segment(
            "rank",
            "zero",
            "rank",
            "eigenvalue",
            source=sticks,
            color=theme.PALETTE[0],
            line_width=2,
        )
        top.scatter("rank", "eigenvalue", source=points, color=theme.ACCENT, size=8)
        return cls(density, line, spikes, None), cls(top, None, sticks, points)

    @staticmethod
    def _figure(xlabel: str, ylabel: str):
        from bokeh.models import Range1d
        from bokeh.plotting import figure

        fig = figure(
            width=theme.WIDTH,
            height=theme.HEIGHT,
            x_range=Range1d(0, 1),
            y_range=Range1d(0, 1),
            tools="save,pan,wheel_zoom,box_zoom,reset",
            toolbar_location="right",
            x_axis_label=theme.axis_label(xlabel),
            y_axis_label=ylabel,
        )
        fig.title.text_font_size = theme.FONTSIZE["title"]
        for axis in (fig.xaxis, fig.yaxis):
            axis.axis_label_text_font_size = theme.FONTSIZE["labels"]
            axis.major_label_text_font_size = theme.FONTSIZE["xticks"]
        fig.toolbar.logo = None
        return fig

    def show_density(self, block_name: str, view: SpectrumView) -> None:
        """Draw ``view``'s density curve with its top eigenvalues as short ticks at the bottom."""
        fig = self.figure
        low, high = _padded(float(view.density.min()), float(view.density.max()))
        n = len(view.eigenvalues)
        if not _same(self.line.data, {"grid": view.grid, "density": view.density}):
            self.line.data = {"grid": view.grid, "density": view.density}  # new block or scale
        self.sticks.data = {
            "x": view.eigenvalues,
            "y0": np.full(n, low),
            "y1": np.full(n, low + 0.15 * (high - low)),
        }
        x_low, x_high = _padded(
            min(float(view.grid.min()), float(view.eigenvalues.min())),
            max(float(view.grid.max()), float(view.eigenvalues.max())),
            pad=0.0,
        )
        fig.x_range.update(start=x_low, end=x_high)
        fig.y_range.update(start=low, end=high)
        fig.yaxis.axis_label = "log10 density" if view.log_density else "density"
        fig.title.text = f"spectral density: {block_name}"

    def show_top(self, eigenvalues: np.ndarray) -> None:
        """Draw the ranked eigenvalues as sticks from 0 with a dot on top; one tick per rank."""
        fig = self.figure
        rank = np.arange(1, len(eigenvalues) + 1)
        self.sticks.data = {"rank": rank, "zero": np.zeros(len(rank)), "eigenvalue": eigenvalues}
        self.points.data = {"rank": rank, "eigenvalue": eigenvalues}
        low, high = _padded(min(0.0, float(eigenvalues.min())), max(0.0, float(eigenvalues.max())))
        fig.x_range.update(start=0.5, end=len(rank) + 0.5)
        fig.y_range.update(start=low, end=high)
        fig.xaxis.ticker.ticks = [int(i) for i in rank]
        fig.title.text = f"top {len(rank)} eigenvalues"
