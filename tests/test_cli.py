"""The labkit command: list, run (with parameters, failures and bad input), lab."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labkit.cli import lab_command


def labkit(*args: str, env: dict | None = None, timeout: float = 300):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "labkit", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


@pytest.fixture
def nb_dir(tmp_path: Path) -> Path:
    """A folder with a tiny notebook that records n squared, and one that fails in cell 2."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name, body in [("10_square", "record('square', n * n)"), ("11_broken", "1 / 0")]:
        nb = new_notebook(
            cells=[
                new_markdown_cell(f"# {name}"),
                new_code_cell(
                    "smoke = False\nn = 3\nlabel = 'x'", metadata={"tags": ["parameters"]}
                ),
                new_code_cell("from labkit import record\n" + body),
            ]
        )
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nb.metadata["labkit"] = {
            "purpose": f"the {name} notebook",
            "checks": {"square": {"min": 0}},
        }
        nbformat.write(nb, folder / f"{name}.ipynb")
    return folder


def test_list_shows_notebooks_with_purpose():
    result = labkit("list")
    assert result.returncode == 0, result.stderr
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("00_tour"))
    assert "widget" in line


def test_run_tour_writes_notebook_and_results(tmp_path):
    result = labkit("run", "00_tour", "--smoke", "--out", str(tmp_path), "-q")
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "00_tour.results.json").read_text())
    assert results["records"]["poisson_max_error"] < 1e-12
    executed = nbformat.read(tmp_path / "00_tour.ipynb", as_version=4)
    assert executed.metadata["labkit"]["records"] == results["records"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left"


def test_parameters_reach_the_notebook(nb_dir, tmp_path):
    result = labkit(
        "run",
        "10_square",
        "-p",
        "n",
        "7",
        "--out",
        str(tmp_path),
        "-q",
        env={"LABKIT_NOTEBOOKS": str(nb_dir)},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "10_square.results.json").read_text())["records"] == {
        "square": 49
    }


def test_failing_cell_is_named_and_exit_is_nonzero(nb_dir, tmp_path):
    result = labkit(
        "run", "11_broken", "--out", str(tmp_path), "-q", env={"LABKIT_NOTEBOOKS": str(nb_dir)}
    )
    assert result.returncode == 1
    assert "cell 2" in result.stderr and "ZeroDivisionError" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "11_broken.failed.ipynb").exists(), "the executed notebook is kept"
    assert not (tmp_path / "11_broken.ipynb").exists(), "a failed run is named as failed"
    assert not (tmp_path / "11_broken.results.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "99_nope"], "unknown notebook '99_nope'"),
        (["run", "10_square", "-p", "epochs", "3"], "does not declare parameter 'epochs'"),
        (["run", "10_square", "-p", "n", "three"], "cannot parse value 'three'"),
        (["run", "10_square", "-p", "n", "2.5"], "expects an integer"),
        (["serve", "no_such_explorer"], "explorer"),
    ],
)
def test_bad_input_gets_one_line_error(nb_dir, tmp_path, args, message):
    result = labkit(*args, env={"LABKIT_NOTEBOOKS": str(nb_dir)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("labkit: error:"), result.stderr
    assert message in lines[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lab_answers_on_localhost_with_token(tmp_path):
    port = _free_port()
    cmd = lab_command(port=port, no_browser=True)
    assert "--ServerApp.ip=127.0.0.1" in cmd
    env = dict(
        os.environ,
        JUPYTER_TOKEN="labkit-test-token",
        JUPYTER_CONFIG_DIR=str(tmp_path),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "labkit", "lab", "--port", str(port), "--no-browser"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token=labkit-test-token") as r:
                    assert r.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("JupyterLab did not answer within 90 s")
                time.sleep(0.5)
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"{base}/api/contents")
        assert denied.value.code == 403, "the token must be required"
        with urllib.request.urlopen(f"{base}/api/contents?token=labkit-test-token") as r:
            names = {item["name"] for item in json.load(r)["content"]}
        assert "00_tour.ipynb" in names
        with urllib.request.urlopen(f"{base}/lab?token=labkit-test-token") as r:
            assert b"JupyterLab" in r.read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # Terminating `labkit lab` stops the server itself (no orphaned JupyterLab keeps the port).
    deadline = time.monotonic() + 10
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token=labkit-test-token", timeout=2)
        except (urllib.error.URLError, ConnectionError):
            break
        assert time.monotonic() < deadline, "JupyterLab kept running after labkit lab ended"
        time.sleep(0.5)
