"""The light book: inlined BokehJS/panel loaders leave the pages for one shared file each."""

from __future__ import annotations

import json
import re

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


def _scene_index(vtksz: bytes) -> dict:
    import io
    import json
    import zipfile

    with zipfile.ZipFile(io.BytesIO(vtksz)) as z:
        return json.loads(z.read("index.json"))


def _arrays(index: dict) -> dict:
    import base64

    import numpy as np

    kinds = {h: a["type"].removesuffix("Array").lower() for h, a in index["hashes"].items()}
    return {
        h: np.frombuffer(base64.b64decode(a["content"]), dtype=kinds[h])
        for h, a in index["hashes"].items()
    }


def test_compact_scene_keeps_every_array_in_float32():
    """Tubes carry float64 points in pyvista's export; the compacted scene holds the same values
    in float32 (what vtk.js draws with), every other array byte for byte."""
    import numpy as np
    import pyvista as pv

    from labkit.course.book_scenes import compact_scene

    line = pv.Spline(np.c_[np.linspace(0, 1, 9), np.sin(np.arange(9.0)), np.zeros(9)], 60)
    pl = pv.Plotter(off_screen=True, window_size=(200, 150))
    pl.add_mesh(line.tube(radius=0.05).points_to_double())
    pl.add_mesh(pv.Sphere())
    raw = pl.trame.export_vtksz(filename=None)
    pl.close()
    old, new = _scene_index(raw), _scene_index(compact_scene(raw))
    assert any(a["type"] == "Float64Array" for a in old["hashes"].values())
    assert {a["type"] for a in new["hashes"].values()} <= {"Float32Array", "Int32Array"}
    before, after = _arrays(old), _arrays(new)
    assert before.keys() == after.keys()
    for h, values in before.items():
        expected = values.astype(np.float32) if values.dtype == np.float64 else values
        np.testing.assert_array_equal(after[h], expected)
        assert after[h].dtype == expected.dtype
    assert len(compact_scene(raw)) <= len(raw)


def test_book_keeps_linked_widgets_live_and_scenes_turnable(tmp_path):
    """A real kernel: a slider jslink'ed to a stack of pictures is kept live with exactly the
    state it needs; a slider driven by Python and an Output-drawn explorer are not; a pyvista
    scene shown with the labkit-scene backend carries its picture and its full vtk.js scene,
    which the book turns into the viewer's iframe."""
    import base64
    import io

    import pyvista as pv
    from nbclient import NotebookClient
    from PIL import Image

    from labkit.course.book import _live_widgets
    from labkit.course.book_scenes import SCENE_MIME, scene_frames
    from labkit.course.book_widgets import live_views

    nb = new_notebook(
        cells=[
            new_code_cell(
                "import ipywidgets as w\nfrom IPython.display import display\n"
                "pics = w.Stack([w.HTML(f'<b>{i}</b>') for i in range(4)], selected_index=0)\n"
                "s = w.IntSlider(max=3)\nw.jslink((s, 'value'), (pics, 'selected_index'))\n"
                "display(w.VBox([s, pics]))"
            ),
            new_code_cell(
                "t, label = w.IntSlider(), w.HTML('0')\n"
                "t.observe(lambda c: setattr(label, 'value', str(c.new)), names='value')\n"
                "display(w.VBox([t, label]))"
            ),
            new_code_cell("out = w.Output()\nwith out:\n    print('drawn')\ndisplay(out)"),
            new_code_cell(
                "import pyvista as pv\nfrom labkit.course.book_scenes import scene_backend\n"
                "pv.OFF_SCREEN = True\npv.set_jupyter_backend(scene_backend())\n"
                "pl = pv.Plotter(window_size=(320, 240))\npl.add_mesh(pv.Cone(resolution=24))\n"
                "pl.show()"
            ),
        ]
    )
    NotebookClient(nb, kernel_name="python3", timeout=180).execute()
    view = "application/vnd.jupyter.widget-view+json"
    ids = [
        next(o.data[view]["model_id"] for o in c.outputs if view in o.get("data", {}))
        for c in nb.cells[:3]
    ]
    live = live_views(nb)
    assert list(live) == [ids[0]]

    _live_widgets(nb)
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    names = sorted(m["model_name"] for m in state.values())
    assert names.count("LinkModel") == 1 and names.count("StackModel") == 1
    assert "OutputModel" not in names and ids[1] not in state
    referenced = {
        ref.removeprefix("IPY_MODEL_")
        for m in state.values()
        for ref in re.findall(r"IPY_MODEL_[0-9a-f]+", json.dumps(m["state"]))
    }
    assert referenced <= set(state), "the kept state is closed under its references"
    assert "drawn" in json.dumps(nb.cells[2].outputs), "the Output explorer became its picture"

    (scene,) = [o for o in nb.cells[3].outputs if SCENE_MIME in o.get("data", {})]
    assert Image.open(io.BytesIO(base64.b64decode(scene.data["image/png"]))).size == (320, 240)
    index = _scene_index(base64.b64decode(scene.data[SCENE_MIME]))
    points = [a for a in index["hashes"].values() if a.get("vtk") == "vtkPoints"]
    n_points = [len(base64.b64decode(a["content"])) // 12 for a in points]
    assert pv.Cone(resolution=24).n_points in n_points
    static = tmp_path / "_static"
    assert scene_frames(nb, static) == 1
    assert "<iframe" in scene.data["text/html"] and SCENE_MIME not in scene.data
    assert (static / "vtkjs" / "OfflineLocalView.js").stat().st_size > 500_000


def test_skeleton_scene_exports_one_polyline_per_branch():
    """notebook 07's skeleton scene, exported for the book: each branch is one polyline through
    its junction, its voxels and its other junction (scaled by the voxel size), the pore surface
    keeps at most ``max_triangles`` triangles and the same bounds within a voxel, and the export
    is lighter than render's tubes over the full surface."""
    import numpy as np

    from labkit.course.book_scenes import compact_scene
    from labkit.pores import render, skeleton_graph, skeletonize, tube_network
    from labkit.pores.render import skeleton_scene

    net = tube_network(24)
    graph = skeleton_graph(skeletonize(net.volume), voxel_size=2.0)
    pl = skeleton_scene(net.volume, graph, max_triangles=1500, window_size=(200, 160))
    scene = _scene_index(compact_scene(pl.trame.export_vtksz(filename=None)))
    pl.close()
    arrays = _arrays(scene)
    full = render.surface_mesh(net.volume, graph.voxel_size)

    def polydata(node):
        if isinstance(node, dict):
            if node.get("type") == "vtkPolyData":
                yield node["properties"]
            for value in node.values():
                yield from polydata(value)
        elif isinstance(node, list):
            for value in node:
                yield from polydata(value)

    def points(props):
        return arrays[props["points"]["hash"]].reshape(-1, 3)

    meshes = list(polydata(scene["scene"]))
    (lines,) = [p for p in meshes if p.get("lines") and len(arrays[p["lines"]["hash"]]) > 2]
    (surface,) = [p for p in meshes if p.get("polys")]
    cells, xyz, paths = arrays[lines["lines"]["hash"]], points(lines), []
    at = 0
    while at < len(cells):
        paths.append(xyz[cells[at + 1 : at + 1 + cells[at]]])
        at += 1 + cells[at]
    assert len(paths) == len(graph.branches)
    n_junctions = len(graph.junctions)
    for path, branch in zip(paths, graph.branches, strict=True):
        start, end = branch.nodes
        expected = np.concatenate(
            [graph.junctions[[start]] if start < n_junctions else np.empty((0, 3))]
            + [branch.voxels.astype(float)]
            + [graph.junctions[[end]] if end < n_junctions else np.empty((0, 3))]
        )
        np.testing.assert_allclose(path, expected * 2.0, rtol=1e-6)

    n_triangles = len(arrays[surface["polys"]["hash"]]) // 4
    assert 0 < n_triangles <= 1500 < full.n_cells
    kept = points(surface)
    np.testing.assert_allclose(kept.min(axis=0), np.array(full.bounds[::2]), atol=2.0)
    np.testing.assert_allclose(kept.max(axis=0), np.array(full.bounds[1::2]), atol=2.0)

    heavy = render.pore_surface(net.volume, voxel_size=2.0, opacity=0.25)
    render.skeleton_tubes(graph, radius=0.6, plotter=heavy)
    tubes = compact_scene(heavy.trame.export_vtksz(filename=None))
    heavy.close()
    light = skeleton_scene(net.volume, graph, max_triangles=1500)
    assert len(compact_scene(light.trame.export_vtksz(filename=None))) < len(tubes) / 2
    light.close()
