"""Notebooks run in JupyterLab in headless Chromium, and their widgets react.

A notebook takes part when it declares where its slider is:
``metadata["labkit"]["browser"] = {"slider": "CSS selector"}`` (the tour always does). Each is
copied into a temporary folder with ``smoke = True`` added to its ``parameters`` cell, opened in
JupyterLab, run with Run > Run All Cells; then the slider is moved with the keyboard and the test
checks that a plot changed (canvas pixels, image sources or Bokeh data), and saves a screenshot.
A generated notebook builds every ``labkit.viz`` explorer (``labkit.viz.apps.EXPLORERS``) from
its demo data, one cell each, and is run once in one kernel; then, per explorer, the first slider
in that cell is moved and the plots drawn in that cell must change, and the cell is saved as a
screenshot.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from _browser import DRAWN_STATE_JS, fingerprint, free_port, stop, wait_for_http

from labkit.viz.apps import EXPLORERS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(400)]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
EXPLORER_NOTEBOOK = "viz_explorers_check.ipynb"
EXPLORER_NAMES = sorted(EXPLORERS)
DEFAULT_SLIDER = ".noUi-handle"
RUN_LIMIT_S = 240


def _browser_notebooks() -> list[str]:
    names = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        meta = nbformat.read(path, as_version=4).metadata.get("labkit", {})
        if path.stem == "00_tour" or "browser" in meta:
            names.append(path.name)
    return names


def _smoke_copy(source: Path, target: Path) -> None:
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            cell.source = cell.source.rstrip() + "\nsmoke = True  # set by the browser test\n"
            break
    nbformat.write(nb, target)


def _explorer_notebook(target: Path) -> None:
    """One cell per explorer, in ``EXPLORER_NAMES`` order, each built from its demo data."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# labkit.viz inside JupyterLab (browser test)"),
        nbformat.v4.new_code_cell("from labkit.viz.apps import DEMOS, EXPLORERS"),
    ]
    nb.cells += [
        nbformat.v4.new_code_cell(
            f'EXPLORERS["{name}"](DEMOS["{name}"]())', metadata={"labkit_explorer": name}
        )
        for name in EXPLORER_NAMES
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, target)


def _user_settings(folder: Path) -> None:
    """Plain notebooks (no virtual scrolling) and no news or update checks."""
    settings = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
    }
    for name, value in settings.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory):
    """A JupyterLab server on a free 127.0.0.1 port over smoke copies of the notebooks."""
    root = tmp_path_factory.mktemp("lab")
    nb_dir, settings = root / "notebooks", root / "settings"
    nb_dir.mkdir()
    for name in _browser_notebooks():
        _smoke_copy(NOTEBOOKS / name, nb_dir / name)
    _explorer_notebook(nb_dir / EXPLORER_NOTEBOOK)
    _user_settings(settings)
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **{k: v for k, v in os.environ.items() if k != "MPLBACKEND"},  # kernels draw inline
        "OMP_NUM_THREADS": "1",
        "PYVISTA_OFF_SCREEN": "true",
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
    }
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
        f"--ServerApp.token={token}", "--ServerApp.ip=127.0.0.1",
        f"--notebook-dir={nb_dir}", "--LabApp.news_url=", "--ServerApp.open_browser=False",
    ] + (["--allow-root"] if os.geteuid() == 0 else [])  # fmt: skip
    log = root / "jupyterlab.log"
    with open(log, "w") as handle:
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=nb_dir)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc, 120, log)
        yield {"base": f"http://127.0.0.1:{port}", "token": token, "dir": nb_dir, "log": log}
    finally:
        stop(proc)


def _dismiss_dialogs(page) -> None:
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        accept = dialog.locator(".jp-Dialog-button.jp-mod-accept")
        (accept if accept.count() else dialog.locator("button").first).first.click()
    for label in ("No", "Dismiss"):
        button = page.locator(f".jp-Notification-Toast button:has-text('{label}')")
        if button.count():
            button.first.click()


ERROR_OUTPUT = ".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']"


def _wait_all_run(page, n_code: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    prompts: list[str] = []
    while time.monotonic() < deadline:
        _dismiss_dialogs(page)
        if page.locator(ERROR_OUTPUT).count():
            pytest.fail("a cell raised: " + page.locator(ERROR_OUTPUT).first.inner_text()[-2000:])
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        done = [p for p in prompts if re.search(r"\[\d+\]", p)]
        if len(prompts) >= n_code and len(done) == n_code:
            return
        time.sleep(1.0)
    pytest.fail(f"the notebook did not finish in {timeout_s:.0f} s; prompts: {prompts}")


def _wait_kernel_idle(page, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _dismiss_dialogs(page)
        if page.locator(".jp-StatusBar-TextItem", has_text="| Idle").count():
            return
        time.sleep(1.0)
    pytest.fail(f"the kernel was not idle after {timeout_s:.0f} s")


def _run_all(page, n_code: int) -> None:
    """Run > Run All Cells, again if no cell has started within 30 s (a click lost under load)."""
    for _ in range(2):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
            if any(re.search(r"\[(\*|\d+)\]", p) for p in prompts):
                return
            _dismiss_dialogs(page)
            time.sleep(1.0)
    pytest.fail("Run All Cells did not start any cell")


def _stable_state(page, root=None) -> str:
    """The drawn state of the page (or of element ``root``) once it stops changing."""
    probe = root.evaluate if root is not None else page.evaluate
    previous, state = None, probe(DRAWN_STATE_JS)
    while state != previous:
        time.sleep(1.0)
        previous, state = state, probe(DRAWN_STATE_JS)
    return state


def _open_and_run(page, jupyter_lab, notebook: str) -> tuple[float, float]:
    """Open ``notebook`` in its own workspace, Run All Cells and wait for every cell.

    Returns the seconds until the kernel was idle and the seconds the cells took.
    """
    nb = nbformat.read(jupyter_lab["dir"] / notebook, as_version=4)
    n_code = sum(cell.cell_type == "code" for cell in nb.cells)
    url = (
        f"{jupyter_lab['base']}/lab/workspaces/{Path(notebook).stem}/tree/{notebook}"
        f"?reset&token={jupyter_lab['token']}"
    )
    page.goto(url, wait_until="load")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=90_000)
    t0 = time.perf_counter()
    _wait_kernel_idle(page, 120)
    t1 = time.perf_counter()
    _run_all(page, n_code)
    _wait_all_run(page, n_code, RUN_LIMIT_S)
    return t1 - t0, time.perf_counter() - t1


def _slider_handle(target):
    handle = target.locator(".noUi-handle")
    return handle.first if handle.count() else target


@pytest.mark.parametrize("notebook", _browser_notebooks())
def test_notebook_widgets_react_in_jupyterlab(notebook, jupyter_lab, browser_context, screens_dir):
    path = jupyter_lab["dir"] / notebook
    nb = nbformat.read(path, as_version=4)
    slider = nb.metadata.get("labkit", {}).get("browser", {}).get("slider", DEFAULT_SLIDER)
    stem = Path(notebook).stem
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        ready_s, ran_s = _open_and_run(page, jupyter_lab, notebook)
        target = page.locator(slider).first
        target.wait_for(timeout=60_000)
        handle = _slider_handle(target)
        handle.scroll_into_view_if_needed()
        before = _stable_state(page)
        page.screenshot(path=str(screens_dir / f"lab_{stem}_before.png"))
        handle.focus()
        start = time.perf_counter()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"() => ({DRAWN_STATE_JS})() !== {before!r}", timeout=30_000)
        reacted_s = time.perf_counter() - start
        after = _stable_state(page)
        page.screenshot(path=str(screens_dir / f"lab_{stem}.png"))
    except BaseException:
        page.screenshot(path=str(screens_dir / f"lab_{stem}_failed.png"))
        raise
    finally:
        page.close()
    print(f"{notebook}: kernel ready in {ready_s:.0f} s, ran in {ran_s:.0f} s")
    print(
        f"{notebook}: reacted in {reacted_s:.2f} s ({fingerprint(before)} -> {fingerprint(after)})"
    )
    assert after != before
    assert not [e for e in errors if "ResizeObserver" not in e], f"JavaScript errors: {errors}"


@pytest.fixture(scope="module")
def explorers_page(jupyter_lab, browser_context, screens_dir):
    """The generated notebook with every explorer, run once (one kernel) and left open."""
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        ready_s, ran_s = _open_and_run(page, jupyter_lab, EXPLORER_NOTEBOOK)
    except BaseException:
        page.screenshot(path=str(screens_dir / "lab_explorers_failed.png"), full_page=True)
        page.close()
        raise
    print(f"{EXPLORER_NOTEBOOK}: kernel ready in {ready_s:.0f} s, ran in {ran_s:.0f} s")
    yield page, errors
    page.close()


# Fraction of pure-white pixels of every loaded <img> under an element (shadow roots included).
# The explorers draw images (the pore viewer's pyvista view) on a white background; an image
# with none is noise, e.g. from an OpenGL context used on the wrong thread.
IMAGE_WHITE_JS = """
(root) => {
  const out = [], roots = [root];
  while (roots.length) {
    const r = roots.pop();
    for (const el of r.querySelectorAll("*")) {
      if (el.shadowRoot) roots.push(el.shadowRoot);
      if (el.tagName !== "IMG" || !el.complete || !el.naturalWidth) continue;
      const c = document.createElement("canvas");
      c.width = el.naturalWidth; c.height = el.naturalHeight;
      const ctx = c.getContext("2d"); ctx.drawImage(el, 0, 0);
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      let white = 0;
      for (let i = 0; i < d.length; i += 4) {
        white += d[i] === 255 && d[i + 1] === 255 && d[i + 2] === 255;
      }
      out.push(white / (d.length / 4));
    }
  }
  return out;
}
"""
MIN_WHITE = 0.2


@pytest.mark.parametrize("name", EXPLORER_NAMES)
def test_explorer_reacts_in_jupyterlab(name, explorers_page, screens_dir):
    page, errors = explorers_page
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(1 + EXPLORER_NAMES.index(name))
    output = cell.locator(".jp-OutputArea")
    try:
        assert f'EXPLORERS["{name}"]' in cell.locator(".jp-InputArea").inner_text()
        output.locator("canvas").first.wait_for(state="attached", timeout=60_000)
        handle = output.locator(".noUi-handle").first
        handle.wait_for(timeout=60_000)
        handle.scroll_into_view_if_needed()
        before = _stable_state(page, output)
        assert "canvas:" in before, f"{name}: no canvas was drawn in JupyterLab"
        cell.screenshot(path=str(screens_dir / f"lab_explorer_{name}_before.png"))
        white_before = output.evaluate(IMAGE_WHITE_JS)
        handle.focus()
        start = time.perf_counter()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            f"([root, before]) => ({DRAWN_STATE_JS})(root) !== before",
            arg=[output.element_handle(), before],
            timeout=30_000,
        )
        reacted_s = time.perf_counter() - start
        after = _stable_state(page, output)
        white_after = output.evaluate(IMAGE_WHITE_JS)
        cell.screenshot(path=str(screens_dir / f"lab_explorer_{name}.png"))
    except BaseException:
        page.screenshot(path=str(screens_dir / f"lab_explorer_{name}_failed.png"))
        raise
    print(
        f"{name} in JupyterLab: reacted in {reacted_s:.2f} s "
        f"({fingerprint(before)} -> {fingerprint(after)})"
    )
    assert after != before
    for when, fractions in (("before", white_before), ("after", white_after)):
        assert all(f >= MIN_WHITE for f in fractions), (
            f"{name}: an image {when} the move is not drawn on white (white fractions "
            f"{[round(f, 3) for f in fractions]}): noise instead of a picture"
        )
    assert not [e for e in errors if "ResizeObserver" not in e], f"JavaScript errors: {errors}"
