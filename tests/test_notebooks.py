"""Every notebook is a regression test: it runs in smoke mode and its records pass its checks."""

from __future__ import annotations

import json

import nbformat
import pytest

from labkit.notebooks import declared_parameters, list_notebooks, notebook_info

NOTEBOOKS = list_notebooks()
IDS = [p.stem for p in NOTEBOOKS]


def test_there_are_notebooks():
    assert "00_tour" in IDS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_declares_smoke_parameter_purpose_and_checks(path):
    params = declared_parameters(path)
    assert params.get("smoke") is False, f"{path.name}: parameters cell must set smoke = False"
    info = notebook_info(path)
    assert info.get("purpose"), f"{path.name}: metadata.labkit.purpose is missing"
    assert info.get("checks"), f"{path.name}: metadata.labkit.checks declares nothing to test"
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_smoke_run_passes_its_checks(path, smoke_runs):
    run = smoke_runs(path)
    assert run.notebook.exists()
    saved = json.loads(run.results_file.read_text())
    assert saved["records"] == run.results
    assert saved["parameters"]["smoke"] is True
    executed = nbformat.read(run.notebook, as_version=4)
    assert executed.metadata["labkit"]["records"] == run.results
    assert not run.failures, f"{path.stem}: " + "; ".join(run.failures)
