"""pyvista scenes that can be turned in the static book: a vtk.js export beside each picture.

In the kernel, :func:`scene_backend` registers a pyvista Jupyter backend (``"labkit-scene"``)
whose output holds both the usual picture (``image/png``, what JupyterLab, nbconvert and GitHub
show) and the scene exported for vtk.js (``application/vnd.labkit.vtksz+base64``: pyvista's
``export_vtksz``, a zip of the scene's arrays). No trame server is involved in the browser.

When the book is built, :func:`scene_frames` turns those outputs into an ``<iframe>`` running
vtk.js's ``OfflineLocalView`` (the viewer trame-vtk ships, copied once into the book's
``_static/vtkjs/`` by :func:`vendor_viewer`), so the scene turns with the mouse and zooms with the
wheel, offline. A page keeps at most ``budget`` bytes of scenes; a scene past that keeps its
picture, with a line saying how to turn it.

A scene's weight is its geometry: :func:`labkit.pores.render.skeleton_scene` draws a pore
skeleton light enough to turn in the book at any volume size.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import zipfile
from pathlib import Path

import nbformat

__all__ = [
    "SCENE_MIME",
    "compact_scene",
    "scene_backend",
    "scene_frames",
    "vendor_viewer",
]

SCENE_MIME = "application/vnd.labkit.vtksz+base64"
BACKEND = "labkit-scene"
VIEWER = "vtkjs/OfflineLocalView.js"

_FRAME_NOTE = (
    '<p class="labkit-scene-note"><em>A 3-D scene: drag to turn it, scroll to zoom, shift-drag '
    "to move it (vtk.js, in your browser).</em></p>"
)
_OVER_BUDGET_NOTE = (
    '<p class="labkit-scene-note"><em>A picture of a 3-D scene: its vtk.js export would make this '
    "page too heavy for the book; run the notebook (Binder link above) to turn it.</em></p>"
)


class _Scene:
    """What the backend displays: a picture, and the vtk.js scene for the book."""

    def __init__(self, png: bytes, scene: bytes, size: tuple[int, int]):
        self.png, self.scene, self.size = png, scene, size

    def _repr_mimebundle_(self, include=None, exclude=None):
        width, height = self.size
        return {
            "image/png": base64.b64encode(self.png).decode("ascii"),
            SCENE_MIME: base64.b64encode(self.scene).decode("ascii"),
            "text/plain": f"<pyvista scene {width}x{height}>",
        }, {"image/png": {"width": width, "height": height}, SCENE_MIME: {"size": [width, height]}}


def _retype(node, hashes: set[str]) -> None:
    """Mark the arrays named by ``hashes`` as float32 wherever the scene description lists them."""
    if isinstance(node, dict):
        if node.get("hash") in hashes:
            node["dataType"] = "Float32Array"
        for value in node.values():
            _retype(value, hashes)
    elif isinstance(node, list):
        for value in node:
            _retype(value, hashes)


def compact_scene(vtksz: bytes) -> bytes:
    """The same scene with its float64 arrays as float32 and the zip deflated at level 9.

    vtk.js draws in float32 anyway; pyvista's export keeps VTK's float64 points (e.g. of tubes),
    twice the bytes for nothing on screen.

    Examples
    --------
    >>> import pyvista as pv
    >>> pl = pv.Plotter(off_screen=True)
    >>> _ = pl.add_mesh(pv.Sphere().points_to_double())
    >>> raw = pl.trame.export_vtksz(filename=None)  # doctest: +SKIP
    >>> len(compact_scene(raw)) < len(raw)  # doctest: +SKIP
    True
    """
    import numpy as np

    with zipfile.ZipFile(io.BytesIO(vtksz)) as zin:
        index = json.loads(zin.read("index.json"))
    wide = {h for h, array in index["hashes"].items() if array["type"] == "Float64Array"}
    for h in wide:
        values = np.frombuffer(base64.b64decode(index["hashes"][h]["content"]), dtype="<f8")
        content = base64.b64encode(values.astype("<f4").tobytes()).decode("ascii")
        index["hashes"][h].update(type="Float32Array", content=content)
    _retype(index["scene"], wide)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        zout.writestr("index.json", json.dumps(index, separators=(",", ":")))
    return min(out.getvalue(), vtksz, key=len)


def _show_scene(plotter, screenshot=None, **kwargs) -> _Scene:
    """The ``labkit-scene`` backend: pyvista's static picture plus the scene's vtk.js export."""
    from pyvista.jupyter.notebook import show_static_image

    image = show_static_image(plotter, screenshot)
    png = io.BytesIO()
    image.save(png, format="png")
    scene = compact_scene(plotter.trame.export_vtksz(filename=None))
    return _Scene(png.getvalue(), scene, tuple(plotter.window_size))


def scene_backend(live: bool = False) -> str:
    """Name of the pyvista Jupyter backend a notebook should use; registers labkit's.

    Parameters
    ----------
    live : bool
        Ask for trame's server-driven backend (an interactive view in a running JupyterLab).
        It is granted only when trame is installed and the notebook is not being run for the
        book (``LABKIT_BOOK=1``, set by ``labkit course book``); otherwise the answer is
        ``"labkit-scene"``: a picture, and the scene for the book's vtk.js viewer.

    Examples
    --------
    >>> import pyvista as pv
    >>> scene_backend()
    'labkit-scene'
    >>> pv.set_jupyter_backend(scene_backend())
    """
    import pyvista as pv

    if live and os.environ.get("LABKIT_BOOK") != "1":
        try:
            import trame  # noqa: F401

            return "trame"
        except ImportError:
            pass
    pv.register_jupyter_backend(BACKEND, _show_scene, override=True)
    return BACKEND


def vendor_viewer(static: Path) -> str:
    """Copy vtk.js's offline viewer (shipped by trame-vtk) to ``static/vtkjs/``; its path there.

    trame-vtk ships the viewer as one HTML page whose single module script holds the whole
    bundle (no ``import``); it is written out as a classic script, which a page opened from
    ``file://`` may load (a module script could not).
    """
    from trame_vtk.tools.vtksz2html import HTML_VIEWER_PATH

    target = static / VIEWER
    if not target.exists():
        page = Path(HTML_VIEWER_PATH).read_text(encoding="utf-8")
        start = page.index('<script type="module">') + len('<script type="module">')
        script = page[start : page.index("</script>", start)]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("window.global = window.global || {};\n" + script, encoding="utf-8")
    return VIEWER


def _frame(scene_b64: str, size: tuple[int, int]) -> str:
    """An ``<iframe>`` whose own page runs the shared viewer on ``scene_b64``."""
    width, height = size
    page = (
        '<!doctype html><html><head><meta charset="utf-8"><style>html,body{margin:0;padding:0;'
        "height:100%;overflow:hidden}</style></head><body><script>function loadDataSet(){"
        f'OfflineLocalView.load(document.body,{{base64Str:"{scene_b64}"}});}}</script>'
        f'<script src="_static/{VIEWER}"></script></body></html>'
    )
    style = (
        f"width:100%;max-width:{width}px;aspect-ratio:{width}/{height};"
        "border:1px solid #ddd;display:block"
    )
    return (
        f'<iframe class="labkit-scene" title="3-D scene: drag to turn, scroll to zoom" '
        f'style="{style}" srcdoc="{html.escape(page, quote=True)}"></iframe>'
    )


def scene_frames(nb: nbformat.NotebookNode, static: Path, budget: int = 3 * 1024**2 // 2) -> int:
    """Turn each scene output into a vtk.js ``<iframe>`` while the page's scenes fit ``budget``.

    A scene output (``image/png`` with :data:`SCENE_MIME`) within the budget (bytes of base64
    scene per page) becomes the viewer, served from ``static/vtkjs/``; one past it keeps its
    picture and a line saying so. Returns how many scenes became turnable.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from nbformat.v4 import new_code_cell, new_notebook, new_output
    >>> data = {"image/png": "iVBORw0KGgo=", SCENE_MIME: "UEsFBg=="}
    >>> nb = new_notebook(cells=[new_code_cell("pl.show()", outputs=[
    ...     new_output("display_data", data=data, metadata={SCENE_MIME: {"size": [480, 360]}})])])
    >>> static = pathlib.Path(tempfile.mkdtemp())
    >>> scene_frames(nb, static)
    1
    >>> html_out = nb.cells[0].outputs[0].data["text/html"]
    >>> "<iframe" in html_out and "UEsFBg==" in html_out
    True
    >>> (static / "vtkjs" / "OfflineLocalView.js").is_file()
    True
    """
    used, framed = 0, 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if SCENE_MIME not in data:
                continue
            scene = data.pop(SCENE_MIME)
            size = output.get("metadata", {}).pop(SCENE_MIME, {}).get("size", (480, 360))
            if used + len(scene) > budget:
                data["text/html"] = (
                    f'<img src="data:image/png;base64,{data["image/png"]}" '
                    f'alt="3-D scene">{_OVER_BUDGET_NOTE}'
                )
                data.pop("image/png")
                continue
            vendor_viewer(static)
            data.pop("image/png", None)
            data["text/html"] = _frame(scene, tuple(size)) + _FRAME_NOTE
            used += len(scene)
            framed += 1
    return framed
