"""Notebooks as regression tests: ``record`` values inside a notebook, run it with papermill.

A notebook calls :func:`record` for each value a test should hold (an error against an exact
solution, an iteration count, ...). :func:`run_notebook` executes the notebook with papermill,
collects the recorded values from the executed notebook and writes ``NAME.ipynb`` and
``NAME.results.json``. :func:`check_records` holds the values to the checks the notebook declares
in its metadata (``metadata["labkit"]["checks"]``).

Examples
--------
Outside a kernel ``record`` keeps the value in memory:

>>> from labkit.notebooks import record, recorded
>>> record("answer", 42)
>>> recorded()["answer"]
42
>>> check_records({"err": 3e-7}, {"err": {"max": 1e-6}})
[]
>>> check_records({"err": 3e-5}, {"err": {"max": 1e-6}})
['err = 3e-05 is above the maximum 1e-06']
"""

from __future__ import annotations

import ast
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labkit._io import atomic_write

__all__ = [
    "MIMETYPE",
    "NotebookError",
    "NotebookRun",
    "check_outputs",
    "check_records",
    "declared_parameters",
    "find_notebook",
    "list_notebooks",
    "notebook_dir",
    "notebook_info",
    "packaged_lab",
    "parse_parameter",
    "read_notebook",
    "read_records",
    "record",
    "recorded",
    "run_notebook",
]

MIMETYPE = "application/vnd.labkit.record+json"
COPY_MANIFEST = ".labkit-copy.json"  # marks a working copy made by `labkit notebooks copy`

_RECORDS: dict[str, Any] = {}


class NotebookError(RuntimeError):
    """A notebook could not be found, parametrised or executed; the message says which and why."""


# --------------------------------------------------------------------------------------------
# Recording values inside a notebook
# --------------------------------------------------------------------------------------------


def _jsonable(name: str, value: Any) -> Any:
    """Turn numpy/torch scalars and arrays into plain Python, refusing what JSON cannot hold."""
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy array/scalar
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(f"{name}.{k}", v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(f"{name}[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"record: value of {name!r} is not finite ({value})")
        return value
    raise TypeError(f"record: value of {name!r} must be JSON-able, got {type(value).__name__}")


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with jupyter
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def record(name: str, value: Any) -> None:
    """Store a regression value so that it survives in the executed notebook.

    Inside a Jupyter kernel the value is displayed with a labkit MIME type (and a one-line text
    form), so it is saved in the cell's outputs; :func:`run_notebook` collects it from there.
    Outside a kernel it is kept in memory (see :func:`recorded`).

    Parameters
    ----------
    name : str
        A short identifier, e.g. ``"darcy_rel_l2"``.
    value : number, str, bool, list or dict of those
        numpy and torch scalars and small arrays are converted to plain Python.

    Examples
    --------
    >>> record("n_regions", 12)
    >>> recorded()["n_regions"]
    12
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"record: name must be an identifier-like string, got {name!r}")
    plain = _jsonable(name, value)
    _RECORDS[name] = plain
    if _in_kernel():
        from IPython.display import display

        text = json.dumps(plain)
        if len(text) > 120:
            text = text[:117] + "..."
        bundle = {MIMETYPE: {"name": name, "value": plain}, "text/plain": f"{name} = {text}"}
        display(bundle, raw=True)


def recorded() -> dict[str, Any]:
    """Return a copy of the values recorded in this process (outside a kernel)."""
    return dict(_RECORDS)


def read_records(nb: Any) -> dict[str, Any]:
    """Collect the recorded values from an executed notebook (a path or an ``nbformat`` node)."""
    if isinstance(nb, (str, os.PathLike)):
        nb = read_notebook(nb)
    values: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if MIMETYPE in data:
                item = data[MIMETYPE]
                if isinstance(item, str):
                    item = json.loads(item)
                values[item["name"]] = item["value"]
    return values


# --------------------------------------------------------------------------------------------
# Finding notebooks and their parameters
# --------------------------------------------------------------------------------------------


def packaged_lab() -> Path:
    """The folder inside the installed package that holds the shipped notebooks and course file.

    A wheel of labkit carries ``labkit/_lab/notebooks/*.ipynb`` and ``labkit/_lab/course.toml``
    (copied there at build time from the repository's ``notebooks/`` and ``course.toml``); a
    source checkout has no such folder.
    """
    return Path(__file__).resolve().parent / "_lab"


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
    here = Path(__file__).resolve().parent.parent / "notebooks"
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


# --------------------------------------------------------------------------------------------
# Running notebooks
# --------------------------------------------------------------------------------------------


@dataclass
class NotebookRun:
    """What one notebook run produced."""

    name: str
    notebook: Path
    results_file: Path
    results: dict[str, Any]
    parameters: dict[str, Any]
    seconds: float
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["notebook"] = str(self.notebook)
        d["results_file"] = str(self.results_file)
        return d


def _first_line(source: str) -> str:
    lines = [ln for ln in source.strip().splitlines() if ln.strip()]
    return lines[0][:80] if lines else ""


def run_notebook(
    path: str | os.PathLike,
    parameters: dict[str, Any] | None = None,
    smoke: bool = False,
    out_dir: str | os.PathLike | None = None,
    *,
    kernel_name: str = "python3",
    timeout: float | None = None,
    progress: bool = False,
    cwd: str | os.PathLike | None = None,
) -> NotebookRun:
    """Execute a notebook with papermill and collect its recorded values.

    Parameters
    ----------
    path : path or name
        The notebook, or a name that :func:`find_notebook` resolves.
    parameters : dict, optional
        Values for names declared in the notebook's ``parameters`` cell.
    smoke : bool
        Run the notebook's smoke mode (``smoke = True``).
    out_dir : path, optional
        Where ``NAME.ipynb`` and ``NAME.results.json`` go (default: ``./labkit-runs``).
    kernel_name : str
        Jupyter kernel to run in.
    timeout : float, optional
        Per-cell time limit in seconds.
    progress : bool
        Show papermill's progress bar.
    cwd : path, optional
        Working folder of the kernel (default: the notebook's folder; for a notebook shipped
        inside the installed package, ``out_dir``).

    Returns
    -------
    NotebookRun

    Raises
    ------
    NotebookError
        When the notebook is unknown, a parameter is not declared, or a cell raises; the message
        names the failing cell (index, first line) and the exception. The executed notebook is
        still written, so the traceback can be read there.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    nb_path = find_notebook(str(path))
    name = nb_path.stem
    declared = declared_parameters(nb_path)
    if "smoke" not in declared:
        raise NotebookError(f"{nb_path.name}: the parameters cell does not declare 'smoke'")
    params = dict(parameters or {})
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise NotebookError(
            f"{name} does not declare parameter(s) {', '.join(unknown)}; "
            f"declared: {', '.join(sorted(declared))}"
        )
    if smoke:
        params["smoke"] = True

    out = Path(out_dir) if out_dir is not None else Path.cwd() / "labkit-runs"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NotebookError(f"out_dir {str(out)!r} cannot be created: {exc}") from None
    if not os.access(out, os.W_OK):
        raise NotebookError(f"out_dir {str(out)!r} is not writable")
    final = out / f"{name}.ipynb"
    results_file = out / f"{name}.results.json"
    check_outputs(nb_path, out)
    fd, tmp_name = tempfile.mkstemp(dir=out, prefix=f".{name}.", suffix=".ipynb")
    os.close(fd)
    tmp = Path(tmp_name)

    if cwd is None:
        # a notebook shipped inside the installed package runs in the output folder, so nothing
        # it writes lands in site-packages
        shipped = nb_path.resolve().is_relative_to(packaged_lab())
        cwd = out if shipped else nb_path.parent
    start = time.perf_counter()
    error: NotebookError | None = None
    try:
        pm.execute_notebook(
            str(nb_path),
            str(tmp),
            parameters=params,
            kernel_name=kernel_name,
            cwd=str(cwd),
            progress_bar=progress,
            execution_timeout=timeout,
            log_output=False,
        )
    except PapermillExecutionError as exc:
        error = NotebookError(
            f"{name}: cell {exc.cell_index} (execution count {exc.exec_count}, "
            f"`{_first_line(exc.source)}`) raised {exc.ename}: {exc.evalue}"
        )
    except Exception as exc:  # kernel died, timeout, bad notebook
        error = NotebookError(f"{name}: execution failed: {type(exc).__name__}: {exc}")
    except BaseException:  # Ctrl-C: leave no temporary file behind, touch nothing else
        tmp.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - start

    failed = out / f"{name}.failed.ipynb"
    try:
        executed = _read_executed(tmp)
    finally:
        tmp.unlink(missing_ok=True)
    if error is not None:
        # The good pair of a previous run stays whole; the failed notebook gets its own name.
        if executed is not None:
            _write_notebook(failed, executed, read_records(executed))
            error = NotebookError(f"{error} (executed notebook kept as {failed})")
        raise error
    results = read_records(executed) if executed is not None else {}
    payload = {
        "notebook": name,
        "parameters": params,
        "seconds": round(seconds, 3),
        "records": results,
    }
    text = json.dumps(payload, indent=2, sort_keys=True) + "\n"
    _write_pair(final, executed, results, results_file, text)
    failed.unlink(missing_ok=True)  # a stale failure of this notebook no longer describes it
    return NotebookRun(name, final, results_file, results, params, seconds)


def _written_by_run(path: Path) -> bool:
    """Whether ``path`` is an output of :func:`run_notebook` (so a new run may replace it)."""
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            return isinstance(data, dict) and {"notebook", "records"} <= set(data)
        nb = read_notebook(path)
    except (OSError, ValueError, NotebookError):
        return False
    labkit = nb.metadata.get("labkit", {})
    return "papermill" in nb.metadata and isinstance(labkit, dict) and "records" in labkit


def check_outputs(source: str | os.PathLike, out_dir: str | os.PathLike) -> None:
    """Raise :class:`NotebookError` if running ``source`` into ``out_dir`` would replace the
    source notebook itself or a file that ``labkit run`` did not write."""
    source, out = Path(source), Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotebookError(f"out_dir {str(out)!r} is a file, not a folder; give a folder")
    name = source.stem
    for path in (out / f"{name}.ipynb", out / f"{name}.failed.ipynb", out / f"{name}.results.json"):
        if not path.exists():
            continue
        if path.resolve() == source.resolve() or not _written_by_run(path):
            raise NotebookError(
                f"out_dir already holds {path.name}, which labkit run did not write; refusing "
                "to overwrite it: choose another out_dir (--out)"
            )


def _read_executed(path: Path) -> Any | None:
    """The executed notebook papermill left at ``path`` (``None`` when it wrote nothing)."""
    import nbformat

    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        return nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - a half-written notebook is as good as none
        return None


def _write_notebook(path: Path, nb: Any, results: dict[str, Any]) -> Path:
    """Write ``nb`` (with its records in the metadata) to ``path`` atomically, mode 0644."""
    import nbformat

    nb.metadata.setdefault("labkit", {})["records"] = results
    data = nbformat.writes(nb).encode()
    return atomic_write(path, lambda fh: fh.write(data))


def _write_pair(
    notebook: Path, nb: Any | None, results: dict[str, Any], results_file: Path, text: str
) -> None:
    """Swap in the executed notebook and its results together: both or neither.

    Both files are written whole under temporary names first; only then are the two renames
    done, back to back, so a failure before them leaves the previous pair untouched.
    """
    import nbformat

    staged: list[tuple[Path, Path]] = []
    try:
        items = [(results_file, text.encode())]
        if nb is not None:
            nb.metadata.setdefault("labkit", {})["records"] = results
            items.append((notebook, nbformat.writes(nb).encode()))
        for path, data in items:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.staged")
            atomic_write(tmp, lambda fh, data=data: fh.write(data))
            staged.append((tmp, path))
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Holding recorded values to declared checks
# --------------------------------------------------------------------------------------------


def _lookup(results: dict[str, Any], dotted: str) -> Any:
    value: Any = results
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def _check_one(name: str, value: Any, rule: dict[str, Any]) -> list[str]:
    if isinstance(value, list):
        failures = []
        for i, item in enumerate(value):
            failures += _check_one(f"{name}[{i}]", item, rule)
        return failures
    if "value" in rule:
        expected = rule["value"]
        if isinstance(expected, (str, bool)) or expected is None:
            return [] if value == expected else [f"{name} = {value!r}, expected {expected!r}"]
        rtol, atol = rule.get("rtol", 0.0), rule.get("atol", 0.0)
        if not isinstance(value, (int, float)) or abs(value - expected) > atol + rtol * abs(
            expected
        ):
            return [f"{name} = {value!r}, expected {expected!r} (rtol={rtol}, atol={atol})"]
        return []
    failures = []
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return [f"{name} = {value!r} is not a number"]
    if "min" in rule and value < rule["min"]:
        failures.append(f"{name} = {value!r} is below the minimum {rule['min']!r}")
    if "max" in rule and value > rule["max"]:
        failures.append(f"{name} = {value!r} is above the maximum {rule['max']!r}")
    return failures


def check_records(results: dict[str, Any], checks: dict[str, dict[str, Any]]) -> list[str]:
    """Hold recorded values to declared checks; return one message per failure (empty if all pass).

    A rule is ``{"max": x}``, ``{"min": x}``, both, or ``{"value": v, "rtol": r, "atol": a}``.
    Dotted names reach into recorded dicts; lists are checked element by element.
    """
    failures: list[str] = []
    for name, rule in checks.items():
        unknown = set(rule) - {"min", "max", "value", "rtol", "atol", "note"}
        if unknown or not ({"min", "max", "value"} & set(rule)):
            failures.append(f"check {name!r} has an invalid rule {rule!r}")
            continue
        try:
            value = _lookup(results, name)
        except KeyError:
            failures.append(f"{name} was not recorded")
            continue
        failures += _check_one(name, value, rule)
    return failures
