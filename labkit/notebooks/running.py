"""Running a notebook with papermill: parameters in, executed notebook and records out.

:func:`run_notebook` executes a notebook in a fresh kernel, collects its records, holds them to
the notebook's declared checks (in smoke mode) and writes ``NAME.ipynb`` and
``NAME.results.json`` together, never over a file it did not write.

The kernel runs with :func:`kernel_environment`: the caller's environment plus
``BOKEH_RESOURCES=inline`` (unless set), so Bokeh and panel output in the executed notebook
carries its JavaScript and reads offline. Nothing is changed in the calling process.
Papermill runs it with labkit's engine (:mod:`labkit.notebooks.engine`), which does not echo
Output-widget captures back to the kernel: that echo could hang the run.

Examples
--------
>>> env = kernel_environment({"PATH": "/usr/bin"})
>>> env["BOKEH_RESOURCES"], env["PATH"]
('inline', '/usr/bin')
>>> kernel_environment({"BOKEH_RESOURCES": "cdn"})["BOKEH_RESOURCES"]
'cdn'
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labkit._io import atomic_write
from labkit.notebooks.engine import register_engine
from labkit.notebooks.finding import (
    NotebookError,
    declared_parameters,
    find_notebook,
    notebook_info,
    packaged_lab,
    read_notebook,
)
from labkit.notebooks.recording import check_records, read_records

__all__ = [
    "NotebookExecutionError",
    "NotebookRun",
    "check_outputs",
    "check_run_parameters",
    "kernel_environment",
    "run_notebook",
]

KERNEL_ENVIRONMENT = {"BOKEH_RESOURCES": "inline"}
"""What a notebook's kernel gets on top of the caller's environment (unless the caller set it)."""


class NotebookExecutionError(NotebookError):
    """A notebook ran but a cell raised, the kernel died or a cell ran past its time limit.

    Its parent, :class:`NotebookError`, alone means bad input (an unknown notebook or parameter,
    an output folder that cannot be written): ``labkit run`` exits 1 for this one, 2 for that.
    """


NotebookExecutionError.__module__ = "labkit.notebooks"


def kernel_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a notebook's kernel runs with: ``environ`` (default ``os.environ``) plus
    :data:`KERNEL_ENVIRONMENT` for every name ``environ`` does not set."""
    env = dict(os.environ if environ is None else environ)
    for key, value in KERNEL_ENVIRONMENT.items():
        env.setdefault(key, value)
    return env


def _kernel_manager_class(env: dict[str, str]) -> type:
    """jupyter_client's kernel manager, starting its kernel with ``env`` (not ``os.environ``).

    On POSIX the kernel talks over Unix sockets named after its own connection file, not TCP:
    jupyter_client picks "free" TCP ports before the kernel binds them, so two kernels started
    at once can pick the same one (``ZMQError: Address already in use``, seen when the test
    suite runs two notebooks at once). The connection file and the sockets are removed when
    the kernel shuts down.
    """
    from jupyter_client import AsyncKernelManager

    class KernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:
            kw["env"] = {**env, **kw.get("env", {})}
            if os.name == "posix":
                fd, path = tempfile.mkstemp(prefix="labkit-kernel-", suffix=".json")
                os.close(fd)
                self.transport = "ipc"
                self.connection_file = path
                self.ip = path.removesuffix(".json") + "-ipc"
            await super().start_kernel(**kw)

    return KernelManager


def check_run_parameters(
    nb_path: str | os.PathLike, parameters: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Check that the notebook declares ``smoke`` and every name in ``parameters``.

    Returns the notebook's declared parameters (name -> default).

    Raises
    ------
    NotebookError
        Naming the notebook and the undeclared parameter(s).
    """
    nb_path = Path(nb_path)
    declared = declared_parameters(nb_path)
    if "smoke" not in declared:
        raise NotebookError(f"{nb_path.name}: the parameters cell does not declare 'smoke'")
    unknown = sorted(set(parameters or {}) - set(declared))
    if unknown:
        raise NotebookError(
            f"{nb_path.stem} does not declare parameter(s) {', '.join(unknown)}; "
            f"declared: {', '.join(sorted(declared))}"
        )
    return declared


@dataclass
class NotebookRun:
    """What one notebook run produced.

    ``failures`` holds one message per declared check (``metadata["labkit"]["checks"]``) that
    the records do not pass; checks hold smoke-mode records, so it is empty for a full run.
    """

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
        With ``failures``: in smoke mode, the declared checks the records do not pass (a failed
        check does not raise; the notebook and its records are written).

    Raises
    ------
    NotebookError
        Bad input: the notebook is unknown or not a notebook, a parameter is not declared, or
        ``out_dir`` cannot be written (or holds files ``labkit run`` did not write).
    NotebookExecutionError
        A cell raised, the kernel died or a cell ran past ``timeout``; the message names the
        failing cell (index, first line) and the exception. The executed notebook is kept as
        ``NAME.failed.ipynb``, so the traceback can be read there.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    nb_path = find_notebook(str(path))
    name = nb_path.stem
    params = dict(parameters or {})
    check_run_parameters(nb_path, params)
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
            kernel_manager_class=_kernel_manager_class(kernel_environment()),
            engine_name=register_engine(),
        )
    except PapermillExecutionError as exc:
        error = NotebookExecutionError(
            f"{name}: cell {exc.cell_index} (execution count {exc.exec_count}, "
            f"`{_first_line(exc.source)}`) raised {exc.ename}: {exc.evalue}"
        )
    except Exception as exc:  # kernel died, timeout, bad notebook
        error = NotebookExecutionError(f"{name}: execution failed: {type(exc).__name__}: {exc}")
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
            error = NotebookExecutionError(f"{error} (executed notebook kept as {failed})")
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
    checks = notebook_info(nb_path).get("checks", {}) if smoke else {}
    failures = check_records(results, checks)
    return NotebookRun(name, final, results_file, results, params, seconds, failures)


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


def _notebook_bytes(nb: Any, results: dict[str, Any]) -> bytes:
    """``nb`` serialised, with its records in the metadata."""
    import nbformat

    nb.metadata.setdefault("labkit", {})["records"] = results
    return nbformat.writes(nb).encode()


def _write_notebook(path: Path, nb: Any, results: dict[str, Any]) -> Path:
    """Write ``nb`` (with its records in the metadata) to ``path`` atomically, mode 0644."""
    data = _notebook_bytes(nb, results)
    return atomic_write(path, lambda fh: fh.write(data))


def _write_pair(
    notebook: Path, nb: Any | None, results: dict[str, Any], results_file: Path, text: str
) -> None:
    """Swap in the executed notebook and its results together: both or neither.

    Both files are written whole under temporary names first; only then are the two renames
    done, back to back, so a failure before them leaves the previous pair untouched.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        items = [(results_file, text.encode())]
        if nb is not None:
            items.append((notebook, _notebook_bytes(nb, results)))
        for path, data in items:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.staged")
            atomic_write(tmp, lambda fh, data=data: fh.write(data))
            staged.append((tmp, path))
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
