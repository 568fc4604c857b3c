"""One look for every explorer: sizes, fonts, colours and labels with units.

:func:`setup` makes bokeh and panel use inline resources, so explorers render without a
network connection (panel and bokeh otherwise load their JavaScript from a CDN).

Examples
--------
>>> from labkit.viz.theme import axis_label
>>> axis_label("time", "s")
'time (s)'
>>> axis_label("loss")
'loss'
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ACCENT",
    "CMAP",
    "DIVERGING_CMAP",
    "FONTSIZE",
    "HEIGHT",
    "PALETTE",
    "WIDTH",
    "axis_label",
    "plot_opts",
    "setup",
]

WIDTH = 440
HEIGHT = 300
FONTSIZE = {"title": "12pt", "labels": "11pt", "xticks": "10pt", "yticks": "10pt", "legend": "10pt"}
PALETTE = ("#1f5fa6", "#d1603d", "#3c9a5f", "#8e5ea2", "#b8860b", "#555555")
ACCENT = "#d1603d"
CMAP = "viridis"
DIVERGING_CMAP = "RdBu_r"
LABEL_CMAP = "glasbey_light"

_ready = False


def axis_label(name: str, unit: str | None = None) -> str:
    """Return an axis label ``"name (unit)"``, or ``name`` when there is no unit."""
    return f"{name} ({unit})" if unit else name


def plot_opts(**overrides: Any) -> dict[str, Any]:
    """Return the holoviews (bokeh) options every explorer plot starts from.

    Examples
    --------
    >>> plot_opts(height=200)["height"]
    200
    """
    opts: dict[str, Any] = {
        "width": WIDTH,
        "height": HEIGHT,
        "fontsize": dict(FONTSIZE),
        "toolbar": "right",
        "show_grid": True,
        "default_tools": ["save", "pan", "wheel_zoom", "box_zoom", "reset"],
    }
    opts.update(overrides)
    return opts


def setup() -> None:
    """Load panel and holoviews with the bokeh backend and inline resources (idempotent).

    Call it before building an explorer; every ``*_explorer`` function calls it. In a notebook
    it also sends panel's JavaScript into the page, so widgets work without a network.
    """
    global _ready
    if _ready:
        return
    from bokeh.settings import settings

    settings.resources.set_value("inline")
    import holoviews as hv
    import panel as pn

    pn.config.inline = True
    pn.extension(inline=True, sizing_mode="fixed")
    hv.extension("bokeh", logo=False)
    _ready = True
