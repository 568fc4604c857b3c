"""Every notebook runs in JupyterLab in headless Chromium, and its explorer reacts.

Every notebook in ``notebooks/`` takes part. Each is copied into a temporary folder with
``smoke = True`` added to its ``parameters`` cell, opened in JupyterLab and run with Run > Run All
Cells. A notebook declares the slider to move in its metadata,
``metadata["labkit"]["browser"] = {"slider": "CSS selector"}`` (the handle itself or a container
holding a ``.noUi-handle``; panel sliders are ``.bk-Slider``), or ``{"slider": null}`` when it has
no widget. The first match is moved with the keyboard; a plot drawn in its cell must change
(canvas pixels, image sources or Bokeh data), and the cell is saved as a screenshot. A notebook
without a widget must draw a figure and show no slider.

A generated notebook builds every ``labkit.viz`` explorer (``labkit.viz.apps.EXPLORERS``) from
its demo data, one cell each, and is run once in one kernel; then, per explorer, the first slider
in that cell is moved and the plots drawn in that cell must change, and the cell is saved as a
screenshot.

All notebooks share one JupyterLab server and run ``IN_FLIGHT`` at a time, each in its own
kernel: while one is checked, the next ones already compute. A checked notebook's page is closed
and its kernel shut down.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from _browser import DRAWN_STATE_JS, fingerprint, free_port, stop, wait_for_http

from labkit.notebooks import kernel_environment
from labkit.viz.apps import EXPLORERS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(400)]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NOTEBOOK_NAMES = [path.name for path in sorted(NOTEBOOKS.glob("*.ipynb"))]
EXPLORER_NOTEBOOK = "viz_explorers_check.ipynb"
EXPLORER_NAMES = sorted(EXPLORERS)
RUN_LIMIT_S = 240
LAB_VIEWPORT = {"width": 1400, "height": 2000}  # an explorer cell fits in one screenshot
# Notebooks computing at once, one kernel each: a core each on a 2-core runner. More only adds
# memory (a kernel with torch holds ~0.5 GB) and makes each run slower.
IN_FLIGHT = max(2, min(3, os.cpu_count() or 1))


def _declared_slider(notebook: str) -> str | None:
    """The CSS selector of the slider ``notebook`` declares, or None when it has no widget."""
    meta = nbformat.read(NOTEBOOKS / notebook, as_version=4).metadata.get("labkit", {})
    browser = meta.get("browser")
    if not isinstance(browser, dict) or "slider" not in browser:
        pytest.fail(
            f"{notebook}: metadata.labkit.browser is missing; declare the slider to move, "
            '{"slider": "CSS selector"}, or {"slider": null} when the notebook has no widget'
        )
    return browser["slider"]


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
    for name in NOTEBOOK_NAMES:
        _smoke_copy(NOTEBOOKS / name, nb_dir / name)
    _explorer_notebook(nb_dir / EXPLORER_NOTEBOOK)
    _user_settings(settings)
    port, token = free_port(), secrets.token_hex(16)
    env = {  # the kernels' environment of `labkit lab`: Bokeh inline, no network needed
        **kernel_environment({k: v for k, v in os.environ.items() if k != "MPLBACKEND"}),
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


def _run_order(items) -> list[str]:
    """The notebooks the selected tests of this module use, in the order they use them."""
    order: list[str] = []
    for item in items:
        if getattr(item, "module", None) is None or item.module.__name__ != __name__:
            continue
        params = getattr(item, "callspec", None)
        params = params.params if params is not None else {}
        name = params.get("notebook") or (EXPLORER_NOTEBOOK if "name" in params else None)
        if name is not None and name not in order:
            order.append(name)
    return order


def _shutdown_kernel(lab: dict, notebook: str) -> None:
    """Shut down the kernel session of ``notebook`` through the server's REST API."""
    headers = {"Authorization": f"token {lab['token']}"}
    request = urllib.request.Request(f"{lab['base']}/api/sessions", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        sessions = json.load(response)
    for session in sessions:
        if session.get("path") == notebook:
            url = f"{lab['base']}/api/sessions/{session['id']}"
            delete = urllib.request.Request(url, method="DELETE", headers=headers)
            urllib.request.urlopen(delete, timeout=30).close()


@dataclass
class LabRun:
    """One notebook open in a page, its cells started with Run All Cells.

    ``ran_s`` is measured when a test first waits for the notebook: with notebooks run ahead, an
    upper bound of the time from Run All Cells to the end of the last cell.
    """

    page: Any
    errors: list[str]
    n_code: int
    ready_s: float
    started: float
    ran_s: float | None = None


class LabRuns:
    """Notebooks run in JupyterLab pages, ``in_flight`` at a time, in the order tests use them."""

    def __init__(self, lab: dict, context, order: list[str], in_flight: int):
        self.lab, self.context, self.order, self.in_flight = lab, context, order, in_flight
        self.runs: dict[str, LabRun] = {}

    def _start(self, notebook: str) -> LabRun:
        page = self.context.new_page()
        page.set_viewport_size(LAB_VIEWPORT)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        nb = nbformat.read(self.lab["dir"] / notebook, as_version=4)
        n_code = sum(cell.cell_type == "code" for cell in nb.cells)
        url = (
            f"{self.lab['base']}/lab/workspaces/{Path(notebook).stem}/tree/{notebook}"
            f"?reset&token={self.lab['token']}"
        )
        self.runs[notebook] = run = LabRun(page, errors, n_code, 0.0, 0.0)
        page.goto(url, wait_until="load")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=90_000)
        t0 = time.perf_counter()
        _wait_kernel_idle(page, 120)
        run.started = time.perf_counter()
        run.ready_s = run.started - t0
        _run_all(page, n_code)
        return run

    def ready(self, notebook: str) -> LabRun:
        """Start ``notebook`` and the next ones up to ``in_flight``; wait until it has run.

        A notebook started ahead that fails to start is closed and left to its own test.
        """
        if notebook not in self.order:
            self.order.append(notebook)
        i = self.order.index(notebook)
        if notebook not in self.runs:
            self._start(notebook)
        for name in self.order[i + 1 : i + self.in_flight]:
            if name not in self.runs:
                try:
                    self._start(name)
                except (Exception, pytest.fail.Exception):
                    self.close(name)
                    del self.runs[name]
        run = self.runs[notebook]
        if run.ran_s is None:
            _wait_all_run(run.page, run.n_code, RUN_LIMIT_S)
            run.ran_s = time.perf_counter() - run.started
        return run

    def close(self, notebook: str) -> None:
        """Close the page of ``notebook`` and shut its kernel down (frees its memory)."""
        run = self.runs.get(notebook)
        if run is not None and not run.page.is_closed():
            run.page.close()
            _shutdown_kernel(self.lab, notebook)


@pytest.fixture(scope="module")
def lab_runs(jupyter_lab, browser_context, request):
    runs = LabRuns(jupyter_lab, browser_context, _run_order(request.session.items), IN_FLIGHT)
    yield runs
    for notebook in list(runs.runs):
        runs.close(notebook)


def _slider_handle(target):
    handle = target.locator(".noUi-handle")
    return handle.first if handle.count() else target


def _slider_key(handle) -> str:
    """ArrowRight, or ArrowLeft when the handle already sits at its maximum."""
    now, top = handle.get_attribute("aria-valuenow"), handle.get_attribute("aria-valuemax")
    at_end = now is not None and top is not None and float(now) >= float(top)
    return "ArrowLeft" if at_end else "ArrowRight"


def _move_slider(
    page, cell, handle, stem: str, screens_dir: Path, probe_js: str | None = None
) -> tuple[float, str, str, list]:
    """Move ``handle`` one step with the keyboard.

    Returns the seconds until the plots of ``cell`` changed, their drawn state before and
    after, and ``probe_js`` evaluated on the output before and after (empty without it); saves
    ``lab_{stem}_before.png`` and ``lab_{stem}.png`` of the cell.
    """
    output = cell.locator(".jp-Cell-outputArea")
    handle.scroll_into_view_if_needed()
    before = _stable_state(page, output)
    cell.screenshot(path=str(screens_dir / f"lab_{stem}_before.png"))
    probed = [output.evaluate(probe_js)] if probe_js else []
    key = _slider_key(handle)
    handle.focus()
    start = time.perf_counter()
    page.keyboard.press(key)
    page.wait_for_function(
        f"([root, before]) => ({DRAWN_STATE_JS})(root) !== before",
        arg=[output.element_handle(), before],
        timeout=30_000,
    )
    reacted_s = time.perf_counter() - start
    after = _stable_state(page, output)
    if probe_js:
        probed.append(output.evaluate(probe_js))
    cell.screenshot(path=str(screens_dir / f"lab_{stem}.png"))
    return reacted_s, before, after, probed


def _check_static(page, stem: str, screens_dir: Path) -> str:
    """A notebook without a widget: no slider, and its last figure drawn; screenshot it."""
    assert not page.locator(".noUi-handle").count(), (
        f"{stem} shows a slider; declare it in metadata.labkit.browser.slider"
    )
    drawn = page.locator(".jp-Notebook .jp-CodeCell").filter(has=page.locator(".jp-OutputArea img"))
    assert drawn.count(), f"{stem}: no figure was drawn"
    cell = drawn.last
    cell.scroll_into_view_if_needed()
    cell.screenshot(path=str(screens_dir / f"lab_{stem}.png"))
    return f"{drawn.count()} cells with figures, no widget"


@pytest.mark.parametrize("notebook", NOTEBOOK_NAMES)
def test_notebook_runs_and_reacts_in_jupyterlab(notebook, lab_runs, screens_dir):
    slider = _declared_slider(notebook)
    stem = Path(notebook).stem
    try:
        run = lab_runs.ready(notebook)
        page = run.page
        if slider is None:
            summary = _check_static(page, stem, screens_dir)
        else:
            target = page.locator(slider).first
            target.wait_for(timeout=60_000)
            cell = page.locator(".jp-Notebook .jp-CodeCell").filter(has=page.locator(slider))
            reacted_s, before, after, _ = _move_slider(
                page, cell.first, _slider_handle(target), stem, screens_dir
            )
            summary = (
                f"reacted in {reacted_s:.2f} s ({fingerprint(before)} -> {fingerprint(after)})"
            )
            assert after != before, f"{stem}: moving {slider} changed no plot in its cell"
    except BaseException:
        failed = lab_runs.runs.get(notebook)
        if failed is not None and not failed.page.is_closed():
            failed.page.screenshot(path=str(screens_dir / f"lab_{stem}_failed.png"))
        raise
    finally:
        lab_runs.close(notebook)
    print(f"{notebook}: kernel ready in {run.ready_s:.0f} s, done <= {run.ran_s:.0f} s; {summary}")
    errors = [e for e in run.errors if "ResizeObserver" not in e]
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture(scope="module")
def explorers_page(lab_runs, screens_dir):
    """The generated notebook with every explorer, run once (one kernel) and left open."""
    try:
        run = lab_runs.ready(EXPLORER_NOTEBOOK)
    except BaseException:
        run = lab_runs.runs.get(EXPLORER_NOTEBOOK)
        if run is not None:
            run.page.screenshot(path=str(screens_dir / "lab_explorers_failed.png"), full_page=True)
        lab_runs.close(EXPLORER_NOTEBOOK)
        raise
    print(f"{EXPLORER_NOTEBOOK}: kernel ready in {run.ready_s:.0f} s, done <= {run.ran_s:.0f} s")
    yield run.page, run.errors
    lab_runs.close(EXPLORER_NOTEBOOK)


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
        reacted_s, before, after, (white_before, white_after) = _move_slider(
            page, cell, handle, f"explorer_{name}", screens_dir, probe_js=IMAGE_WHITE_JS
        )
        assert "canvas:" in before, f"{name}: no canvas was drawn in JupyterLab"
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
