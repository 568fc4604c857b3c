"""The course website: built from the smoke-executed notebooks, read in headless Chromium with
every request outside the book's own folder blocked; the book stays light (BokehJS once)."""

from __future__ import annotations

import re
from pathlib import Path

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


def test_book_renders_figures_and_math(tmp_path, smoke_runs, browser_context, screens_dir):
    config = load_course(COURSE_FILE)
    course = build_course(config, tmp_path / "course")
    notebooks = [find_notebook(entry.name) for entry in config.notebooks]
    smoke_runs.prefetch(notebooks)  # two at a time; test_notebooks.py reuses them
    for path in notebooks:
        smoke_runs(path)  # raises a notebook's error, if any
    index = build_book(smoke_runs.out_dir, tmp_path / "html", config, course.root / "student")
    assert (tmp_path / "html" / "student" / "00_tour.ipynb").exists() or any(
        (tmp_path / "html" / "_downloads").rglob("00_tour.ipynb")
    ), "the student notebook is downloadable"

    total, pages = page_weights(index.parent)
    assert total < 25 * MB, f"the book weighs {total / MB:.1f} MB"
    heavy = {k: round(v / MB, 2) for k, v in pages.items() if v >= 3 * MB}
    assert not heavy, f"pages over 3 MB beyond the shared assets: {heavy}"

    root = index.parent.as_uri()
    blocked: list[str] = []

    def offline(route):
        if route.request.url.startswith(root):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page = browser_context.new_page()
    page.route("**/*", offline)
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
