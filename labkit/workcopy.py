"""A working copy of the lab: ``labkit notebooks copy [DEST]`` puts the notebooks in your folder.

An installed labkit carries its notebooks inside the package (read-only in spirit: an upgrade
replaces them). The copy is yours to edit. Copying again brings new and updated notebooks but
never overwrites one you changed: a ``.labkit-copy.json`` file in the folder remembers the hash
of every file as it was copied, and a file whose bytes differ from that is skipped and named.

Examples
--------
>>> import tempfile, pathlib
>>> dest = pathlib.Path(tempfile.mkdtemp())
>>> report = copy_notebooks(dest)
>>> "00_tour.ipynb" in report.copied and not report.skipped
True
>>> _ = (dest / "00_tour.ipynb").write_text("{}")  # the user edits a notebook
>>> copy_notebooks(dest).skipped
['00_tour.ipynb']
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from labkit._io import atomic_write
from labkit.notebooks import COPY_MANIFEST, list_notebooks, notebook_dir

__all__ = ["COPY_MANIFEST", "CopyReport", "add_notebooks_parser", "copy_notebooks", "lab_files"]

DEFAULT_DEST = "labkit-notebooks"


@dataclass
class CopyReport:
    """What :func:`copy_notebooks` did with each file (names relative to ``dest``)."""

    dest: Path
    copied: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Lines for the terminal: counts, then each skipped file by name."""
        lines = [
            f"{self.dest}: {len(self.copied)} copied, {len(self.updated)} updated, "
            f"{len(self.unchanged)} already up to date, {len(self.skipped)} skipped"
        ]
        lines += [
            f"  skipped {name}: you changed it (the shipped version was not copied over it)"
            for name in self.skipped
        ]
        return "\n".join(lines)


def lab_files(source: str | os.PathLike | None = None) -> dict[str, Path]:
    """Name in the copy -> file: the notebooks of ``source`` (default the lab's), those under its
    ``experiments/`` (the notebooks that sweeps run), the course file.

    Examples
    --------
    >>> sorted(lab_files())[:2]
    ['00_tour.ipynb', '01_pde_data.ipynb']
    """
    folder = Path(source) if source is not None else notebook_dir()
    files = {p.name: p for p in list_notebooks(folder)}
    files.update({f"experiments/{p.name}": p for p in sorted(folder.glob("experiments/*.ipynb"))})
    course = folder.parent / "course.toml"
    if course.is_file():
        files["course.toml"] = course
    return files


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def copy_notebooks(
    dest: str | os.PathLike = DEFAULT_DEST, source: str | os.PathLike | None = None
) -> CopyReport:
    """Copy the lab's notebooks and course file into ``dest``, never over a file you changed.

    Parameters
    ----------
    dest : path
        The folder of the working copy; created if absent.
    source : path, optional
        The folder of notebooks to copy from (default :func:`labkit.notebooks.notebook_dir`).

    Returns
    -------
    CopyReport
        ``copied`` (new here), ``updated`` (replaced: untouched since the last copy),
        ``unchanged`` (already equal), ``skipped`` (you changed it, or it was not copied by
        labkit and differs).

    Raises
    ------
    ValueError
        When ``dest`` is a file, or there is nothing to copy.
    """
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise ValueError(f"dest {str(dest)!r} is a file; give a folder for the notebooks")
    files = lab_files(source)
    if not any(name.endswith(".ipynb") for name in files):
        raise ValueError(f"no notebooks to copy in {notebook_dir() if source is None else source}")
    dest.mkdir(parents=True, exist_ok=True)
    manifest_path = dest / COPY_MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text()).get("files", {})
    except (FileNotFoundError, json.JSONDecodeError, AttributeError):
        manifest = {}
    report = CopyReport(dest)
    for name, path in files.items():
        data, target = path.read_bytes(), dest / name
        if not target.exists():
            bucket = report.copied
        else:
            current = _sha256(target.read_bytes())
            if current == _sha256(data):
                report.unchanged.append(name)
                manifest[name] = current
                continue
            if manifest.get(name) != current:
                report.skipped.append(name)
                continue
            bucket = report.updated
        target.parent.mkdir(exist_ok=True)
        atomic_write(target, lambda fh, data=data: fh.write(data))
        manifest[name] = _sha256(data)
        bucket.append(name)
    from labkit import __version__

    text = json.dumps({"labkit": __version__, "files": manifest}, indent=1, sort_keys=True)
    atomic_write(manifest_path, lambda fh: fh.write(text.encode() + b"\n"))
    return report


def _cmd_copy(args: argparse.Namespace) -> int:
    try:
        report = copy_notebooks(args.dest)
    except ValueError as exc:
        print(f"labkit: error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


def add_notebooks_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``notebooks copy [DEST]`` to the ``labkit`` command."""
    parser = sub.add_parser("notebooks", help="a working copy of the lab's notebooks")
    nsub = parser.add_subparsers(dest="notebooks_command", required=True)
    p = nsub.add_parser(
        "copy", help="copy the notebooks and course file into DEST, never over your changes"
    )
    p.add_argument(
        "dest", nargs="?", default=DEFAULT_DEST, help=f"folder (default: {DEFAULT_DEST}/)"
    )
    p.set_defaults(func=_cmd_copy)
