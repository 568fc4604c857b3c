"""Every explorer served by ``labkit serve`` renders in headless Chromium and reacts to a widget.

The apps run on free 127.0.0.1 ports with demo data. The test opens the page,
waits for Bokeh to draw, presses ArrowRight on the first slider and checks that what is drawn
(plot data, canvas pixels, images) changed; it also checks that the page asked nothing of any
host but the local server, and saves a screenshot per explorer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from _browser import (
    DRAWN_STATE_JS,
    fingerprint,
    free_port,
    labkit_command,
    stop,
    wait_for_http,
)

from labkit.viz.apps import EXPLORERS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

KEY_PRESSES = 3
REACT_LIMIT_S = 5.0


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Serve every explorer: one ``labkit serve NAME`` (the CLI) for the first explorer and one
    ``python -m labkit.viz.apps`` process for the rest (one import of panel instead of six).

    Yields name -> base URL.
    """
    logs = tmp_path_factory.mktemp("serve-logs")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYVISTA_OFF_SCREEN": "true"}
    first, *rest = sorted(EXPLORERS)
    commands = {
        (first,): labkit_command() + ["serve", first],
        tuple(rest): [sys.executable, "-m", "labkit.viz.apps", *rest],
    }
    running = []
    for names, cmd in commands.items():
        port = free_port()
        log = logs / f"{names[0]}.log"
        with open(log, "w") as handle:
            proc = subprocess.Popen(
                cmd + ["--port", str(port)], stdout=handle, stderr=subprocess.STDOUT, env=env
            )
        running.append((names, proc, f"http://127.0.0.1:{port}", log))
    try:
        for names, proc, base, log in running:
            for name in names:
                wait_for_http(f"{base}/{name}", proc, timeout=240, log=log)
        yield {name: base for names, _, base, _ in running for name in names}
    finally:
        for _, proc, _, _ in running:
            stop(proc)


def _wait_drawn(page, timeout_ms: int = 60_000) -> str:
    page.locator("canvas").first.wait_for(state="attached", timeout=timeout_ms)
    page.wait_for_function(
        "() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle",
        timeout=timeout_ms,
    )
    previous, state = None, page.evaluate(DRAWN_STATE_JS)
    while state != previous:
        time.sleep(0.5)
        previous, state = state, page.evaluate(DRAWN_STATE_JS)
    return state


@pytest.mark.parametrize("name", sorted(EXPLORERS))
def test_explorer_renders_and_reacts(name, servers, browser_context, screens_dir):
    base = servers[name]
    page = browser_context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{base}/{name}", wait_until="load")
        before = _wait_drawn(page)
        assert "canvas:" in before, f"{name}: no canvas was drawn"
        page.screenshot(path=str(screens_dir / f"serve_{name}_before.png"), full_page=True)

        handle = page.locator(".noUi-handle").first
        handle.focus()
        start = time.perf_counter()
        for _ in range(KEY_PRESSES):
            page.keyboard.press("ArrowRight")
        page.wait_for_function(
            f"() => ({DRAWN_STATE_JS})() !== {before!r}", timeout=int(REACT_LIMIT_S * 4000)
        )
        reacted_s = time.perf_counter() - start
        after = _wait_drawn(page)
        page.screenshot(path=str(screens_dir / f"serve_{name}.png"), full_page=True)
    finally:
        page.close()
    print(f"{name}: reacted in {reacted_s:.2f} s ({fingerprint(before)} -> {fingerprint(after)})")
    assert after != before
    assert reacted_s < REACT_LIMIT_S, f"{name} took {reacted_s:.1f} s to react"
    assert not errors, f"{name}: JavaScript errors {errors}"
    outside = [
        url for url in requests if not url.startswith((base, "blob:" + base, "data:", "about:"))
    ]
    assert not outside, f"{name} requested resources from outside the local server: {outside}"
