"""Files written whole or not at all: every room writes through :func:`atomic_write`.

Folders that a command writes as a whole (a course build, a book) go through
:func:`replace_folder`: built beside the target, marked as labkit's, then swapped in; a folder
that labkit did not write is never replaced unless the caller forces it.

Examples
--------
>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     path = atomic_write(pathlib.Path(d) / "a.txt", lambda fh: fh.write(b"hello"))
...     path.read_bytes()
b'hello'
>>> with tempfile.TemporaryDirectory() as d:
...     out = replace_folder(pathlib.Path(d) / "out", lambda tmp: (tmp / "x").write_text("1"))
...     sorted(p.name for p in out.iterdir())
['.labkit-output', 'x']
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "OUTPUT_MARKER",
    "OutputFolderError",
    "atomic_write",
    "check_output_folder",
    "replace_folder",
]

OUTPUT_MARKER = ".labkit-output"


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Write ``path`` through ``write(binary_file)`` into a temporary file, fsync it, rename it.

    A reader never sees a half-written file: on any error the temporary file is removed and
    ``path`` keeps its previous content (or stays absent). The file gets mode 0644, and the
    folder is synced after the rename so that the new name survives a crash.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (where the platform has directory handles)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


class OutputFolderError(ValueError):
    """An output folder labkit must not write: the message names the argument and what to do."""


def _is_labkit_folder(path: Path) -> bool:
    return (path / OUTPUT_MARKER).is_file()


def check_output_folder(
    path: str | os.PathLike, *, force: bool = False, argument: str = "out_dir"
) -> Path:
    """Return ``path`` as an absolute folder that :func:`replace_folder` may replace, or refuse it.

    Refused always: the current folder or one above it, a file, a symbolic link, a path below a
    file. Refused unless ``force``: an existing folder that holds something and was not written
    by labkit (it lacks the ``.labkit-output`` marker). An absent or empty folder is accepted.

    Raises
    ------
    OutputFolderError
        With one line naming ``argument`` and what to do instead.

    Examples
    --------
    >>> check_output_folder(".", argument="--out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    labkit._io.OutputFolderError: --out '.' is the current folder or holds it; give a new ...
    """
    given = str(path)
    if not given.strip():
        raise OutputFolderError(f"{argument} is empty; give a folder to write into")
    out = Path(os.path.abspath(path))
    cwd = Path.cwd().resolve()
    if out.resolve() == cwd or out.resolve() in cwd.parents or out.parent == out:
        raise OutputFolderError(
            f"{argument} {given!r} is the current folder or holds it; give a new folder, "
            f"e.g. {argument} build/course"
        )
    if out.is_symlink():
        raise OutputFolderError(
            f"{argument} {given!r} is a symbolic link; give the folder it points to, or a new one"
        )
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise OutputFolderError(f"{argument} {given!r} lies below a file ({parent})")
    if out.exists() and not out.is_dir():
        raise OutputFolderError(
            f"{argument} {given!r} is a file, not a folder; give a folder to write into"
        )
    if out.is_dir() and not force and any(out.iterdir()) and not _is_labkit_folder(out):
        raise OutputFolderError(
            f"{argument} {given!r} exists and was not written by labkit; give a new folder, "
            "or pass --force to replace it and everything in it"
        )
    return out


def replace_folder(
    path: str | os.PathLike,
    build: Callable[[Path], object],
    *,
    force: bool = False,
    argument: str = "out_dir",
) -> Path:
    """Write a whole folder: ``build(tmp)`` fills a folder beside ``path``, then it is swapped in.

    The new folder carries a ``.labkit-output`` marker, so a later call may replace it. If
    ``build`` raises, the temporary folder is removed and ``path`` keeps its old content. The swap
    is one atomic exchange where the platform has ``renameat2`` (Linux), else two renames.

    Parameters
    ----------
    path : path
        The output folder; checked by :func:`check_output_folder`.
    build : callable
        Called with the temporary folder; writes everything into it.
    force : bool
        Replace an existing folder even if labkit did not write it.
    argument : str
        How the caller names ``path`` in error messages (``"--out"`` on the command line).
    """
    out = check_output_folder(path, force=force, argument=argument)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    try:
        build(tmp)
        (tmp / OUTPUT_MARKER).write_text(
            "This folder was written by labkit, which replaces it as a whole on the next build.\n"
        )
        os.chmod(tmp, 0o755)
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(out.parent)
    return out


def _swap_in(new: Path, out: Path) -> None:
    """Put folder ``new`` at ``out``; whatever was at ``out`` is removed after the swap."""
    if not out.exists():
        os.replace(new, out)
        return
    if _exchange(new, out):
        shutil.rmtree(new)  # now holds the old folder
        return
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
    os.replace(out, old)  # onto the empty placeholder
    try:
        os.replace(new, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux ``renameat2(RENAME_EXCHANGE)``; False if unavailable."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0
