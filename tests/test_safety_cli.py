"""Issue 21, the command line: a failed run never breaks a good pair, bad input is one line."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labkit.cli import main
from labkit.notebooks import NotebookError, list_notebooks, run_notebook


def labkit(*args: str, env: dict | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "labkit", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, **(env or {})),
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def nb_dir(tmp_path: Path) -> Path:
    """``20_guarded`` records n squared and fails (in cell 2) when n is 0; ``21_bad`` is text."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = new_notebook(
        cells=[
            new_markdown_cell("# 20_guarded"),
            new_code_cell("smoke = False\nn = 3", metadata={"tags": ["parameters"]}),
            new_code_cell(
                "from labkit import record\nassert n != 0, 'n is zero'\nrecord('square', n * n)"
            ),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["labkit"] = {"purpose": "guarded", "checks": {"square": {"min": 0}}}
    nbformat.write(nb, folder / "20_guarded.ipynb")
    (folder / "21_bad.ipynb").write_text("this is not JSON\n")
    return folder


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_failed_run_keeps_the_good_pair_and_names_itself_failed(nb_dir, tmp_path):
    out = tmp_path / "runs"
    good = run_notebook(nb_dir / "20_guarded.ipynb", {"n": 4}, out_dir=out)
    assert good.results == {"square": 16}
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"20_guarded.ipynb", "20_guarded.results.json"}
    # Same, normal permissions for both files of the pair.
    assert _mode(good.notebook) == _mode(good.results_file) == 0o644

    with pytest.raises(NotebookError, match=r"cell \d .*AssertionError: n is zero.*failed\.ipynb"):
        run_notebook(nb_dir / "20_guarded.ipynb", {"n": 0}, out_dir=out)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.name in before}
    assert after == before, "the previous notebook and results must stay whole and together"
    failed = out / "20_guarded.failed.ipynb"
    assert _mode(failed) == 0o644
    nb = nbformat.read(failed, as_version=4)
    assert "n is zero" in json.dumps(nb.cells[-1].outputs)
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left"
    # The executed notebook and the results still describe the same run.
    kept = nbformat.read(out / "20_guarded.ipynb", as_version=4)
    saved = json.loads((out / "20_guarded.results.json").read_text())
    assert kept.metadata["labkit"]["records"] == saved["records"] == {"square": 16}


def test_notebook_that_is_not_json(nb_dir, tmp_path):
    with pytest.raises(NotebookError, match="21_bad.ipynb' is not a valid notebook"):
        run_notebook(nb_dir / "21_bad.ipynb", out_dir=tmp_path)
    env = {"LABKIT_NOTEBOOKS": str(nb_dir)}
    ran = labkit("run", "21_bad", "--out", str(tmp_path), env=env)
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1, ran.stderr
    assert "not a valid notebook" in ran.stderr
    listed = labkit("list", env=env)
    assert listed.returncode == 1 and "Traceback" not in listed.stderr
    assert "20_guarded" in listed.stdout and "21_bad.ipynb' is not a valid" in listed.stderr
    assert [p.stem for p in list_notebooks(nb_dir)] == ["20_guarded", "21_bad"]


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "case, message",
    [
        ("serve-busy", "is not available"),
        (["serve", "spectrum", "--port", "70000"], "port must be in 0..65535, got 70000"),
        (["serve", "spectrum", "--port", "x"], "port must be an integer"),
        ("serve-list", "holds a JSON list, not an object"),
        ("serve-truncated", "is not valid JSON"),
        ("serve-npz", "is not a readable .npz file"),
        (["serve", "spectrum", "--results", "/no/such.json"], "is not an existing file"),
        (["run", "20_guarded", "--timeout", "-1"], "positive number of seconds"),
        (["run", "20_guarded", "--timeout", "nan"], "positive number of seconds"),
        ("run-out-file", "is a file, not a folder"),
        (["lab", "--port", "-5"], "port must be in 0..65535"),
        (["run"], "the following arguments are required"),
        (["frobnicate"], "invalid choice"),
        (["run", "20_guarded", "-p", "n"], "expected 2 arguments"),
    ],
)
def test_bad_argument_is_one_line_exit_2(
    case, message, nb_dir, tmp_path, busy_port, monkeypatch, capsys
):
    if case == "serve-busy":
        case = ["serve", "spectrum", "--port", str(busy_port)]
    elif case == "serve-list":
        case = ["serve", "spectrum", "--results", _write(tmp_path / "r.json", "[1, 2]")]
    elif case == "serve-truncated":
        case = ["serve", "spectrum", "--results", _write(tmp_path / "r.json", '{"k": [1,')]
    elif case == "serve-npz":
        case = ["serve", "spectrum", "--results", _write(tmp_path / "r.npz", "PK\x03\x04cut")]
    elif case == "run-out-file":
        case = ["run", "20_guarded", "--out", _write(tmp_path / "f.txt", "keep me")]
    monkeypatch.setenv("LABKIT_NOTEBOOKS", str(nb_dir))
    try:
        code = main(case)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("labkit: error:"), err
    assert message in lines[0]
    assert "serving" not in out
    if (tmp_path / "f.txt").exists():
        assert (tmp_path / "f.txt").read_text() == "keep me"


def test_failing_notebook_exits_1_naming_the_cell(nb_dir, tmp_path):
    result = labkit(
        "run",
        "20_guarded",
        "-p",
        "n",
        "0",
        "--out",
        str(tmp_path),
        "-q",
        env={"LABKIT_NOTEBOOKS": str(nb_dir)},
    )
    assert result.returncode == 1
    assert "cell 3" in result.stderr and "AssertionError" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_never_overwrites_what_it_did_not_write(nb_dir, tmp_path):
    source = nb_dir / "20_guarded.ipynb"
    original = source.read_bytes()
    with pytest.raises(NotebookError, match="20_guarded.ipynb, which labkit run did not write"):
        run_notebook(source, out_dir=nb_dir)  # --out pointing at the notebooks themselves
    assert source.read_bytes() == original
    out = tmp_path / "mine"
    out.mkdir()
    (out / "20_guarded.results.json").write_text('{"my": "thesis data"}')
    with pytest.raises(NotebookError, match="20_guarded.results.json, which labkit run did not"):
        run_notebook(source, out_dir=out)
    assert (out / "20_guarded.results.json").read_text() == '{"my": "thesis data"}'


def test_run_removes_only_its_own_stale_failure(nb_dir, tmp_path):
    source = nb_dir / "20_guarded.ipynb"
    out = tmp_path / "runs"
    out.mkdir()
    # A file of the user's under the name a failed run would take is refused, and kept.
    (out / "20_guarded.failed.ipynb").write_text("my notes")
    (out / "keep.txt").write_text("mine")
    with pytest.raises(NotebookError, match="20_guarded.failed.ipynb, which labkit run did not"):
        run_notebook(source, {"n": 3}, out_dir=out)
    assert (out / "20_guarded.failed.ipynb").read_text() == "my notes"
    (out / "20_guarded.failed.ipynb").unlink()
    # A failure labkit wrote is removed by the next good run; nothing else in out is touched.
    with pytest.raises(NotebookError, match="failed.ipynb"):
        run_notebook(source, {"n": 0}, out_dir=out)
    assert (out / "20_guarded.failed.ipynb").exists()
    good = run_notebook(source, {"n": 3}, out_dir=out)
    assert good.results == {"square": 9}
    assert sorted(p.name for p in out.iterdir()) == [
        "20_guarded.ipynb", "20_guarded.results.json", "keep.txt"
    ]
    assert (out / "keep.txt").read_text() == "mine"


def test_a_failure_while_staging_the_pair_leaves_the_old_pair_whole(nb_dir, tmp_path, monkeypatch):
    import labkit.notebooks.running as running

    source = nb_dir / "20_guarded.ipynb"
    out = tmp_path / "runs"
    run_notebook(source, {"n": 2}, out_dir=out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_write, calls = running.atomic_write, []

    def disk_full_on_second_file(path, write):  # the notebook, staged after the results
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_write(path, write)

    monkeypatch.setattr(running, "atomic_write", disk_full_on_second_file)
    with pytest.raises(OSError, match="No space left"):
        run_notebook(source, {"n": 5}, out_dir=out)
    assert len(calls) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before, "old pair whole, no temp"


def test_library_writers_refuse_foreign_files(tmp_path):
    import numpy as np
    import torch

    from labkit.operators import build_model
    from labkit.pores import save_npy
    from labkit.train import CheckpointError, save_checkpoint

    thesis = tmp_path / "thesis.pt"
    thesis.write_text("chapter 1")
    model = build_model("fno", in_channels=1, out_channels=1, modes=(4,), width=4)
    with pytest.raises(CheckpointError, match="not a labkit checkpoint; refusing to overwrite"):
        save_checkpoint(thesis, model)
    assert thesis.read_text() == "chapter 1"
    ours = save_checkpoint(tmp_path / "run.pt", model, epoch=1)
    save_checkpoint(ours, model, epoch=2)  # its own checkpoint is replaced atomically
    assert torch.load(ours, weights_only=True)["epoch"] == 2

    notes = tmp_path / "notes.npy"
    np.save(notes, np.arange(3))  # a .npy, but not a volume
    with pytest.raises(ValueError, match="not a .npy volume; refusing to overwrite"):
        save_npy(notes, np.zeros((2, 2, 2), bool))
    assert np.load(notes).tolist() == [0, 1, 2]
    vol = save_npy(tmp_path / "v.npy", np.zeros((2, 2, 2), bool))
    save_npy(vol, np.ones((2, 2, 2), bool))
    assert np.load(vol).all()


def test_cli_refuses_an_out_folder_holding_the_sources(nb_dir, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_NOTEBOOKS", str(nb_dir))
    original = (nb_dir / "20_guarded.ipynb").read_bytes()
    assert main(["run", "20_guarded", "--out", str(nb_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "which labkit run did not write" in err
    assert (nb_dir / "20_guarded.ipynb").read_bytes() == original
