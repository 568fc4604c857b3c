"""labkit.viz: what a plot shows stays in view after a widget moves.

Each explorer is rendered into a live Bokeh document (as in a notebook or a server session), a
widget is moved, and the plot's axis range is compared with the extent of the data it draws.
"""

from __future__ import annotations

import numpy as np
from bokeh.document import Document
from bokeh.models import Plot

from labkit.viz import demo, theme
from labkit.viz.spectrum import spectrum_explorer


def _x_range(root, title: str) -> tuple[float, float]:
    (plot,) = [
        p for p in root.select({"type": Plot}) if p.title is not None and p.title.text == title
    ]
    return float(plot.x_range.start), float(plot.x_range.end)


def test_spectral_density_keeps_its_whole_grid_when_k_moves():
    # The density plot's x axis is the eigenvalue; the top-k plot's y axis is too. Linked by
    # name, a move of k gave the density the top-k plot's y range (from 0), cutting the bulk.
    theme.setup()
    import panel as pn

    density, top, _ = demo.demo_spectrum(epochs=2, k=6, n_iter=10, n_probes=2)["MLP, trained"]
    assert density.grid.min() < 0 < density.grid.max()
    layout = spectrum_explorer(density, top)
    doc = Document()
    root = layout.get_root(doc)
    doc.add_root(root)
    (k,) = [w for w in layout.select(pn.widgets.IntSlider) if w.label == "top k"]
    lo, hi = density.grid.min(), max(density.grid.max(), np.max(top.eigenvalues))
    for value in (k.value, k.value - 1, 1):
        k.value = value
        start, end = _x_range(root, "spectral density: whole model")
        assert start <= lo and end >= hi, f"k = {value}: x axis {start, end} cuts [{lo}, {hi}]"
