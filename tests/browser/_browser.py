"""Helpers for the browser tests: the system chromium, free ports, servers, drawn-state probe."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Fingerprint of what the page draws: the data of every Bokeh ColumnDataSource and the position
# of every span (HLine/VLine), the pixels of every canvas and the source of every image, looking
# inside shadow roots (Bokeh and panel render into them). Called with an element (e.g. one
# notebook cell: ``locator.evaluate(DRAWN_STATE_JS)``) the canvases and images are only those
# inside it, which keeps the probe cheap on a page with many plots.
DRAWN_STATE_JS = """
(root) => {
  const parts = [];
  const walk = (value) => {
    if (value == null) return 0;
    if (typeof value === "number") return Number.isFinite(value) ? value : 0;
    if (ArrayBuffer.isView(value) || Array.isArray(value)) {
      let s = 0; for (const v of value) s += walk(v); return s;
    }
    if (typeof value === "object" && "buffer" in value) return walk(value.buffer);
    return 0;
  };
  const docs = (window.Bokeh && window.Bokeh.documents) || [];
  for (const doc of docs) {
    for (const model of doc.all_models) {
      if (model.data !== undefined && model.selected !== undefined) {
        const data = model.data instanceof Map ? Object.fromEntries(model.data) : model.data;
        for (const key of Object.keys(data).sort()) {
          parts.push(`${key}:${(data[key] || []).length}:${walk(data[key]).toPrecision(12)}`);
        }
      } else if (typeof model.location === "number") {
        parts.push(`loc:${model.location}`);
      }
    }
  }
  const roots = [root || document];
  while (roots.length) {
    const root = roots.pop();
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) roots.push(el.shadowRoot);
      if (el.tagName === "CANVAS" && el.width > 0 && el.height > 0) {
        try {
          const url = el.toDataURL();
          parts.push("canvas:" + url.length + ":" + url.slice(-64));
        } catch (e) {}
      }
      if (el.tagName === "IMG" && el.src) parts.push("img:" + el.src.length + el.src.slice(-64));
    }
  }
  return parts.join("|");
}
"""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    """Poll ``url`` until it answers 200; fail with the server's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"server for {url} exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"server for {url} did not answer in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    """Terminate ``proc`` (started by a fixture here) and wait for it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def fingerprint(text: str) -> str:
    """Short digest of a drawn-state string, for messages."""
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def install_chromium() -> str | None:
    """Install Debian's chromium if missing; return why not when it cannot be had."""
    if CHROMIUM.exists():
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "chromium is not installed and apt-get cannot be run as root here"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            return f"`{' '.join(cmd)}` failed: {result.stderr.strip()[-500:]}"
    return (
        None if CHROMIUM.exists() else "apt-get installed chromium but /usr/bin/chromium is missing"
    )


def labkit_command() -> list[str]:
    """The ``labkit`` console script next to this Python, or the module fallback."""
    script = Path(sys.executable).parent / "labkit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "labkit.cli"]
