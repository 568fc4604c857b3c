"""ipywidgets in the static book: live where the browser alone can drive them, else a picture.

An executed notebook keeps its widget state (``metadata.widgets``, saved by nbclient). A widget
view whose whole tree is made of the standard ``@jupyter-widgets`` models, holds no ``Output``
widget (filled by Python), and whose controls are all tied to the rest by ``jslink`` is *live*:
the book keeps its view and the state it needs, and ipywidgets' offline HTML widget manager
(``@jupyter-widgets/html-manager``'s ``embed.js``, served from the book's ``_static/widgets/``)
draws it, so its slider moves without a kernel. Any other view needs Python to react; it is
replaced by the last picture its Output widgets hold (:func:`widget_snapshots`), with a line
saying so.

The manager's bundle is installed with npm (``make js``: ``js/package.json``, pinned by
``js/package-lock.json``); ``$LABKIT_HTML_MANAGER`` may name another ``dist`` folder of it.
Without it the book still builds, every view showing its last picture.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat

__all__ = [
    "has_controls",
    "html_manager_dist",
    "live_views",
    "prune_widget_state",
    "vendor_html_manager",
    "widget_snapshots",
]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_REF = "IPY_MODEL_"
_LINKS = {"LinkModel", "DirectionalLinkModel"}
_SNAPSHOT_NOTE = (
    '<p class="labkit-widget-note"><em>The explorer as it was last drawn; run the notebook '
    "(Binder link above) to move its controls.</em></p>"
)
LIVE_NOTE = (
    '<p class="labkit-widget-note"><em>Live in this page: the controls pick among results '
    "computed when the notebook ran.</em></p>"
)
_ASSETS = (".js", ".txt", ".woff2")  # Chromium, Firefox and Safari read woff2


def _state(nb: nbformat.NotebookNode) -> dict:
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _refs(value) -> set[str]:
    """Model ids referenced (``"IPY_MODEL_<id>"``) anywhere inside ``value``."""
    if isinstance(value, str):
        return {value.removeprefix(_REF)} if value.startswith(_REF) else set()
    if isinstance(value, dict):
        return set().union(*map(_refs, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(_refs, value)) if value else set()
    return set()


def _tree(state: dict, model_id: str) -> set[str]:
    """``model_id`` and every model it references, transitively (those present in ``state``)."""
    seen, todo = set(), [model_id]
    while todo:
        mid = todo.pop()
        if mid in seen or mid not in state:
            continue
        seen.add(mid)
        todo += _refs(state[mid].get("state", {}))
    return seen


def _links(state: dict) -> dict[str, set[str]]:
    """Each jslink model and the two widgets it ties."""
    return {
        mid: _refs([m["state"].get("source"), m["state"].get("target")])
        for mid, m in state.items()
        if m.get("model_name") in _LINKS
    }


def _is_control(model: dict) -> bool:
    return "value" in model.get("state", {}) and "disabled" in model.get("state", {})


def live_views(nb: nbformat.NotebookNode) -> dict[str, set[str]]:
    """The widget views the browser can drive alone: view model id -> models its page needs.

    A view is live when every model of its tree comes from ``@jupyter-widgets/*``, none is an
    ``Output`` widget, and each control (a model with ``value`` and ``disabled``) is tied by a
    ``jslink``/``jsdlink`` to another widget of the tree; the models it needs are its tree and
    those links.
    """
    state = _state(nb)
    links = _links(state)
    views = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if not view or view["model_id"] not in state:
                continue
            tree = _tree(state, view["model_id"])
            models = [state[mid] for mid in tree]
            if any(
                not m.get("model_module", "").startswith("@jupyter-widgets/")
                or m.get("model_name") == "OutputModel"
                for m in models
            ):
                continue
            ties = {lid: ends for lid, ends in links.items() if ends and ends <= tree}
            tied = set().union(*ties.values()) if ties else set()
            if any(_is_control(state[mid]) and mid not in tied for mid in tree):
                continue
            needed = set(tree)
            for lid in ties:
                needed |= _tree(state, lid)
            views[view["model_id"]] = needed
    return views


def has_controls(nb: nbformat.NotebookNode, models: set[str]) -> bool:
    """Whether any of ``models`` is a control a reader can move (not e.g. a progress bar)."""
    state = _state(nb)
    return any(_is_control(state[mid]) for mid in models if mid in state)


def prune_widget_state(nb: nbformat.NotebookNode, keep: set[str]) -> int:
    """Keep only the models in ``keep`` in the saved widget state (none: drop it); how many."""
    widgets = nb.metadata.get("widgets", {})
    state = _state(nb)
    if not keep:
        nb.metadata.pop("widgets", None)
        return 0
    widgets[WIDGET_STATE]["state"] = {mid: m for mid, m in state.items() if mid in keep}
    return len(widgets[WIDGET_STATE]["state"])


def _captured_outputs(state: dict, model_id: str, seen: set[str]) -> list[dict]:
    """Outputs held by the Output widgets in the tree of widget ``model_id``, in child order."""
    if model_id in seen or model_id not in state:
        return []
    seen.add(model_id)
    model = state[model_id]
    outputs = list(model.get("state", {}).get("outputs", []))
    for child in model.get("state", {}).get("children", []):
        if isinstance(child, str) and child.startswith(_REF):
            outputs += _captured_outputs(state, child.removeprefix(_REF), seen)
    return outputs


def widget_snapshots(nb: nbformat.NotebookNode, keep: frozenset[str] = frozenset()) -> int:
    """Replace each ipywidgets view (but those in ``keep``) by the last picture it holds.

    A static page has no kernel to drive the widgets, and a view alone renders nothing. The
    executed notebook's saved widget state (``metadata.widgets``) keeps what each Output widget
    showed last; those outputs take the view's place, with a line saying so. A view whose state
    holds no output is left as it was. Returns how many views were replaced.
    """
    state = _state(nb)
    replaced = 0
    for cell in nb.cells:
        outputs = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            skip = not view or view["model_id"] in keep
            captured = [] if skip else _captured_outputs(state, view["model_id"], set())
            if not captured:
                outputs.append(output)
                continue
            outputs += [nbformat.from_dict(o) for o in captured]
            note = {"output_type": "display_data", "metadata": {}}
            outputs.append(nbformat.from_dict(note | {"data": {"text/html": _SNAPSHOT_NOTE}}))
            replaced += 1
        if "outputs" in cell:
            cell.outputs = outputs
    return replaced


def html_manager_dist() -> Path | None:
    """The ``dist`` folder of ``@jupyter-widgets/html-manager``, or None when not installed.

    ``$LABKIT_HTML_MANAGER`` when set, else ``js/node_modules`` of the checkout (``make js``).
    """
    env = os.environ.get("LABKIT_HTML_MANAGER")
    checkout = Path(__file__).resolve().parents[2] / "js" / "node_modules"
    dist = Path(env) if env else checkout / "@jupyter-widgets" / "html-manager" / "dist"
    return dist if (dist / "embed.js").is_file() else None


def vendor_html_manager(static: Path, dist: Path) -> list[str]:
    """Copy the manager's ``embed.js`` (and its fonts, license) into ``static/widgets/``.

    Returns the scripts a page with live widgets loads, relative to ``static``, in order: a
    line telling the bundle where its fonts are, then the bundle.
    """
    target = static / "widgets"
    target.mkdir(parents=True, exist_ok=True)
    for path in dist.iterdir():
        if path.is_file() and path.suffix in _ASSETS and not path.name.startswith("libembed"):
            if "amd" not in path.name:
                shutil.copyfile(path, target / path.name)
    version = json.loads((dist.parent / "package.json").read_text()).get("version", "?")
    (target / "labkit-widgets.js").write_text(
        f"// @jupyter-widgets/html-manager {version}, served by the book itself\n"
        "window.__jupyter_widgets_assets_path__ = "
        'document.currentScript.src.replace(/[^/]*$/, "");\n'
    )
    return ["widgets/labkit-widgets.js", "widgets/embed.js"]
