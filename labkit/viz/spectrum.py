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
    import holoviews as hv
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

    def density_plot(block_name: str, k_value: int, scale_value: str):
        view = spectrum_view(blocks[block_name], top_k=k_value, log_density=scale_value == "log")
        ylabel = "log10 density" if view.log_density else "density"
        curve = hv.Curve((view.grid, view.density), theme.axis_label("eigenvalue λ"), ylabel)
        spikes = hv.Spikes(view.eigenvalues, theme.axis_label("eigenvalue λ"))
        return (
            curve.opts(color=theme.PALETTE[0], line_width=2)
            * spikes.opts(color=theme.ACCENT, line_width=2, spike_length=0.15, position=0.0)
        ).opts(**theme.plot_opts(title=f"spectral density: {block_name}", framewise=True))

    def top_plot(block_name: str, k_value: int):
        view = spectrum_view(blocks[block_name], top_k=k_value)
        index = np.arange(1, len(view.eigenvalues) + 1)
        points = hv.Scatter((index, view.eigenvalues), "rank", "eigenvalue λ")
        sticks = hv.Spikes((index, view.eigenvalues), "rank", "eigenvalue λ")
        xlim = (0.5, len(index) + 0.5)
        return (
            sticks.opts(color=theme.PALETTE[0], line_width=2, framewise=True, xlim=xlim)
            * points.opts(color=theme.ACCENT, size=8, framewise=True, xlim=xlim)
        ).opts(
            **theme.plot_opts(title=f"top {len(index)} eigenvalues", framewise=True),
            xticks=[(int(i), str(int(i))) for i in index],
        )

    def summary(block_name: str, k_value: int) -> str:
        eigs = spectrum_view(blocks[block_name], top_k=k_value).eigenvalues
        return (
            f"**{block_name}** — λ_max = {eigs[0]:.4g}, λ_{len(eigs)} = {eigs[-1]:.4g}, "
            f"λ_max / λ_{len(eigs)} = {eigs[0] / eigs[-1]:.3g}"
            if eigs[-1] != 0
            else f"**{block_name}** — λ_max = {eigs[0]:.4g}"
        )

    # Not linked: panel links axes of one dimension name, which would tie the density's x axis
    # (eigenvalue) to the y axis of the top-k plot and cut the bulk near 0 after a move of k.
    left = pn.pane.HoloViews(
        hv.DynamicMap(pn.bind(density_plot, block, k, scale)), linked_axes=False
    )
    right = pn.pane.HoloViews(hv.DynamicMap(pn.bind(top_plot, block, k)), linked_axes=False)
    return pn.Column(
        pn.pane.Markdown(f"## {title}"),
        pn.Row(block, k, pn.Column("density scale", scale)),
        pn.pane.Markdown(pn.bind(summary, block, k)),
        pn.Row(left, right),
    )
