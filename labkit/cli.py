"""The ``labkit`` command: list and run the lab's notebooks, open the lab, serve an explorer.

Examples
--------
.. code-block:: console

    $ labkit list
    $ labkit run 00_tour --smoke --out runs/
    $ labkit run 02_fno_darcy -p epochs 5 -p width 16
    $ labkit sweep 00_tour -p n 64,128 -p sphere_resolution 24,32 --out sweeps/tour
    $ labkit lab --port 8888
    $ labkit serve spectrum --port 5006
    $ labkit course build --config course.toml --out course/
    $ labkit notebooks copy my-lab/
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from labkit import notebooks as nbs
from labkit._io import OutputFolderError
from labkit.cluster import ClusterError
from labkit.course.config import CourseError


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``labkit: error: ...``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"labkit: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def _port(text: str) -> int:
    """A TCP port number, 0..65535 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be an integer, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 0..65535, got {value}")
    return value


def _seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def check_port_free(port: int, address: str) -> None:
    """Raise :class:`CLIError` unless ``address:port`` can be bound now (0 always can)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise CLIError(f"--address {address!r} is not a usable interface: {exc}") from None
    family, _, _, _, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            raise CLIError(
                f"--port {port} on {address} is not available ({exc.strerror or exc}); "
                "pick another port, or --port 0 for a free one"
            ) from None


def check_results_file(path: str) -> None:
    """Raise :class:`CLIError` unless ``path`` is a readable ``.npz`` or a JSON object file."""
    file = Path(path)
    if not file.is_file():
        raise CLIError(f"--results {path!r} is not an existing file")
    if file.suffix not in (".json", ".npz"):
        raise CLIError(f"--results {path!r} must be a .json or .npz file")
    if file.suffix == ".npz":
        import numpy as np

        try:
            with np.load(file, allow_pickle=False) as data:
                for key in data.files:
                    data[key]
        except Exception as exc:  # noqa: BLE001 - zip, format and pickle errors alike
            raise CLIError(
                f"--results {path!r} is not a readable .npz file ({type(exc).__name__}: "
                f"{_one_line(exc)[:160]}); the file may be truncated: write it again"
            ) from None
    if file.suffix == ".json":
        try:
            data = json.loads(file.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CLIError(
                f"--results {path!r} is not valid JSON ({exc}); the file may be truncated: "
                "write it again (e.g. with labkit run)"
            ) from None
        if not isinstance(data, dict):
            raise CLIError(
                f"--results {path!r} holds a JSON {type(data).__name__}, not an object: "
                "give a result's to_dict() output"
            )


def _cmd_list(args: argparse.Namespace) -> int:
    paths = nbs.list_notebooks()
    if not paths:
        print(f"no notebooks in {nbs.notebook_dir()}")
        return 0
    width = max(len(p.stem) for p in paths)
    status = 0
    for path in paths:
        try:
            purpose = str(nbs.notebook_info(path).get("purpose", ""))
        except nbs.NotebookError as exc:
            print(f"labkit: error: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{path.stem:<{width}}  {purpose}")
    return status


def _parameters(path: Path, pairs: Sequence[Sequence[str]]) -> dict:
    declared = nbs.check_run_parameters(path)  # bad input is refused before any notebook runs
    params = {}
    for key, text in pairs:
        if key not in declared:
            raise CLIError(
                f"{path.stem} does not declare parameter {key!r}; "
                f"declared: {', '.join(sorted(declared))}"
            )
        params[key] = nbs.parse_parameter(key, text, declared[key])
    return params


def _cmd_run(args: argparse.Namespace) -> int:
    paths = [nbs.find_notebook(name) for name in args.names]
    plans = [(path, _parameters(path, args.param or [])) for path in paths]
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {args.out!r} is a file, not a folder; give a folder")
    if out.is_dir() and not os.access(out, os.W_OK):
        raise CLIError(f"--out {args.out!r} is not a writable folder")
    for path in paths:
        nbs.check_outputs(path, out)  # before any run: refuse to overwrite what is not ours
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"--out {args.out!r} cannot be created: {exc.strerror or exc}") from None
    status = 0
    for i, (path, params) in enumerate(plans, 1):
        mode = " (smoke)" if args.smoke else ""
        print(f"[{i}/{len(plans)}] {path.stem}{mode}", file=sys.stderr, flush=True)
        try:
            run = nbs.run_notebook(
                path,
                params,
                smoke=args.smoke,
                out_dir=out,
                progress=not args.quiet,
                timeout=args.timeout,
            )
        except nbs.NotebookExecutionError as exc:  # the notebook failed: go on with the next
            print(f"labkit: error: {exc}", file=sys.stderr)
            status = 1
            continue
        for failure in run.failures:
            print(f"labkit: check failed: {path.stem}: {failure}", file=sys.stderr)
        status = status or (1 if run.failures else 0)
        print(
            f"  {run.seconds:.1f} s, {len(run.results)} records -> {run.notebook}, "
            f"{run.results_file}",
            file=sys.stderr,
        )
    return status


def lab_command(port: int | None = None, no_browser: bool = False) -> list[str]:
    """The JupyterLab command that ``labkit lab`` runs: notebooks/, 127.0.0.1, token on."""
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--notebook-dir={nbs.notebook_dir()}",
        "--ServerApp.ip=127.0.0.1",
    ]
    if port is not None:
        cmd += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root
        cmd.append("--allow-root")
    return cmd


def lab_folder() -> Path:
    """The folder ``labkit lab`` opens: :func:`labkit.notebooks.notebook_dir`, except that for
    an installed labkit it is a working copy, ``./labkit-notebooks``, made or brought up to date
    first (never over a notebook the user changed), not the package's own files."""
    if nbs.notebook_dir() == nbs.packaged_lab() / "notebooks":
        from labkit.workcopy import DEFAULT_DEST, copy_notebooks

        print(copy_notebooks(DEFAULT_DEST).summary(), file=sys.stderr)
    return nbs.notebook_dir()


def _cmd_lab(args: argparse.Namespace) -> int:
    lab_folder()
    cmd = lab_command(args.port, args.no_browser)
    env = nbs.kernel_environment()  # kernels load Bokeh inline: the lab works offline
    if os.name == "posix":
        # Become JupyterLab, so that a signal to `labkit lab` (Ctrl-C, a terminate) reaches the
        # server itself instead of leaving it running as an orphan.
        os.execve(cmd[0], cmd, env)
    return subprocess.call(cmd, env=env)


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        from labkit.viz import apps
    except ImportError as exc:
        raise CLIError(f"the explorers are not available: {exc}") from None
    if args.name not in apps.EXPLORERS:
        raise CLIError(
            f"unknown explorer {args.name!r}; known: {', '.join(sorted(apps.EXPLORERS))}"
        )
    if args.results is not None:
        check_results_file(args.results)
    check_port_free(args.port, args.address)
    apps.serve(args.name, port=args.port, address=args.address, results=args.results)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="labkit", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the notebooks with their one-line purpose")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("run", help="execute notebooks with papermill and record their values")
    p.add_argument("names", nargs="+", metavar="NAME", help="notebook name, prefix or path")
    p.add_argument("--smoke", action="store_true", help="run the smoke-sized version")
    p.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        metavar=("KEY", "VALUE"),
        help="set a parameter declared in the notebook's parameters cell",
    )
    p.add_argument("--out", default="labkit-runs", help="folder for executed notebooks")
    p.add_argument("--timeout", type=_seconds, default=None, help="per-cell limit in seconds")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("lab", help="open JupyterLab on the notebooks (127.0.0.1, token on)")
    p.add_argument("--port", type=_port, default=None)
    p.add_argument("--no-browser", action="store_true")
    p.set_defaults(func=_cmd_lab)

    p = sub.add_parser("serve", help="serve an explorer as a panel app")
    p.add_argument("name", help="explorer name")
    p.add_argument("--port", type=_port, default=0, help="port (0 picks a free one)")
    p.add_argument("--address", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--results", default=None, help="a results file to show instead of demo data")
    p.set_defaults(func=_cmd_serve)

    from labkit.course.cli import add_course_parser
    from labkit.workcopy import add_notebooks_parser

    add_course_parser(sub)
    add_notebooks_parser(sub)
    from labkit.data.cli import add_data_parser
    from labkit.sweeps.cli import add_sweep_parser

    add_data_parser(sub)
    add_sweep_parser(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``labkit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CLIError, nbs.NotebookError, CourseError, ClusterError, OutputFolderError) as exc:
        print(f"labkit: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as exc:
        # A bad input that a library call refused: one line for the user, no traceback
        # (LABKIT_DEBUG=1 shows it).
        if os.environ.get("LABKIT_DEBUG"):
            raise
        print(f"labkit: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
