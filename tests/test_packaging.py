"""A lab you can pip install: the wheel and sdist build, pass ``twine check``, ship the notebooks,
and the wheel installed in a fresh venv outside the checkout lists and runs them.

The fresh venv gets labkit only from the built wheel (``pip install --no-deps``); its
dependencies are made visible through a ``.pth`` file naming this interpreter's site-packages
(installing torch & co. again would take minutes and a network).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

import labkit
from labkit.notebooks import list_notebooks, notebook_dir
from labkit.workcopy import COPY_MANIFEST, copy_notebooks

ROOT = Path(__file__).resolve().parent.parent
IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", "labkit-runs", "_book",
    ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", "_screens", ".labkit-cache", ".whl",
    "out", "*.pyc", "*.nbi", "*.nbc", "node_modules",
)  # fmt: skip


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert result.returncode == 0, (
        f"{cmd} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    )
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """sdist and wheel built by ``python -m build`` from a copy of the checkout (the wheel is
    built from the unpacked sdist, so what the sdist lacks the wheel lacks too)."""
    base = tmp_path_factory.mktemp("pkg")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    _run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(base / "dist"), str(src)]
    )
    return base / "dist"


def _one(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


def test_wheel_and_sdist_ship_the_lab_and_one_version(dist):
    wheel = _one(dist, "*.whl")
    sdist = _one(dist, "*.tar.gz")
    version = labkit.__version__
    assert wheel.name == f"labkit-{version}-py3-none-any.whl"
    assert sdist.name == f"labkit-{version}.tar.gz"
    shipped = {p.name: p.read_bytes() for p in list_notebooks()}
    shipped["course.toml"] = (ROOT / "course.toml").read_bytes()
    assert len(shipped) >= 9
    with zipfile.ZipFile(wheel) as zf:
        for name, data in shipped.items():
            inner = "course.toml" if name == "course.toml" else f"notebooks/{name}"
            assert zf.read(f"labkit/_lab/{inner}") == data, name
        meta = zf.read(f"labkit-{version}.dist-info/METADATA").decode()
    assert f"Version: {version}" in meta
    with tarfile.open(sdist) as tf:
        names = set(tf.getnames())
    prefix = f"labkit-{version}/"
    assert {prefix + "setup.py", prefix + "course.toml", prefix + "MANIFEST.in"} <= names
    assert {prefix + f"notebooks/{n}" for n in shipped if n.endswith(".ipynb")} <= names


def test_twine_check_passes(dist):
    out = _run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())])
    assert out.stdout.count("PASSED") == 2


@pytest.fixture(scope="module")
def fresh(dist, tmp_path_factory) -> tuple[Path, dict, Path, Path]:
    """A venv outside the checkout with labkit from the wheel only: (venv, its environment
    without PYTHONPATH, a working folder outside the checkout, the venv's site-packages)."""
    base = tmp_path_factory.mktemp("fresh")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    wheel = _one(dist, "*.whl")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
          str(wheel)])  # fmt: skip
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        ).stdout.strip()
    )
    (site / "_labkit_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LABKIT_NOTEBOOKS")}
    env.update(JUPYTER_DATA_DIR=str(base / "jupyter-data"), MPLBACKEND="Agg")
    work = base / "work"
    work.mkdir()
    return venv, env, work, site


def test_installed_wheel_lists_and_runs_the_notebooks(fresh):
    venv, env, work, site = fresh
    python, cli = venv / "bin" / "python", venv / "bin" / "labkit"
    where = _run([str(python), "-c", "import labkit; print(labkit.__file__)"], env=env, cwd=work)
    assert Path(where.stdout.strip()) == site / "labkit" / "__init__.py", "labkit from the wheel"
    kernel = _run(
        [str(python), "-c", "from jupyter_client.kernelspec import KernelSpecManager as K; "
         "print(K().get_kernel_spec('python3').argv[0])"],
        env=env, cwd=work,
    )  # fmt: skip
    assert Path(kernel.stdout.strip()) == python, "the kernel runs the fresh venv's python"
    listing = _run([str(cli), "list"], env=env, cwd=work).stdout
    assert [ln.split()[0] for ln in listing.splitlines()] == [p.stem for p in list_notebooks()]
    lab = site / "labkit" / "_lab"
    before = sorted(str(p.relative_to(lab)) for p in lab.rglob("*"))
    _run([str(cli), "run", "00_tour", "--smoke", "--out", "runs", "-q"], env=env, cwd=work)
    results = json.loads((work / "runs" / "00_tour.results.json").read_text())
    assert results, "the tour recorded its values"
    assert sorted(str(p.relative_to(lab)) for p in lab.rglob("*")) == before, "nothing written"

    copied = _run([str(cli), "notebooks", "copy", "mine"], env=env, cwd=work).stdout
    shipped = [p for p in lab.rglob("*") if p.is_file()]  # notebooks, experiments, course file
    assert f"{len(shipped)} copied" in copied
    experiments = [f"experiments/{p.name}" for p in notebook_dir().glob("experiments/*.ipynb")]
    for name in [p.name for p in list_notebooks()] + experiments + ["course.toml"]:
        inner = "course.toml" if name == "course.toml" else f"notebooks/{name}"
        assert (work / "mine" / name).read_bytes() == (lab / inner).read_bytes()
    opened = _run([str(python), "-c", "from labkit.cli import lab_folder; print(lab_folder())"],
                  env=env, cwd=work)  # fmt: skip
    assert Path(opened.stdout.strip()) == work / "labkit-notebooks", "labkit lab opens a copy"
    assert (work / "labkit-notebooks" / "00_tour.ipynb").is_file()
    (work / "mine" / "02_fno_darcy.ipynb").write_text("my edits")
    again = _run([str(cli), "notebooks", "copy", "mine"], env=env, cwd=work).stdout
    assert "skipped 02_fno_darcy.ipynb: you changed it" in again
    assert (work / "mine" / "02_fno_darcy.ipynb").read_text() == "my edits"


def test_copy_updates_untouched_notebooks_and_skips_changed_ones(tmp_path):
    source = tmp_path / "lab" / "notebooks"
    source.mkdir(parents=True)
    for name in ("a", "b", "c"):
        (source / f"{name}.ipynb").write_text(f"{name} v1")
    (source.parent / "course.toml").write_text("[course]\n")
    dest = tmp_path / "copy"
    first = copy_notebooks(dest, source)
    assert first.copied == ["a.ipynb", "b.ipynb", "c.ipynb", "course.toml"]
    (source / "a.ipynb").write_text("a v2")  # a new labkit ships a new a and a new b
    (source / "b.ipynb").write_text("b v2")
    (dest / "b.ipynb").write_text("b, my version")  # the user changed b
    (dest / "c.ipynb").unlink()  # and deleted c
    (source / "d.ipynb").write_text("d v1")
    second = copy_notebooks(dest, source)
    assert (second.copied, second.updated, second.skipped) == (
        ["c.ipynb", "d.ipynb"],
        ["a.ipynb"],
        ["b.ipynb"],
    )
    assert second.unchanged == ["course.toml"]
    assert (dest / "a.ipynb").read_text() == "a v2"
    assert (dest / "b.ipynb").read_text() == "b, my version"
    assert "skipped b.ipynb: you changed it" in second.summary()
    # a file of the same name that labkit never copied is not overwritten either
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.ipynb").write_text("someone else's a")
    assert copy_notebooks(other, source).skipped == ["a.ipynb"]
    assert (other / "a.ipynb").read_text() == "someone else's a"
    assert json.loads((dest / COPY_MANIFEST).read_text())["labkit"] == labkit.__version__
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="dest .* is a file"):
        copy_notebooks(tmp_path / "file", source)
