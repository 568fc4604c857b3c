"""The course website: a static book built with Sphinx and MyST-NB from executed notebooks.

Why Sphinx + MyST-NB (the engine of Jupyter Book 1) and not Jupyter Book 2: Jupyter Book 2 runs on
``mystmd``, a Node.js program, and a fresh machine here has only Python; MyST-NB renders executed
notebooks (figures, HTML and Bokeh outputs, math) with pure-Python tools that install from PyPI.
MathJax is served from the book itself (``jupyter-server-mathjax``), so math renders offline.
BokehJS and panel's JavaScript, which every executed notebook carries inline, are moved into one
shared file in ``_static/`` (:func:`share_loaders`), so a page weighs its figures, not the library.
ipywidgets views the browser can drive alone (``jslink``) stay live, drawn by ipywidgets' offline
HTML manager served from ``_static/widgets/``; the others show their last picture
(:mod:`labkit.course.book_widgets`). pyvista scenes shown with the ``labkit-scene`` backend turn
with the mouse in vtk.js's offline viewer, served from ``_static/vtkjs/``
(:mod:`labkit.course.book_scenes`).

Each page starts with a "launch on Binder" link and a "download the student notebook" link.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell

from labkit._io import check_output_folder, replace_folder
from labkit.course.book_scenes import scene_frames
from labkit.course.book_widgets import (
    LIVE_NOTE,
    WIDGET_VIEW,
    has_controls,
    html_manager_dist,
    live_views,
    prune_widget_state,
    vendor_html_manager,
    widget_snapshots,
)
from labkit.course.config import CourseConfig
from labkit.course.markers import instructor_source

__all__ = ["build_book", "localise_panel_assets", "share_loaders", "widget_snapshots"]


_CONF = """\
project = {title!r}
extensions = ["myst_nb", "sphinx.ext.mathjax"]
html_theme = "sphinx_book_theme"
html_title = {title!r}
html_static_path = ["_static"]
html_copy_source = False
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax3_config = None
mathjax2_config = {{
    "tex2jax": {{
        "inlineMath": [["\\\\(", "\\\\)"]],
        "displayMath": [["\\\\[", "\\\\]"]],
        "processClass": "tex2jax_process|mathjax_process|math|output_area",
        "ignoreClass": "tex2jax_ignore|mathjax_ignore",
    }},
    "messageStyle": "none",
}}
nb_execution_mode = "off"
nb_ipywidgets_js = {widgets_js!r}
myst_enable_extensions = ["dollarmath", "amsmath"]
exclude_patterns = ["_build", "student"]
html_theme_options = {{"show_toc_level": 2}}
suppress_warnings = ["mystnb.unknown_mime_type", "misc.highlighting_failure"]
"""


_PANEL_CDN = re.compile(r"https://cdn\.holoviz\.org/panel/[^/\"']+/dist/([^\"'\s)]+)")


def localise_panel_assets(text: str, static: Path) -> str:
    """Point panel's CDN addresses (theme CSS, module shims) at copies in ``static/panel/``.

    panel's loader asks ``cdn.holoviz.org`` for a few stylesheets and scripts even when its
    JavaScript is inline; the same files ship inside the installed panel (``panel/dist``), so
    the book serves them itself and stays usable offline. An address whose file panel does not
    ship is left as it is.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> static = pathlib.Path(tempfile.mkdtemp())
    >>> url = "https://cdn.holoviz.org/panel/1.9.4/dist/css/loading.css"
    >>> localise_panel_assets(f'["{url}"]', static)
    '["_static/panel/css/loading.css"]'
    >>> (static / "panel" / "css" / "loading.css").is_file()
    True
    """
    import panel

    dist = Path(panel.__file__).parent / "dist"

    def local(match: re.Match) -> str:
        rel = match.group(1)
        source = dist / urllib.parse.unquote(rel)
        if not source.is_file():
            return match.group(0)
        target = static / "panel" / urllib.parse.unquote(rel)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return f"_static/panel/{rel}"

    return _PANEL_CDN.sub(local, text)


_LOADERS = ("application/vnd.holoviews_load.v0+json", "application/vnd.bokehjs_load.v0+json")


def share_loaders(nb: nbformat.NotebookNode, static: Path) -> int:
    """Move each inlined BokehJS/panel loader out of the page into one shared file in ``static``.

    ``hv.extension``/``pn.extension`` (and Bokeh's ``output_notebook``) print their whole
    JavaScript (about 3 MB) into the notebook; rendered as is, every page of the book carries it.
    Each loader output becomes ``<script src="_static/labkit-loader-<hash>.js">``, the file
    written once for all pages with the same loader, run in the same place of the page as the
    inline script was. Returns how many outputs were moved.
    """
    moved = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            mime = next((m for m in _LOADERS if m in data), None)
            if mime is None:
                continue
            js = data.get("application/javascript") or data[mime]
            js = localise_panel_assets(js if isinstance(js, str) else "".join(js), static)
            name = f"labkit-loader-{hashlib.sha256(js.encode()).hexdigest()[:16]}.js"
            if not (static / name).exists():
                (static / name).write_text(js)
            output["data"] = {"text/html": f'<script src="_static/{name}"></script>'}
            moved += 1
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html")
            if isinstance(html, str) and "cdn.holoviz.org" in html:
                output["data"]["text/html"] = localise_panel_assets(html, static)
    return moved


def _live_widgets(nb: nbformat.NotebookNode) -> None:
    """Keep the live widget views (and only the state they need), each followed by a note."""
    live = live_views(nb)
    noted = {view for view, models in live.items() if has_controls(nb, models)}
    widget_snapshots(nb, keep=frozenset(live))
    prune_widget_state(nb, set().union(*live.values()) if live else set())
    for cell in nb.cells:
        outputs = []
        for output in cell.get("outputs", []):
            outputs.append(output)
            if output.get("data", {}).get(WIDGET_VIEW, {}).get("model_id") in noted:
                note = {"output_type": "display_data", "metadata": {}}
                outputs.append(nbformat.from_dict(note | {"data": {"text/html": LIVE_NOTE}}))
        if "outputs" in cell:
            cell.outputs = outputs


def _page(
    executed: Path, name: str, binder_url: str, static: Path, live: bool
) -> nbformat.NotebookNode:
    nb = nbformat.read(executed, as_version=4)
    share_loaders(nb, static)
    if live:
        _live_widgets(nb)
    else:
        widget_snapshots(nb)
        nb.metadata.pop("widgets", None)
    scene_frames(nb, static)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
        if "exercise" in tags:
            cell.source = instructor_source(cell.source)
    links = (
        f"[🚀 launch on Binder]({binder_url}?labpath=notebooks/{name}.ipynb) · "
        f"{{download}}`download the student notebook <student/{name}.ipynb>`"
    )
    position = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
    nb.cells.insert(position, new_markdown_cell(links, metadata={"tags": ["labkit-links"]}))
    return nb


def build_book(
    executed_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: CourseConfig,
    student_dir: str | os.PathLike,
    *,
    force: bool = False,
) -> Path:
    """Build the website from executed notebooks; return the path of its ``index.html``.

    Parameters
    ----------
    executed_dir : path
        Folder holding ``NAME.ipynb`` executed notebooks (``labkit run ... --out``).
    out_dir : path
        Where the HTML goes (replaced as a whole when the build succeeds).
    config : CourseConfig
        Which notebooks, in which order, and the Binder address.
    student_dir : path
        Folder of student notebooks (``labkit course build`` writes ``OUT/student``).
    force : bool
        Replace ``out_dir`` even if it exists and labkit did not write it.
    """
    executed_dir, student_dir = Path(executed_dir), Path(student_dir)
    out = check_output_folder(out_dir, force=force)
    names = [entry.name for entry in config.notebooks]
    missing = [n for n in names if not (executed_dir / f"{n}.ipynb").is_file()]
    if missing:
        raise ValueError(f"executed_dir {str(executed_dir)!r} lacks executed notebooks {missing}")
    missing = [n for n in names if not (student_dir / f"{n}.ipynb").is_file()]
    if missing:
        raise ValueError(f"student_dir {str(student_dir)!r} lacks student notebooks {missing}")

    import jupyter_server_mathjax

    with tempfile.TemporaryDirectory(prefix="labkit-book-") as tmp:
        src = Path(tmp) / "src"
        (src / "_static").mkdir(parents=True)
        (src / "student").mkdir()
        shutil.copytree(
            Path(jupyter_server_mathjax.__file__).parent / "static", src / "_static" / "mathjax"
        )
        dist = html_manager_dist()
        if dist is None:
            print(
                "labkit: the offline widget manager is not installed (make js); "
                "every widget in the book shows its last picture",
                file=sys.stderr,
            )
        widgets_js = vendor_html_manager(src / "_static", dist) if dist else []
        (src / "conf.py").write_text(
            _CONF.format(title=config.title, widgets_js={js: {} for js in widgets_js})
        )
        toc = "\n".join(names)
        (src / "index.md").write_text(
            f"# {config.title}\n\nThe notebooks of this course, executed. Each page links to Binder"
            f" and to the student version with the exercises left open.\n\n"
            f"```{{toctree}}\n:maxdepth: 1\n\n{toc}\n```\n"
        )
        for name in names:
            nbformat.write(
                _page(
                    executed_dir / f"{name}.ipynb",
                    name,
                    config.binder_url,
                    src / "_static",
                    live=dist is not None,
                ),
                src / f"{name}.ipynb",
            )
            shutil.copy(student_dir / f"{name}.ipynb", src / "student" / f"{name}.ipynb")
        html = Path(tmp) / "html"
        result = subprocess.run(
            [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-d", f"{tmp}/doctrees"]
            + [str(src), str(html)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"sphinx failed:\n{result.stderr[-3000:]}")
        # the themes' source maps (3.4 MB, for debuggers) are left out of the copy, not deleted
        skip_maps = shutil.ignore_patterns("*.map")
        replace_folder(
            out,
            lambda tmp: shutil.copytree(html, tmp, dirs_exist_ok=True, ignore=skip_maps),
            force=force,
        )
    return out / "index.html"
