"""Every explorer as a panel app: ``serve(NAME)`` or ``python -m labkit.viz.apps NAME``.

Without a results file each app computes small demo data on the spot with the rooms' own
functions (``labkit.viz.demo``). A results file is JSON (a result's ``to_dict()``) or ``.npz``
(one array per field) holding the fields the explorer reads (see each explorer's module
docstring).

Examples
--------
>>> sorted(EXPLORERS)
['fields', 'intrinsic', 'pores', 'spectrum', 'surface', 'sweep', 'training']
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from labkit._checks import check_choice, check_int  # noqa: E402
from labkit.viz import demo  # noqa: E402

__all__ = ["DEMOS", "EXPLORERS", "build", "load_results", "serve"]

READY_GRACE_MS = 3000
"""A session whose client has not sent ``document_ready`` after this long is treated as ready."""
CHECK_SESSIONS_MS = 1000
"""How often the server looks for sessions no client is connected to."""
SESSION_LIFETIME_MS = 3000
"""A session without a connected client for this long is destroyed (a page has this long to
connect its websocket after loading)."""


def _namespace(value: Any) -> Any:
    if isinstance(value, Mapping):
        return SimpleNamespace(**{str(k): _namespace(v) for k, v in value.items()})
    return value


def load_results(path: str | os.PathLike) -> Any:
    """Read a results file (``.json`` or ``.npz``) into an object with one attribute per field.

    Nested mappings (e.g. ``blocks``) stay mappings of such objects.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"results must be an existing file, got {str(path)!r}")
    if path.suffix == ".npz":
        with __import__("numpy").load(path, allow_pickle=False) as data:
            return SimpleNamespace(**{k: data[k] for k in data.files})
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        if not isinstance(data, Mapping):
            raise ValueError(f"results file {str(path)!r} must hold a JSON object")
        out = _namespace(data)
        if isinstance(data.get("blocks"), Mapping):
            out.blocks = {k: _namespace(v) for k, v in data["blocks"].items()}
        return out
    raise ValueError(f"results must be a .json or .npz file, got {str(path)!r}")


def _training(result: Any):
    from labkit.viz.training import training_monitor

    return training_monitor(result)


def _fields(result: Any):
    from labkit.viz.fields import field_viewer

    return field_viewer(
        result.truth,
        getattr(result, "prediction", None),
        name=getattr(result, "name", "u"),
        unit=getattr(result, "unit", None),
        index_name="time" if hasattr(result, "times") else "sample",
        index_values=getattr(result, "times", None),
    )


def _spectrum(result: Any):
    from labkit.viz.spectrum import spectrum_explorer

    return spectrum_explorer(result)


def _surface(result: Any):
    from labkit.viz.surface import surface_explorer

    return surface_explorer(result)


def _intrinsic(result: Any):
    from labkit.viz.intrinsic import intrinsic_explorer

    return intrinsic_explorer(result)


def _pores(result: Any):
    from labkit.viz.pores import pore_viewer

    if isinstance(result, SimpleNamespace):  # a results file
        return pore_viewer(result.labels, values=getattr(result, "values", None))
    return pore_viewer(result)


def _sweep(result: Any):
    from labkit.viz.sweep import sweep_explorer

    colour = "method" if "method" in getattr(result, "columns", ()) else None
    return sweep_explorer(result, colour=colour, fit=True)


def _demo_sweep() -> Any:
    from labkit.viz.sweep import demo_sweep

    return demo_sweep()


def _demo_fields() -> Any:
    result = demo.demo_fields(nx=48, n_times=16, ndim=2)
    return SimpleNamespace(**result.__dict__, name="temperature", unit="K")


EXPLORERS: dict[str, Callable[[Any], Any]] = {
    "training": _training,
    "fields": _fields,
    "spectrum": _spectrum,
    "surface": _surface,
    "intrinsic": _intrinsic,
    "pores": _pores,
    "sweep": _sweep,
}
"""Explorer name -> builder taking a result object and returning a panel layout."""

DEMOS: dict[str, Callable[[], Any]] = {
    "training": demo.demo_history,
    "fields": _demo_fields,
    "spectrum": demo.demo_spectrum,
    "surface": demo.demo_surface,
    "intrinsic": demo.demo_intrinsic,
    "pores": demo.demo_pores,  # the label array
    "sweep": _demo_sweep,
}
"""Explorer name -> function computing its demo result on the spot."""


def build(name: str, results: str | os.PathLike | None = None):
    """Return the panel layout of explorer ``name`` on ``results`` (or on demo data)."""
    check_choice("name", name, EXPLORERS)
    return EXPLORERS[name](DEMOS[name]() if results is None else load_results(results))


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def serve(
    name: str | Sequence[str],
    port: int = 0,
    address: str = "127.0.0.1",
    results: str | None = None,
    show: bool = False,
    processes: int | None = None,
    threads: int = 0,
) -> None:
    """Serve explorer ``name`` with panel at ``http://address:port/name`` until interrupted.

    Parameters
    ----------
    name
        One of ``EXPLORERS``, or several names to serve side by side from one process (each at
        ``/name``; demo data only).
    port
        TCP port; 0 picks a free one.
    address
        Interface to listen on; ``127.0.0.1`` (this machine only) unless asked otherwise.
    results
        A ``.json``/``.npz`` results file; demo data computed on the spot when ``None``.
    show
        Open the page in a web browser.
    processes
        Server processes sharing the port (each session lives in one of them, Linux and
        macOS); more than one spreads a large room over the machine's cores (30 students on
        2 cores: p50 per update about half of one process's) at the price of the memory of each.
        ``None``: one. Explorers drawn by pyvista (``pores``) need one (VTK does not survive
        a fork).
    threads
        Threads per process that run the widgets' callbacks (panel's ``nthreads``); 0 runs them
        on the server's event loop.

    Notes
    -----
    Sessions are cheap to leave: a closed or dropped session is destroyed within seconds
    (``SESSION_LIFETIME_MS``) and its memory handed back; a client that never signals that it
    has drawn the page (``document_ready``) is treated as ready after ``READY_GRACE_MS``, so
    that no plot waits (and polls) for it for the session's life.
    """
    names = [name] if isinstance(name, str) else list(name)
    if not names:
        raise ValueError("name must name at least one explorer, got none")
    for each in names:
        check_choice("name", each, EXPLORERS)
    if results is not None and len(names) > 1:
        raise ValueError(f"results can only be given for one explorer, got names {names}")
    processes = check_int("processes", 1 if processes is None else processes, minimum=1)
    threads = check_int("threads", threads, minimum=0)
    if processes > 1 and (sys.platform == "win32" or "pores" in names):
        raise ValueError(
            f"processes must be 1 on Windows and for the pores explorer, got {processes}"
        )
    port = check_int("port", port, minimum=0)
    if port > 65535:
        raise ValueError(f"port must be <= 65535, got {port}")
    if not isinstance(address, str) or not address:
        raise TypeError(f"address must be a host name or IP address string, got {address!r}")
    _reexec_with_system_allocator()
    data = {n: load_results(results) if results is not None else DEMOS[n]() for n in names}
    from labkit.viz import theme

    theme.setup()
    import panel as pn
    from bokeh.settings import settings

    settings.resources.set_value("server")
    for each in names:
        EXPLORERS[each](data[each])  # a bad results file fails here, before the server starts
    port = port or _free_port(address)
    for each in names:
        print(f"labkit: serving {each} at http://{address}:{port}/{each}", flush=True)
    if threads:
        pn.config.nthreads = threads
    if processes > 1 and sys.platform.startswith("linux"):
        os.register_at_fork(after_in_child=_die_with_parent)
    pn.serve(
        {each: (lambda each=each: _session(each, data[each])) for each in names},
        port=port,
        address=address,
        websocket_origin=[f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"],
        show=show,
        title={each: f"labkit · {each}" for each in names},
        threaded=False,
        num_procs=processes,
        check_unused_sessions_milliseconds=CHECK_SESSIONS_MS,
        unused_session_lifetime_milliseconds=SESSION_LIFETIME_MS,
    )


def _die_with_parent() -> None:
    """In a forked server process: end when the parent does (it alone gets SIGTERM)."""
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not glibc
        pass


def _reexec_with_system_allocator() -> None:
    """From the command line, run this same command again with ``PYTHONMALLOC=malloc``.

    Python's own small-object allocator keeps an arena as long as one object in it lives, so
    after a room of sessions has gone the server stayed ~17 % above its idle memory although
    every session's objects were freed; with the system allocator (and ``malloc_trim``) it comes
    back. A process cannot switch allocators, hence the ``exec``; a notebook or program that
    calls ``serve`` is never replaced (its allocator is left as it is).
    """
    main = sys.modules.get("__main__")
    command = getattr(getattr(main, "__spec__", None), "name", None) or Path(sys.argv[0]).name
    if (
        os.environ.get("PYTHONMALLOC")
        or not sys.platform.startswith("linux")
        or command not in {"labkit", "labkit.cli", "labkit.viz.apps", "labkit.__main__"}
    ):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, list(sys.orig_argv), {**os.environ, "PYTHONMALLOC": "malloc"})


def _session(name: str, data: Any):
    """Build explorer ``name`` for one server session, with the session's safety nets."""
    import panel as pn
    from bokeh.events import DocumentReady

    app = EXPLORERS[name](data)
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        return app
    ready: list[bool] = []
    doc.on_event(DocumentReady, lambda event: ready.append(True))

    def assume_ready() -> None:
        # Before document_ready, HoloViews reschedules each plot refresh on the next tick
        # until the client says it is ready: a client that never says so would keep a core busy.
        if not ready:
            doc.callbacks.trigger_event(DocumentReady())

    doc.add_timeout_callback(assume_ready, READY_GRACE_MS)
    doc.on_session_destroyed(_hand_back_memory)
    return app


def _hand_back_memory(session_context: Any) -> None:
    """After sessions end: collect their objects and return freed heap pages to the system.

    Runs a second after the last of a burst of sessions has gone (their documents are only
    released once the server's destroy has returned), once per burst.
    """
    from tornado.ioloop import IOLoop

    global _collect_handle
    loop = IOLoop.current()
    if _collect_handle is not None:
        loop.remove_timeout(_collect_handle)
    _collect_handle = loop.call_later(1.0, _collect)


_collect_handle: Any = None


def _collect() -> None:
    global _collect_handle
    _collect_handle = None
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m labkit.viz.apps NAME [NAME...] [--port P] [--address A]``."""
    parser = argparse.ArgumentParser(prog="python -m labkit.viz.apps", description=__doc__)
    parser.add_argument("name", nargs="+", choices=sorted(EXPLORERS))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--results", default=None)
    parser.add_argument("--show", action="store_true")
    parser.add_argument("--processes", type=int, default=None)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    names = args.name[0] if len(args.name) == 1 else args.name
    serve(
        names,
        port=args.port,
        address=args.address,
        results=args.results,
        show=args.show,
        processes=args.processes,
        threads=args.threads,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
