"""Every slider of every served explorer redraws what it stands for, on the demo data.

Each explorer is rendered into a live Bokeh document (as in a notebook or a server session);
then every slider is moved, which runs the widget callbacks and updates the document
synchronously. Each move must change a model that draws (a data source, a line, a range or an
image). How long a move takes is measured by ``benchmarks/viz_latency.py``, not here.
"""

from __future__ import annotations

import pytest
from bokeh.document import Document

from labkit.viz import apps, theme

DRAWN_MODELS = {"ColumnDataSource", "Span", "Range1d"}


def _draws(model) -> bool:
    """Is ``model`` part of a plot (data, a line, a range) or an image pane (HTML with <img>)?"""
    name = type(model).__name__
    return name in DRAWN_MODELS or (name == "HTML" and "data:image/png" in str(model.text))


def sliders(layout):
    """The visible int and float sliders of ``layout``."""
    import panel as pn

    return layout.select(
        lambda obj: isinstance(obj, (pn.widgets.IntSlider, pn.widgets.FloatSlider)) and obj.visible
    )


@pytest.mark.parametrize("name", sorted(apps.EXPLORERS))
def test_every_slider_move_redraws(name):
    theme.setup()
    layout = apps.EXPLORERS[name](apps.DEMOS[name]())
    doc = Document()
    doc.add_root(layout.get_root(doc))
    found = sliders(layout)
    assert found, f"{name} has no slider"
    events: list = []
    doc.on_change(events.append)
    for slider in found:
        events.clear()
        step = slider.step if slider.value + slider.step <= slider.end else -slider.step
        slider.value = slider.value + step
        changed = [e for e in events if _draws(getattr(e, "model", None))]
        assert changed, f"{name}: moving {slider.label} changed no model of the document"
