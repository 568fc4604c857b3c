"""Fixtures for the browser tests: Debian's chromium driven by Playwright.

The browser is the system ``/usr/bin/chromium`` (installed with apt-get when missing and we are
root); Playwright never downloads one. Tests are skipped with a clear message only when no
browser can be installed or Playwright is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _browser import CHROMIUM, CHROMIUM_ARGS, install_chromium


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory):
    """A headless Chromium (the system one) in a temporary profile, shared by the session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[dev]')")
    why = install_chromium()
    if why:
        pytest.skip(f"no browser for the browser tests: {why}")
    profile = tmp_path_factory.mktemp("chromium-profile")
    manager = sync_playwright().start()
    try:
        context = manager.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
    except Exception as exc:  # noqa: BLE001 - any launch failure means "no usable browser"
        manager.stop()
        pytest.skip(f"chromium at {CHROMIUM} did not start: {exc}")
    yield context
    context.close()
    manager.stop()


@pytest.fixture(scope="session")
def screens_dir(tmp_path_factory) -> Path:
    """Folder for screenshots: ``$LABKIT_SCREENS`` if set, else the session's temporary folder."""
    env = os.environ.get("LABKIT_SCREENS")
    path = Path(env) if env else tmp_path_factory.mktemp("screens")
    path.mkdir(parents=True, exist_ok=True)
    return path
