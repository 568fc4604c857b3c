"""The notebook runner: records are plain and finite, a run holds them to the declared checks
(``NotebookRun.failures``), the kernel gets inline Bokeh without the caller's environment
changing, and ``labkit run`` tells bad input (exit 2, one line) from a failing notebook (exit 1)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labkit.cli import main
from labkit.notebooks import (
    NotebookError,
    NotebookExecutionError,
    check_run_parameters,
    record,
    recorded,
    run_notebook,
)


def _notebook(path: Path, parameters: str, body: str, checks: dict) -> Path:
    nb = new_notebook(
        cells=[
            new_markdown_cell(f"# {path.stem}"),
            new_code_cell(parameters, metadata={"tags": ["parameters"]}),
            new_code_cell(body),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["labkit"] = {"purpose": path.stem, "checks": checks}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def nb_dir(tmp_path: Path) -> Path:
    """``30_square`` records n squared (checked to be at most 10) and the kernel's
    ``BOKEH_RESOURCES``; ``31_nosmoke`` declares no ``smoke``; ``32_broken`` divides by zero."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    body = (
        "import os\nfrom labkit import record\nrecord('square', n * n)\n"
        "record('bokeh', os.environ.get('BOKEH_RESOURCES'))"
    )
    checks = {"square": {"max": 10}, "bokeh": {"value": "inline"}}
    _notebook(folder / "30_square.ipynb", "smoke = False\nn = 3", body, checks)
    _notebook(folder / "31_nosmoke.ipynb", "n = 3", "x = n", {"n": {"min": 0}})
    _notebook(folder / "32_broken.ipynb", "smoke = False", "1 / 0", {"x": {"min": 0}})
    return folder


def test_record_converts_to_plain_and_refuses_what_json_cannot_hold():
    record("house_plain", {"a": np.float32(0.5), "b": np.arange(3), "c": (1, "x")})
    assert recorded()["house_plain"] == {"a": 0.5, "b": [0, 1, 2], "c": [1, "x"]}
    assert json.loads(json.dumps(recorded()["house_plain"])) == recorded()["house_plain"]
    with pytest.raises(ValueError, match=r"^record: house_nan\.b\[1\] is not finite \(nan\)$"):
        record("house_nan", {"b": [1.0, float("nan")]})
    with pytest.raises(ValueError, match=r"^record: house_inf is not finite \(inf\)$"):
        record("house_inf", np.float64("inf"))
    with pytest.raises(TypeError, match=r"^record: house_set must be JSON-able, got set$"):
        record("house_set", {1, 2})
    with pytest.raises(ValueError, match="identifier-like"):
        record("not a name", 1)
    assert not {"house_nan", "house_inf", "house_set"} & set(recorded())


def test_run_fills_failures_and_gives_the_kernel_inline_bokeh(nb_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("BOKEH_RESOURCES", raising=False)
    run = run_notebook(nb_dir / "30_square.ipynb", {"n": 4}, smoke=True, out_dir=tmp_path)
    assert run.results == {"square": 16, "bokeh": "inline"}
    assert run.failures == ["square = 16 is above the maximum 10"]
    assert "BOKEH_RESOURCES" not in os.environ, "the runner changed the caller's environment"
    saved = json.loads(run.results_file.read_text())
    assert saved["records"] == run.results, "a failed check still writes the run"


def test_cli_exit_1_for_a_failed_check_or_cell_2_for_bad_input(
    nb_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("LABKIT_NOTEBOOKS", str(nb_dir))
    monkeypatch.setenv("BOKEH_RESOURCES", "cdn")  # the user's own choice is kept
    out = tmp_path / "runs"
    assert main(["run", "30_square", "--smoke", "-q", "--out", str(out)]) == 1
    failed = [ln for ln in capsys.readouterr().err.splitlines() if "check failed" in ln]
    assert failed == ["labkit: check failed: 30_square: bokeh = 'cdn', expected 'inline'"]
    monkeypatch.delenv("BOKEH_RESOURCES")
    assert main(["run", "30_square", "--smoke", "-q", "-p", "n", "2", "--out", str(out)]) == 0
    assert "check failed" not in capsys.readouterr().err

    blocker = tmp_path / "file"
    blocker.write_text("keep")
    cases = [
        (["run", "31_nosmoke", "--out", str(out)], "does not declare 'smoke'"),
        (["run", "30_square", "31_nosmoke", "--out", str(out)], "does not declare 'smoke'"),
        (["run", "30_square", "--out", str(blocker / "sub")], "cannot be created"),
    ]
    for args, message in cases:
        before = sorted(p.name for p in out.iterdir())
        assert main(args) == 2, args
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("labkit: error:"), lines
        assert message in lines[0]
        assert sorted(p.name for p in out.iterdir()) == before, "bad input ran a notebook"
    assert blocker.read_text() == "keep"


def test_bad_input_and_failed_execution_are_told_apart(nb_dir, tmp_path):
    with pytest.raises(NotebookError, match="does not declare 'smoke'") as bad:
        run_notebook(nb_dir / "31_nosmoke.ipynb", out_dir=tmp_path)
    assert not isinstance(bad.value, NotebookExecutionError)
    with pytest.raises(NotebookError, match=r"does not declare parameter\(s\) m, z; declared: "):
        check_run_parameters(nb_dir / "30_square.ipynb", {"z": 1, "m": 2, "n": 3})
    assert check_run_parameters(nb_dir / "30_square.ipynb", {"n": 5}) == {"smoke": False, "n": 3}
    with pytest.raises(NotebookExecutionError, match="ZeroDivisionError"):
        run_notebook(nb_dir / "32_broken.ipynb", out_dir=tmp_path)



OUTPUT_WIDGET_CELLS = [
    "%matplotlib inline\nimport ipywidgets as widgets\nimport matplotlib.pyplot as plt\n"
    "import numpy as np\nfrom IPython.display import display",
    """\
out = widgets.Output()
slider = widgets.FloatSlider(value=2.5, min=1.0, max=4.0)
def draw(change=None):
    with out:
        out.clear_output(wait=True)
        fig, ax = plt.subplots(figsize=(4, 3.6))
        ax.imshow(np.random.default_rng(0).normal(size=(128, 128)))
        plt.show()
slider.observe(draw, names="value")
draw()
display(widgets.VBox([slider, out]))
""",
    "from labkit import record\nrecord('after', 1 + 1)",
]


@pytest.mark.timeout(240)
def test_a_figure_drawn_into_an_output_widget_never_hangs_the_run(tmp_path):
    # nbclient's echo of Output-widget captures to the kernel made runs of this notebook without
    # a cell time limit wait forever for a cell's reply, 7 in 10 (labkit.notebooks.engine):
    # every run must finish, with the figure kept in the saved widget state
    path = _notebook(tmp_path / "33_widget.ipynb", "smoke = False", "", {"after": {"value": 2}})
    nb = nbformat.read(path, as_version=4)
    nb.cells[2:] = [new_code_cell(c) for c in OUTPUT_WIDGET_CELLS]
    nbformat.write(nb, path)
    for i in range(6):
        run = run_notebook(path, smoke=True, out_dir=tmp_path / f"runs{i}", timeout=None)
        assert run.results["after"] == 2 and not run.failures
        executed = nbformat.read(run.notebook, as_version=4)
        states = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]
        (output,) = [
            s["state"] for s in states["state"].values() if s["model_name"] == "OutputModel"
        ]
        (figure,) = output["outputs"]
        assert figure["data"]["image/png"].startswith("iVBORw0KGgo")  # a PNG's signature


@pytest.mark.skipif(os.name != "posix", reason="Unix sockets are POSIX only")
def test_kernels_talk_over_unix_sockets_and_leave_nothing_behind(tmp_path):
    # two kernels started at once on TCP can pick the same port (ZMQError: Address already in
    # use); on Unix sockets named after their connection files they cannot
    import tempfile

    body = (
        "from ipykernel.kernelapp import IPKernelApp\nfrom labkit import record\n"
        "app = IPKernelApp.instance()\nrecord('transport', app.transport)\n"
        "record('socket', app.ip)"
    )
    path = _notebook(tmp_path / "34_transport.ipynb", "smoke = False", body, {})
    before = set(Path(tempfile.gettempdir()).glob("labkit-kernel-*"))
    run = run_notebook(path, out_dir=tmp_path / "runs")
    assert run.results["transport"] == "ipc"
    assert Path(run.results["socket"]).name.startswith("labkit-kernel-")
    assert set(Path(tempfile.gettempdir()).glob("labkit-kernel-*")) == before
