"""The course website: built from the smoke-executed notebooks, read in headless Chromium with
every request outside the book's own folder blocked; the book stays light (BokehJS once); its
jslink'ed widgets move and the pore skeleton of notebook 07 turns, drawn by the book's own
JavaScript."""

from __future__ import annotations

import base64
import io
import json
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from labkit.course import build_course, load_course
from labkit.course.book import build_book
from labkit.notebooks import find_notebook, notebook_dir

COURSE_FILE = notebook_dir().parent / "course.toml"

MATH_JS = """
() => ({
  rendered: document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML').length,
  errors: document.querySelectorAll('.MathJax_Error, [data-mjx-error]').length
      + (document.body.innerText.includes('Math Processing Error') ? 1 : 0),
  images: Array.from(document.querySelectorAll('img'))
      .filter(img => img.complete && img.naturalWidth > 0).length,
  canvases: (() => { let n = 0; const roots = [document];
      while (roots.length) { const r = roots.pop();
        for (const el of r.querySelectorAll('*')) {
          if (el.shadowRoot) roots.push(el.shadowRoot);
          if (el.tagName === 'CANVAS' && el.width > 0) n++; } }
      return n; })(),
  links: Array.from(document.querySelectorAll('a')).map(a => a.textContent.trim()),
})
"""


MB = 1024**2


def page_weights(html: Path) -> tuple[int, dict[str, int]]:
    """Bytes of the whole book, and of each page: its HTML plus the images only it shows."""
    total = sum(f.stat().st_size for f in html.rglob("*") if f.is_file())
    pages = {}
    for page in html.glob("*.html"):
        text = page.read_text(errors="replace")
        own = {m for m in re.findall(r'src="(_images/[^"]+)"', text)}
        pages[page.name] = len(text.encode()) + sum((html / m).stat().st_size for m in own)
    return total, pages


@pytest.fixture(scope="module")
def book_index(tmp_path_factory, smoke_runs) -> Path:
    """The book of the default course, built once from the smoke runs; its ``index.html``."""
    tmp_path = tmp_path_factory.mktemp("book")
    config = load_course(COURSE_FILE)
    course = build_course(config, tmp_path / "course")
    notebooks = [find_notebook(entry.name) for entry in config.notebooks]
    smoke_runs.prefetch(notebooks)  # two at a time; test_notebooks.py reuses them
    for path in notebooks:
        smoke_runs(path)  # raises a notebook's error, if any
    index = build_book(smoke_runs.out_dir, tmp_path / "html", config, course.root / "student")
    assert not list(index.parent.rglob("*.map")), "the themes' source maps are left out"
    return index


def offline_page(context, root: str, blocked: list[str]):
    """A new page of ``context`` that lets through only requests for files under ``root``."""

    def offline(route):
        if route.request.url.startswith(root):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page = context.new_page()
    page.route("**/*", offline)
    return page


def pixels(locator) -> np.ndarray:
    """The element's screenshot as an RGB array."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB"), dtype=float)


def changed(before: np.ndarray, after: np.ndarray) -> float:
    """Fraction of pixels whose colour moved by more than 30 (sum over RGB)."""
    if before.shape != after.shape:
        return 1.0
    return float((np.abs(after - before).sum(axis=-1) > 30).mean())


def settle(locator, timeout_s: float = 20.0, drawn=lambda a: True) -> np.ndarray:
    """Screenshots of ``locator`` until two in a row agree and ``drawn`` holds; the last one."""
    deadline, last = time.monotonic() + timeout_s, pixels(locator)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = pixels(locator)
        if changed(last, now) == 0 and drawn(now):
            return now
        last = now
    return last


def test_book_renders_figures_and_math(book_index, browser_context, screens_dir):
    index = book_index
    tmp_path = index.parent.parent
    assert (tmp_path / "html" / "student" / "00_tour.ipynb").exists() or any(
        (tmp_path / "html" / "_downloads").rglob("00_tour.ipynb")
    ), "the student notebook is downloadable"

    total, pages = page_weights(index.parent)
    assert total < 25 * MB, f"the book weighs {total / MB:.1f} MB"
    heavy = {k: round(v / MB, 2) for k, v in pages.items() if v >= 3 * MB}
    assert not heavy, f"pages over 3 MB beyond the shared assets: {heavy}"

    blocked: list[str] = []
    page = offline_page(browser_context, index.parent.as_uri(), blocked)
    try:
        page.goto(index.as_uri())
        page.wait_for_load_state("load")
        titles = page.locator("nav a").all_inner_texts()
        assert any("tour" in t.lower() for t in titles), titles
        page.screenshot(path=str(screens_dir / "book_index.png"))

        page.goto((index.parent / "00_tour.html").as_uri())
        page.wait_for_function(
            "document.querySelectorAll('.MathJax, .MathJax_CHTML').length > 0", timeout=60_000
        )
        page.wait_for_timeout(1500)
        state = page.evaluate(MATH_JS)
        page.screenshot(path=str(screens_dir / "book_00_tour.png"), full_page=True)
    finally:
        page.close()
    assert state["rendered"] >= 5, state
    assert state["errors"] == 0, state
    assert state["images"] >= 1, "the executed figures are on the page"
    assert state["canvases"] >= 1, "the HoloViews (Bokeh) plot is drawn, from the book's files"
    assert not blocked, f"the book asked for files outside itself: {sorted(set(blocked))[:5]}"
    assert any("Binder" in t for t in state["links"])
    assert any("student notebook" in t for t in state["links"])


def polylines(srcdoc: str) -> int:
    """How many polylines of three points or more (curves, not straight segments such as a
    box's outline) the vtk.js scene of a ``labkit-scene`` frame's page holds."""
    (scene,) = re.findall(r'base64Str:"([A-Za-z0-9+/=]+)"', srcdoc)
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(scene))) as z:
        index = json.loads(z.read("index.json"))
    count = 0

    def walk(node):
        nonlocal count
        if isinstance(node, dict):
            lines = node.get("properties", {}).get("lines") if "properties" in node else None
            if isinstance(lines, dict) and lines.get("hash") in index["hashes"]:
                cells = np.frombuffer(
                    base64.b64decode(index["hashes"][lines["hash"]]["content"]), dtype="<i4"
                )
                at = 0
                while at < len(cells):
                    count += int(cells[at] >= 3)
                    at += 1 + int(cells[at])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(index["scene"])
    return count


def _first_page_with(html: Path, marker: str) -> Path:
    pages = sorted(p for p in html.glob("*.html") if marker in p.read_text(errors="replace"))
    assert pages, f"no page of the book holds {marker!r}"
    return pages[0]


def test_book_widget_moves_and_scene_turns(book_index, browser_context, screens_dir):
    """In the static book, with no kernel and nothing fetched from outside: a jslink'ed slider
    moved with the keyboard changes its picture, and the pore skeleton of notebook 07 (a vtk.js
    scene of one polyline per branch) dragged with the mouse turns (each checked by the pixels
    of its screenshots before and after)."""
    html = book_index.parent
    blocked: list[str] = []
    page = offline_page(browser_context, html.as_uri(), blocked)
    try:
        page.goto(_first_page_with(html, "application/vnd.jupyter.widget-state+json").as_uri())
        page.locator(".widget-subarea .widget-slider .noUi-handle").first.wait_for(timeout=30_000)
        widget = page.locator(".widget-subarea").filter(has=page.locator(".noUi-handle")).first
        handle = widget.locator(".noUi-handle").first
        widget.scroll_into_view_if_needed()
        readout = widget.locator(".widget-readout").first
        before, start = settle(widget), readout.inner_text()
        handle.focus()
        for _ in range(2):
            page.keyboard.press("ArrowRight")
        after = settle(widget)
        widget.screenshot(path=str(screens_dir / "book_widget_moved.png"))
        assert readout.inner_text() != start, "the slider did not move"
        assert changed(before, after) > 0.01, "moving the slider did not change the picture"

        page.goto((html / "07_pore_skeletons.html").as_uri())
        frames = page.locator("iframe.labkit-scene")
        branches = [polylines(f.get_attribute("srcdoc") or "") for f in frames.all()]
        skeleton = branches.index(max(branches))  # the scene with the skeleton's branches
        assert branches[skeleton] >= 20, f"no pore skeleton among the scenes: {branches}"
        frame = frames.nth(skeleton)
        frame.scroll_into_view_if_needed()
        page.frame_locator("iframe.labkit-scene").nth(skeleton).locator("canvas").wait_for(
            timeout=30_000
        )
        drawn = lambda a: (a.min(axis=-1) < 200).mean() > 0.02  # noqa: E731 - the scene, not white
        before = settle(frame, drawn=drawn)
        frame.screenshot(path=str(screens_dir / "book_skeleton_before.png"))
        assert drawn(before), "the 3-D scene was not drawn"
        box = frame.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 150, y + 40, steps=4)
        page.mouse.up()
        after = settle(frame, drawn=drawn)
        frame.screenshot(path=str(screens_dir / "book_skeleton_turned.png"))
        assert changed(before, after) > 0.02, "dragging did not turn the scene"
    finally:
        page.close()
    assert not blocked, f"the book asked for files outside itself: {sorted(set(blocked))[:5]}"
