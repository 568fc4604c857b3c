"""Finding the lab's notebooks and reading what they declare: their parameters and checks.

Examples
--------
>>> parse_parameter("epochs", "5", 10)
5
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

__all__ = [
    "COPY_MANIFEST",
    "NotebookError",
    "declared_parameters",
    "find_notebook",
    "list_notebooks",
    "notebook_dir",
    "notebook_info",
    "packaged_lab",
    "parse_parameter",
    "read_notebook",
]

COPY_MANIFEST = ".labkit-copy.json"  # marks a working copy made by `labkit notebooks copy`
_PACKAGE = Path(__file__).resolve().parent.parent  # the labkit package folder


class NotebookError(RuntimeError):
    """A notebook could not be found, parametrised or executed; the message says which and why."""


NotebookError.__module__ = "labkit.notebooks"  # its public home


def packaged_lab() -> Path:
    """The folder inside the installed package that holds the shipped notebooks and course file.

    A wheel of labkit carries ``labkit/_lab/notebooks/*.ipynb`` and ``labkit/_lab/course.toml``
    (copied there at build time from the repository's ``notebooks/`` and ``course.toml``); a
    source checkout has no such folder.
    """
    return _PACKAGE / "_lab"


def notebook_dir() -> Path:
    """The folder that holds the lab's notebooks.

    In this order: ``$LABKIT_NOTEBOOKS`` if set; ``notebooks/`` next to the package (a source
    checkout); a working copy made by ``labkit notebooks copy`` (the current folder or
    ``./labkit-notebooks``, recognised by its ``.labkit-copy.json``); ``./notebooks`` if it holds
    notebooks; the notebooks shipped inside the installed package; else ``./notebooks``.
    """
    env = os.environ.get("LABKIT_NOTEBOOKS")
    if env:
        return Path(env)
    here = _PACKAGE.parent / "notebooks"
    if here.is_dir():
        return here
    cwd = Path.cwd()
    for copy in (cwd, cwd / "labkit-notebooks"):
        if (copy / COPY_MANIFEST).is_file():
            return copy
    local = cwd / "notebooks"
    if any(local.glob("*.ipynb")):
        return local
    shipped = packaged_lab() / "notebooks"
    return shipped if shipped.is_dir() else local


def list_notebooks(directory: str | os.PathLike | None = None) -> list[Path]:
    """The notebooks in ``directory`` (default :func:`notebook_dir`), sorted by name."""
    directory = Path(directory) if directory is not None else notebook_dir()
    return sorted(p for p in directory.glob("*.ipynb") if not p.name.startswith("."))


def find_notebook(name: str, directory: str | os.PathLike | None = None) -> Path:
    """Resolve ``name`` (``"00_tour"``, ``"00_tour.ipynb"``, a unique prefix ``"00"``, or a path).

    Raises
    ------
    NotebookError
        When no notebook or more than one matches.
    """
    path = Path(name)
    if path.suffix == ".ipynb" and path.is_file():
        return path
    notebooks = list_notebooks(directory)
    stem = path.name.removesuffix(".ipynb")
    exact = [p for p in notebooks if p.stem == stem]
    if exact:
        return exact[0]
    prefixed = [p for p in notebooks if p.stem.startswith(stem)]
    if len(prefixed) == 1:
        return prefixed[0]
    known = ", ".join(p.stem for p in notebooks) or "none"
    if prefixed:
        matches = ", ".join(p.stem for p in prefixed)
        raise NotebookError(f"notebook name {name!r} is ambiguous: {matches}")
    raise NotebookError(f"unknown notebook {name!r}; known notebooks: {known}")


def read_notebook(path: str | os.PathLike) -> Any:
    """Read a notebook file, or raise :class:`NotebookError` naming the file and what is wrong.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> bad = pathlib.Path(tempfile.mkdtemp()) / "x.ipynb"
    >>> _ = bad.write_text("not json")
    >>> read_notebook(bad)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    labkit.notebooks.NotebookError: notebook file '...x.ipynb' is not a valid notebook ...
    """
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
        cells = nb.cells
    except Exception as exc:  # noqa: BLE001 - JSON, schema and encoding errors alike
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise NotebookError(
            f"notebook file {str(path)!r} is not a valid notebook "
            f"({type(exc).__name__}: {reason}); restore it from git or re-save it in Jupyter"
        ) from None
    if not isinstance(cells, list):
        raise NotebookError(f"notebook file {str(path)!r} is not a valid notebook (no cells)")
    return nb


def _parameters_cell(nb: Any) -> Any | None:
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell
    return None


def declared_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """The names and default values assigned in the notebook's ``parameters`` cell.

    Raises
    ------
    NotebookError
        When the notebook has no cell tagged ``parameters``.
    """
    nb = read_notebook(path)
    cell = _parameters_cell(nb)
    if cell is None:
        raise NotebookError(f"{Path(path).name} has no code cell tagged 'parameters'")
    values: dict[str, Any] = {}
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as exc:
        raise NotebookError(
            f"{Path(path).name}: the parameters cell is not valid Python "
            f"(line {exc.lineno}: {exc.msg}); fix it in Jupyter"
        ) from None
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    values[target.id] = ast.literal_eval(value)
                except ValueError:
                    values[target.id] = None
    return values


def notebook_info(path: str | os.PathLike) -> dict[str, Any]:
    """The ``labkit`` block of a notebook's metadata (``purpose``, ``checks``, ...)."""
    nb = read_notebook(path)
    labkit = nb.metadata.get("labkit", {})
    return dict(labkit) if isinstance(labkit, dict) else {}


def parse_parameter(name: str, text: str, default: Any) -> Any:
    """Parse a command-line parameter value, guided by the type of the declared default.

    Examples
    --------
    >>> parse_parameter("n_train", "64", 128)
    64
    >>> parse_parameter("lr", "1e-3", 0.01)
    0.001
    >>> parse_parameter("model", "fno", "unet")
    'fno'
    """
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if default is None or isinstance(default, str):
            return text
        raise NotebookError(
            f"cannot parse value {text!r} for parameter {name!r} "
            f"(declared as {type(default).__name__} {default!r})"
        ) from None
    if isinstance(default, str) and not isinstance(value, str):
        return text
    if default is None or value is None:
        return value
    if isinstance(default, bool) != isinstance(value, bool):
        raise NotebookError(f"parameter {name!r} expects {type(default).__name__}, got {text!r}")
    if isinstance(default, float) and isinstance(value, int):
        return float(value)
    numeric = (int, float)
    if isinstance(default, numeric) and not isinstance(value, numeric):
        raise NotebookError(f"parameter {name!r} expects a number, got {text!r}")
    if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
        raise NotebookError(f"parameter {name!r} expects an integer, got {text!r}")
    return value
