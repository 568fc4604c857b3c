"""The light book: inlined BokehJS/panel loaders leave the pages for one shared file each."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from labkit.course.book import share_loaders

LOAD = "application/vnd.holoviews_load.v0+json"


def _loader(js: str):
    return new_output("display_data", data={"application/javascript": js, LOAD: js})


def test_loaders_are_written_once_and_referenced(tmp_path):
    bokeh_js = "/* BokehJS */ window.loaded = (window.loaded || 0) + 1;" * 1000
    panel_js = "/* panel */ window.panel = true;"
    plot = new_output("display_data", data={"text/html": "<div id='plot'></div>"})
    pages = [
        new_notebook(cells=[new_code_cell("hv.extension()", outputs=[_loader(bokeh_js), plot])]),
        new_notebook(cells=[new_code_cell("x", outputs=[_loader(bokeh_js), _loader(panel_js)])]),
    ]
    static = tmp_path / "_static"
    static.mkdir()
    assert [share_loaders(nb, static) for nb in pages] == [1, 2]
    files = sorted(static.iterdir())
    assert sorted(f.read_text() for f in files) == sorted([bokeh_js, panel_js])
    first, second = (nb.cells[0].outputs for nb in pages)
    assert first[1] == plot, "figures stay in the page"
    assert first[0].data == second[0].data, "both pages load the same shared file"
    for output in [first[0], *second]:
        (src,) = [f.name for f in files if f.name in output.data["text/html"]]
        assert output.data == {"text/html": f'<script src="_static/{src}"></script>'}
    nbformat.validate(pages[1])
    assert len(nbformat.writes(pages[0])) < len(bokeh_js)


def test_widget_views_become_their_last_picture(tmp_path):
    """A real kernel draws into an Output widget, a later cell moves the slider; the saved widget
    state holds the last drawing, and the book page shows it in place of the empty view."""
    from nbclient import NotebookClient

    from labkit.course.book import widget_snapshots

    nb = new_notebook(
        cells=[
            new_code_cell(
                "import ipywidgets as w\nfrom IPython.display import display, HTML\n"
                "out, s = w.Output(), w.IntSlider(value=2)\n"
                "def draw(change=None):\n"
                "    with out:\n"
                "        out.clear_output(wait=True)\n"
                "        display(HTML(f'<b>k = {s.value}</b>'))\n"
                "s.observe(draw, names='value')\ndraw()\ndisplay(w.VBox([s, out]))"
            ),
            new_code_cell("s.value = 5"),
        ]
    )
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    view = nb.cells[0].outputs[-1]
    assert "application/vnd.jupyter.widget-view+json" in view.data
    assert widget_snapshots(nb) == 1
    shown = [o.data.get("text/html", "") for o in nb.cells[0].outputs]
    assert shown[0] == "<b>k = 5</b>", shown
    assert "last drawn" in shown[-1]
    assert all("application/vnd.jupyter.widget-view+json" not in o.get("data", {})
               for o in nb.cells[0].outputs)  # fmt: skip
    nbformat.validate(nb)
