"""An nbgrader course from the course file: ``labkit course build --format nbgrader --out DIR``.

The folder is what nbgrader's commands expect of a course:

- ``source/<assignment>/<notebook>.ipynb``: the notebooks with nbgrader cell metadata. Each
  exercise cell is a *solution cell* (its ``# BEGIN SOLUTION`` / ``# END SOLUTION`` block is the
  part nbgrader clears); the code cell that follows it, where labkit's check runs, is an
  *autograded test cell* worth the exercise's points from the course file (cut after its last
  check, the rest following in an ordinary cell: see :func:`split_check_cell`); markdown cells
  are *read-only*. The course file's ``assignment`` key groups notebooks into assignments.
- ``nbgrader_config.py`` (rewritten by a later build only if nobody changed it): the course
  id, a per-cell time limit fit for labkit's notebooks, and
  :class:`labkit.course.nbgrader_stubs.LabkitClearSolutions` in place of nbgrader's
  ``ClearSolutions``, so the released stubs raise the same one-sentence hint as labkit's student
  version (``raise NotImplementedError('Exercise id: hint')``).

Then, in that folder: ``nbgrader generate_assignment ps1``, ``nbgrader autograde ps1``, ...
A later build replaces ``source/`` as a whole and leaves nbgrader's files (``gradebook.db``,
``release/``, ``submitted/``, ``autograded/``, ``feedback/``) as they are.

Examples
--------
>>> import tempfile
>>> from labkit.course import CourseConfig
>>> cfg = CourseConfig.from_dict({"notebooks": [{"name": "00_tour", "assignment": "ps1"}]})
>>> built = build_nbgrader(cfg, tempfile.mkdtemp() + "/course")
>>> built.assignments
{'ps1': ['00_tour']}
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from labkit._io import OutputFolderError, atomic_write, check_output_folder, replace_folder
from labkit.course.config import CourseConfig, CourseError, CourseNotebook
from labkit.course.markers import instructor_source
from labkit.course.versions import apply_presets, chosen_exercises
from labkit.notebooks import declared_parameters, find_notebook

__all__ = [
    "NbgraderBuild",
    "build_nbgrader",
    "check_cell_index",
    "check_nbgrader_folder",
    "nbgrader_source",
    "split_check_cell",
]

SCHEMA_VERSION = 3
NBGRADER_MARKER = ".labkit-nbgrader.json"
_CHECK_CALL = re.compile(r"\bcheck_\w+\s*\(")

_CONFIG = """\
# nbgrader configuration of the course {title!r},
# written by `labkit course build --format nbgrader`.
# Run nbgrader from this folder: nbgrader generate_assignment ASSIGNMENT, autograde, ...
c = get_config()  # noqa: F821 (nbgrader defines get_config)

c.CourseDirectory.course_id = {course_id!r}

# labkit's notebooks train models: give each cell up to {timeout} s when autograding or validating
c.Execute.timeout = {timeout}

# Released stubs raise labkit's one-sentence hint, exactly as in labkit's student version
from labkit.course.nbgrader_stubs import generate_assignment_preprocessors  # noqa: E402

c.GenerateAssignment.preprocessors = generate_assignment_preprocessors()
"""


@dataclass
class NbgraderBuild:
    """Where an nbgrader course lies: its root, assignments and autograded test cells."""

    root: Path
    assignments: dict[str, list[str]] = field(default_factory=dict)
    points: dict[str, dict[str, float]] = field(default_factory=dict)  # notebook -> id -> points


def _nbgrader_meta(grade_id: str, **flags: Any) -> dict[str, Any]:
    meta = {"grade": False, "solution": False, "locked": False, "task": False}
    meta.update(flags, grade_id=grade_id, schema_version=SCHEMA_VERSION)
    return meta


def check_cell_index(nb: Any, exercise_index: int, name: str, exercise_id: str) -> int:
    """The index of the code cell that checks an exercise: the next code cell, calling a check.

    Raises
    ------
    CourseError
        When the next code cell does not call a ``labkit.course.exercises`` check.
    """
    for index in range(exercise_index + 1, len(nb.cells)):
        cell = nb.cells[index]
        if cell.cell_type != "code":
            continue
        if _CHECK_CALL.search(cell.source) and "exercise" not in cell.metadata.get("tags", []):
            return index
        break
    raise CourseError(
        f"{name}: exercise {exercise_id!r} needs its check (a labkit.course.exercises call such as "
        "check_close) in the next code cell, to grade it with nbgrader"
    )


def _is_check_call(node: ast.AST) -> bool:
    func = getattr(node, "func", None)
    name = getattr(func, "id", None) or getattr(func, "attr", None) or ""
    return isinstance(node, ast.Call) and name.startswith("check_")


def split_check_cell(source: str) -> tuple[str, str]:
    r"""Split a check cell after its last statement that calls a ``check_...`` function.

    nbgrader marks a test cell failed when it writes anything to stderr, and the code after a
    labkit check often draws a figure or renders a scene (whose libraries warn on stderr). The
    autograded part therefore ends with the check; the rest goes into an ordinary cell after it.

    Examples
    --------
    >>> split_check_cell("u = f(x)\ncheck_close(u, 1)\nplot(u)")
    ('u = f(x)\ncheck_close(u, 1)', 'plot(u)')
    """
    body = ast.parse(source).body
    last = max(
        (i for i, stmt in enumerate(body) if any(map(_is_check_call, ast.walk(stmt)))),
        default=None,
    )
    if last is None or last == len(body) - 1:
        return source, ""
    lines = source.splitlines()
    cut = body[last].end_lineno
    return "\n".join(lines[:cut]), "\n".join(lines[cut:]).strip("\n")


def nbgrader_source(nb: Any, entry: CourseNotebook, name: str) -> tuple[Any, dict[str, float]]:
    """The nbgrader source version of a notebook and the points of each chosen exercise."""
    chosen = {e.cell_index: e for e in chosen_exercises(nb, entry, name)}
    points: dict[str, float] = {}
    if isinstance(entry.points, dict):
        unknown = set(entry.points) - {e.id for e in chosen.values()}
        if unknown:
            raise CourseError(f"{name}: points given for unknown exercise(s) {sorted(unknown)}")
    source = nbformat.from_dict(nb)
    checks = {}
    for index, exercise in chosen.items():
        checks[check_cell_index(nb, index, name, exercise.id)] = exercise
        points[exercise.id] = entry.points_for(exercise.id)
    cells = []
    for index, cell in enumerate(source.cells):
        cells.append(cell)
        if index in chosen:
            cell.metadata["nbgrader"] = _nbgrader_meta(chosen[index].id, solution=True)
        elif "exercise" in cell.metadata.get("tags", []):
            cell.source = instructor_source(cell.source)  # not in this course: stays solved
        elif index in checks:
            ex = checks[index]
            cell.metadata["nbgrader"] = _nbgrader_meta(
                f"{ex.id}_check", grade=True, locked=True, points=points[ex.id]
            )
            cell.source, rest = split_check_cell(cell.source)
            if rest:
                cells.append(
                    nbformat.v4.new_code_cell(rest, metadata={"labkit": {"rest_of": ex.id}})
                )
        elif cell.cell_type == "markdown":
            cell.metadata["nbgrader"] = _nbgrader_meta(f"text_{index}", locked=True)
    source.cells = cells
    return source, points


def build_nbgrader(
    config: CourseConfig, out_dir: str | os.PathLike, *, force: bool = False, timeout: int = 1800
) -> NbgraderBuild:
    """Write an nbgrader course (``source/<assignment>/<notebook>.ipynb``, ``nbgrader_config.py``).

    Parameters
    ----------
    config : CourseConfig
        Notebooks, chosen exercises, presets, assignments (``assignment``, default the notebook's
        name) and points (``points``, default 1 per exercise).
    out_dir : path
        The course folder; built beside and swapped in, refused if labkit did not write it
        (unless ``force``).
    timeout : int
        Per-cell limit in seconds written into ``nbgrader_config.py`` (``c.Execute.timeout``).
    """
    out = check_nbgrader_folder(out_dir, force=force)
    build = NbgraderBuild(out)

    def write(tmp: Path) -> None:
        for entry in config.notebooks:
            path = find_notebook(entry.name)
            name = path.stem
            declared_parameters(path)
            nb = nbformat.read(path, as_version=4)
            apply_presets(nb, entry.parameters, name)
            source, points = nbgrader_source(nb, entry, name)
            assignment = entry.assignment or name
            folder = tmp / assignment
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(source, folder / f"{name}.ipynb")
            build.assignments.setdefault(assignment, []).append(name)
            build.points[name] = points

    out.mkdir(parents=True, exist_ok=True)
    replace_folder(out / "source", write, force=force)
    course_id = re.sub(r"[^A-Za-z0-9_-]+", "-", config.title).strip("-").lower() or "labkit"
    text = _CONFIG.format(title=config.title, course_id=course_id, timeout=int(timeout))
    _write_config(out, text, force)
    return build


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_nbgrader_folder(
    out_dir: str | os.PathLike, *, force: bool = False, argument: str = "out_dir"
) -> Path:
    """Accept an absent or empty folder, or one that an earlier nbgrader build of labkit wrote.

    Only ``source/`` and ``nbgrader_config.py`` are labkit's there; nbgrader's own files
    (``gradebook.db``, ``release/``, ``submitted/``, ``autograded/``, ...) are never touched.
    """
    out = check_output_folder(out_dir, force=True, argument=argument)
    if out.is_dir() and any(out.iterdir()) and not (out / NBGRADER_MARKER).is_file() and not force:
        raise OutputFolderError(
            f"{argument} {str(out_dir)!r} exists and is not an nbgrader course labkit wrote; give "
            "a new folder, or pass --force to write source/ and nbgrader_config.py into it"
        )
    return out


def _write_config(out: Path, text: str, force: bool) -> None:
    """Write ``nbgrader_config.py`` unless the instructor changed the one labkit wrote last."""
    marker, config = out / NBGRADER_MARKER, out / "nbgrader_config.py"
    try:
        written = json.loads(marker.read_text()).get("nbgrader_config_sha256")
    except (FileNotFoundError, json.JSONDecodeError, AttributeError):
        written = None
    if config.exists() and not force and _sha256(config.read_bytes()) != written:
        print(f"labkit: kept {config}: it was changed after labkit wrote it", file=sys.stderr)
        return
    atomic_write(config, lambda fh: fh.write(text.encode()))
    record = {
        "written_by": "labkit course build --format nbgrader",
        "nbgrader_config_sha256": (_sha256(text.encode())),
    }
    atomic_write(marker, lambda fh: fh.write(json.dumps(record, indent=1).encode() + b"\n"))
