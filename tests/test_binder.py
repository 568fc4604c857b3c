"""Binder builds the lab: everything a notebook imports is installed by binder/ and pyproject."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from labkit.notebooks import list_notebooks

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"


def _binder_requirements() -> list[Requirement]:
    reqs = []
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("--"):
            continue
        if line in ("-e .", "."):
            project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
            reqs.append(Requirement(project["name"]))
            reqs += [Requirement(r) for r in project["dependencies"]]
        else:
            reqs.append(Requirement(line))
    return reqs


def _closure(reqs: list[Requirement]) -> set[str]:
    """Names of every distribution that installing ``reqs`` brings in (from installed metadata)."""
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in reqs]
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for text in dist.requires or []:
            sub = Requirement(text)
            envs = [{"extra": e} for e in extras] or [{"extra": ""}]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in envs):
                todo.append((sub, frozenset(sub.extras)))
    return {s for s in seen if "[" not in s}


def _notebook_imports(path: Path) -> set[str]:
    nb = nbformat.read(path, as_version=4)
    modules = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(
            ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!"))
        )
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                modules |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    return modules


def test_binder_config_is_complete():
    text = (BINDER / "requirements.txt").read_text()
    assert "download.pytorch.org/whl/cpu" in text, "Binder must install the CPU build of torch"
    assert any(r.name == "torch" and "+cpu" in str(r.specifier) for r in _binder_requirements())
    start = (BINDER / "start").read_text().strip().splitlines()
    assert start[-1] == 'exec "$@"', "binder/start must end by handing over to the server"
    assert any("PYVISTA_TRAME_SERVER_PROXY_PREFIX" in ln for ln in start)
    assert "jupyter-server-proxy" in str(_binder_requirements())


@pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: p.stem)
def test_every_notebook_import_is_installed_by_binder(path):
    installed = _closure(_binder_requirements())
    dists = metadata.packages_distributions()
    missing = []
    for module in sorted(_notebook_imports(path)):
        if module in sys.stdlib_module_names or module == "labkit":
            continue
        providers = {canonicalize_name(d) for d in dists.get(module, [])}
        if not providers & installed:
            missing.append(f"{module} (from {sorted(providers) or 'nothing installed'})")
    assert not missing, f"{path.name} imports modules Binder would not install: {missing}"


def test_repo2docker_renders_the_image_binder_would_build():
    """repo2docker's own code picks the buildpack and writes the Dockerfile (no Docker engine
    needed): Python from runtime.txt, apt.txt's libraries, binder/requirements.txt installed from
    the copied repository (so ``-e .`` finds labkit), binder/start as the entry point."""
    import subprocess

    pytest.importorskip("repo2docker")
    exe = Path(sys.executable).parent / "repo2docker"
    result = subprocess.run(
        [str(exe), "--no-build", "--no-run", "--debug", str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    dockerfile, log = result.stdout, result.stderr
    runtime = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    assert f"Building conda environment for python={runtime}" in log
    (apt_line,) = [ln for ln in dockerfile.splitlines() if "apt-get install --yes" in ln]
    assert set((BINDER / "apt.txt").read_text().split()) <= set(apt_line.split())
    copy_repo = dockerfile.index("COPY --chown=0:0 src/ ${REPO_DIR}/")
    install = dockerfile.index('pip install --no-cache-dir -r "binder/requirements.txt"')
    assert copy_repo < install, "requirements are installed after the repository is copied"
    assert 'R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in dockerfile
