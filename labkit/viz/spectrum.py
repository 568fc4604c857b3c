"""Spectrum explorer: Hessian spectral densities, their top eigenvalues, a model and block picker.

One model's spectrum is what :mod:`labkit.landscape` returns for it:

- a ``DensityResult`` (``spectral_density``): ``grid`` and ``density`` on it,
- its top eigenvalues (an ``EigenResult`` from ``top_eigenvalues``, or an array),
- optionally a ``BlockSpectra`` (``block_spectra``): a density and top eigenvalues per
  diagonal block (layer) of the Hessian.

``spectrum_explorer(density, top, blocks=spectra)`` shows one model;
``spectrum_explorer({name: (density, top, spectra), ...})`` several, with a model picker. A
density that keeps its probes (``DensityResult.first_probes``) gets a slider for the number of
SLQ probes used. A results file (``labkit serve spectrum --results``) holds ``grid``,
``density``, ``eigenvalues`` and optional ``blocks`` (``name -> {grid, density, eigenvalues}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from labkit._checks import check_int
from labkit.viz import theme
from labkit.viz._inputs import as_array, get_field

__all__ = ["SpectrumView", "model_blocks", "spectrum_explorer", "spectrum_view"]

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


def _eigenvalues(value: Any, name: str) -> np.ndarray:
    """An ``EigenResult`` (its ``eigenvalues``) or an array of eigenvalues, as a 1-D array."""
    if not isinstance(value, (list, tuple, np.ndarray)) and not hasattr(value, "detach"):
        value = get_field(value, "eigenvalues", argname=name)
    return as_array(name, value, ndim=1)


def model_blocks(density: Any, eigenvalues: Any = None, blocks: Any = None) -> dict[str, tuple]:
    """Return one model's blocks as ``{name: (density, eigenvalues)}``, the whole model first.

    ``density`` has ``grid`` and ``density`` (and ``eigenvalues`` when ``eigenvalues`` is not
    given); ``blocks`` is a ``BlockSpectra`` (``densities`` and ``eigenvalues`` per block, shown
    as ``"block NAME"``) or, as a results file holds it, a mapping ``name -> result``; without
    ``blocks`` the density's own ``blocks`` field is read when it has one.

    Examples
    --------
    >>> import numpy as np
    >>> d = {"grid": np.linspace(0, 1, 5), "density": np.ones(5)}
    >>> list(model_blocks(d, [2.0, 1.0], {"fc": {**d, "eigenvalues": [1.0]}}))
    ['whole model', 'fc']
    """
    top = _eigenvalues(density if eigenvalues is None else eigenvalues, "eigenvalues")
    out = {ALL: (density, top)}
    if blocks is None:
        blocks = get_field(density, "blocks", None)
    if blocks is None:
        return out
    densities = get_field(blocks, "densities", None)
    if densities is not None:  # a BlockSpectra
        for name, block_density in densities.items():
            out[f"block {name}"] = (
                block_density,
                _eigenvalues(blocks.eigenvalues[name], f"blocks.eigenvalues[{name!r}]"),
            )
        return out
    if not isinstance(blocks, Mapping):
        raise TypeError(
            f"result.blocks must be a mapping name -> result, got {type(blocks).__name__}"
        )
    for name, block in blocks.items():
        out[str(name)] = (block, _eigenvalues(block, f"result.blocks[{name!r}].eigenvalues"))
    return out


def _models(result: Any, eigenvalues: Any, blocks: Any) -> dict[str, dict[str, tuple]]:
    """``{model: {block: (density, eigenvalues)}}`` from the explorer's arguments."""
    several = isinstance(result, Mapping) and get_field(result, "grid", None) is None
    if not several:
        return {"model": model_blocks(result, eigenvalues, blocks)}
    if eigenvalues is not None or blocks is not None:
        raise ValueError(
            "eigenvalues and blocks must be given inside each model's tuple when result maps "
            "model names to (density, eigenvalues[, blocks])"
        )
    if not result:
        raise ValueError("result must hold at least one model, got an empty mapping")
    models = {}
    for name, spectrum in result.items():
        if not isinstance(spectrum, (tuple, list)) or len(spectrum) not in (2, 3):
            raise TypeError(
                f"result[{name!r}] must be a tuple (density, eigenvalues[, blocks]), got "
                f"{type(spectrum).__name__}"
            )
        models[str(name)] = model_blocks(*spectrum)
    return models


def spectrum_view(
    result: Any,
    *,
    top_k: int,
    log_density: bool = False,
    eigenvalues: Any = None,
    probes: int | None = None,
) -> SpectrumView:
    """Return the density curve and the ``top_k`` largest eigenvalues of ``result``.

    ``eigenvalues`` (array or ``EigenResult``) replaces ``result.eigenvalues``; ``probes``
    keeps the first ``probes`` SLQ probes of a ``DensityResult`` (all when it has fewer). With
    ``log_density`` the density is shown as ``log10(density + 1e-12 * max)``.

    Examples
    --------
    >>> import numpy as np
    >>> r = {"grid": np.linspace(0, 1, 5), "density": np.ones(5), "eigenvalues": [3.0, 1.0, 2.0]}
    >>> spectrum_view(r, top_k=2).eigenvalues.tolist()
    [3.0, 2.0]
    """
    top_k = check_int("top_k", top_k, minimum=1)
    if probes is not None:
        probes = check_int("probes", probes, minimum=1)
        if hasattr(result, "first_probes"):
            result = result.first_probes(min(probes, result.n_probes))
    grid = as_array("result.grid", get_field(result, "grid"), ndim=1)
    density = as_array("result.density", get_field(result, "density"), ndim=1)
    if density.shape != grid.shape:
        raise ValueError(
            f"result.density must have the shape of result.grid {grid.shape}, got {density.shape}"
        )
    eigs = np.sort(_eigenvalues(result if eigenvalues is None else eigenvalues, "eigenvalues"))
    if log_density:
        density = np.log10(np.clip(density, 0, None) + 1e-12 * max(density.max(), 1e-300))
    return SpectrumView(grid, density, eigs[::-1][:top_k], log_density)


def spectrum_explorer(
    result: Any,
    eigenvalues: Any = None,
    *,
    blocks: Any = None,
    top_k: int | None = None,
    title: str = "Hessian spectrum",
):
    """Explore spectral densities with their top eigenvalues: pick a model, a block, how many
    eigenvalues to mark and how many SLQ probes to use.

    Parameters
    ----------
    result
        One model's density (a ``DensityResult``, or an object or mapping with ``grid``,
        ``density`` and, without ``eigenvalues``, its own ``eigenvalues``), or a mapping
        ``{model name: (density, eigenvalues[, blocks])}`` for several models.
    eigenvalues
        The model's top eigenvalues (``EigenResult`` or array) when ``result`` has none.
    blocks
        The model's ``BlockSpectra`` (a density and top eigenvalues per layer block).
    top_k
        Number of top eigenvalues shown at first (default: all, at most 10).
    title
        Title above the explorer.

    Returns
    -------
    panel.layout.Column
        Widgets (model, block, top k, probes, density scale) and two plots that update in
        place.

    Examples
    --------
    >>> import numpy as np, panel as pn
    >>> d = {"grid": np.linspace(0, 1, 5), "density": np.ones(5)}
    >>> app = spectrum_explorer({"a": (d, [2.0, 1.0]), "b": (d, [3.0])})
    >>> app.select(pn.widgets.Select)[0].options  # the model picker
    ['a', 'b']
    """
    theme.setup()
    import panel as pn

    models = _models(result, eigenvalues, blocks)
    for blocks_of in models.values():
        for density, top in blocks_of.values():
            spectrum_view(density, top_k=1, eigenvalues=top)  # validates every block up front
    p_max = max(
        int(getattr(density, "n_probes", 1)) if hasattr(density, "first_probes") else 1
        for b in models.values()
        for density, _ in b.values()
    )
    first = next(iter(models))
    n_first = len(models[first][ALL][1])
    top_k = min(n_first, 10) if top_k is None else check_int("top_k", top_k, minimum=1)

    model = pn.widgets.Select(
        label="model", options=list(models), value=first, width=190, visible=len(models) > 1
    )
    block = pn.widgets.Select(label="block", options=list(models[first]), value=ALL, width=150)
    k = pn.widgets.IntSlider(  # runs up to the number of eigenvalues of the block shown
        label="top k", start=1, end=max(n_first, 2), value=min(top_k, n_first), width=180
    )
    probes = pn.widgets.IntSlider(
        label="SLQ probes", start=1, end=max(p_max, 2), value=p_max, width=160,
        visible=p_max > 1,
    )  # fmt: skip
    scale = pn.widgets.RadioButtonGroup(label="density", options=["linear", "log"], value="linear")
    summary = pn.pane.Markdown()
    density_fig, top_fig = _SpectrumFigures.create()

    def shown() -> tuple[Any, np.ndarray]:
        return models[model.value].get(block.value, models[model.value][ALL])

    def pick_model(event) -> None:
        block.options = list(models[event.new])
        block.value = ALL

    def fit_k(*_events) -> None:
        n = len(shown()[1])
        k.value = min(k.value, n)
        k.end = max(n, 2)

    def redraw(*_events) -> None:
        # One update of data, ranges and titles in place: no plot is rebuilt on a move, so a
        # move costs a few milliseconds of the server's time per session, not a re-render.
        density, top = shown()
        view = spectrum_view(
            density, top_k=k.value, log_density=scale.value == "log", eigenvalues=top,
            probes=probes.value,
        )  # fmt: skip
        name = block.value if len(models) == 1 else f"{model.value}, {block.value}"
        with pn.io.hold():  # one message to the page, so it never shows half an update
            density_fig.show_density(name, view)
            top_fig.show_top(view.eigenvalues)
            summary.object = _summary(name, view.eigenvalues)

    redraw()
    model.param.watch(pick_model, "value")
    model.param.watch(fit_k, "value")
    block.param.watch(fit_k, "value")
    for widget in (model, block, k, probes, scale):
        widget.param.watch(redraw, "value")
    return pn.Column(
        pn.pane.Markdown(f"## {title}"),
        pn.Row(model, block, k, probes, pn.Column("density scale", scale)),
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
