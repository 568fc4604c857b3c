"""An interaction never blocks the kernel for more than a second at the default (demo) sizes.

Each explorer is rendered into a live Bokeh document (as in a notebook or a server session); then
every slider is moved, which runs the widget callbacks and updates the document synchronously.
The median time per move must stay under a second, and the document's models must change.
"""

from __future__ import annotations

import statistics
import time

import pytest
from bokeh.document import Document

from labkit.viz import apps, theme

LIMIT_S = 1.0
DRAWN_MODELS = {"ColumnDataSource", "Span", "Range1d"}


def _draws(model) -> bool:
    """Is ``model`` part of a plot (data, a line, a range) or an image pane (HTML with <img>)?"""
    name = type(model).__name__
    return name in DRAWN_MODELS or (name == "HTML" and "data:image/png" in str(model.text))


@pytest.mark.parametrize("name", sorted(apps.EXPLORERS))
def test_slider_moves_redraw_quickly(name):
    theme.setup()
    import panel as pn

    layout = apps.EXPLORERS[name](apps.DEMOS[name]())
    doc = Document()
    doc.add_root(layout.get_root(doc))
    sliders = layout.select(
        lambda obj: isinstance(obj, (pn.widgets.IntSlider, pn.widgets.FloatSlider))
    )
    assert sliders, f"{name} has no slider"
    events: list = []
    doc.on_change(events.append)
    times = []
    for slider in sliders:
        for _ in range(3):
            events.clear()
            step = slider.step if slider.value + slider.step <= slider.end else -slider.step
            start = time.perf_counter()
            slider.value = slider.value + step
            times.append(time.perf_counter() - start)
            changed = [e for e in events if _draws(getattr(e, "model", None))]
            assert changed, f"{name}: moving {slider.label} changed no model of the document"
    median = statistics.median(times)
    print(f"{name}: median {median:.3f} s, max {max(times):.3f} s over {len(times)} moves")
    assert median < LIMIT_S, f"{name}: a slider move takes {median:.2f} s (median)"
