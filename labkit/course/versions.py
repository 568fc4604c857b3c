"""Student and instructor versions of the course notebooks, and the solutions as ``.py`` files.

Examples
--------
>>> import tempfile
>>> from labkit.course import load_course
>>> out = build_course(load_course(), tempfile.mkdtemp())
>>> (out.root / "student" / "00_tour.ipynb").exists()
True
"""

from __future__ import annotations

import ast
import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from labkit._io import check_output_folder, replace_folder
from labkit.course.config import CourseConfig, CourseError
from labkit.course.markers import Exercise, find_exercises, instructor_source, student_source
from labkit.notebooks import declared_parameters, find_notebook

__all__ = ["CourseBuild", "apply_presets", "build_course", "chosen_exercises"]


@dataclass
class CourseBuild:
    """Where a built course lies and what it holds."""

    root: Path
    notebooks: list[str]
    exercises: dict[str, list[Exercise]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "notebooks": self.notebooks,
            "exercises": {k: [e.to_dict() for e in v] for k, v in self.exercises.items()},
        }


def apply_presets(nb: Any, presets: dict[str, Any], name: str) -> None:
    """Rewrite the assignments of the ``parameters`` cell with the course's preset values."""
    if not presets:
        return
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    lines = cell.source.splitlines()
    spans = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            spans[node.targets[0].id] = (node.lineno - 1, node.end_lineno)
    for key, value in sorted(presets.items(), key=lambda kv: -spans.get(kv[0], (0, 0))[0]):
        if key not in spans:
            raise CourseError(f"course preset {key!r} is not a parameter of {name}")
        start, end = spans[key]
        lines[start:end] = [f"{key} = {value!r}  # course preset"]
    cell.source = "\n".join(lines)


def chosen_exercises(nb: Any, config_entry: Any, name: str) -> list[Exercise]:
    """The exercises of ``nb`` that the course file's entry leaves open, in cell order."""
    found = find_exercises(nb, name)
    exercises = [e for e in found if config_entry.includes(e.id)]
    unknown = (
        set()
        if config_entry.exercises == "all"
        else set(config_entry.exercises) - {e.id for e in found}
    )
    if unknown:
        raise CourseError(f"{name} has no exercise(s) {sorted(unknown)}")
    return exercises


def _versions(nb: Any, config_entry: Any, name: str) -> tuple[Any, Any, list[Exercise]]:
    exercises = chosen_exercises(nb, config_entry, name)
    chosen = {e.cell_index: e for e in exercises}
    student, instructor = copy.deepcopy(nb), copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "exercise" not in cell.metadata.get("tags", []):
            continue
        instructor.cells[index].source = instructor_source(cell.source)
        if index in chosen:
            student.cells[index].source = student_source(cell.source, chosen[index].message)
        else:
            student.cells[index].source = instructor_source(cell.source)
    return student, instructor, exercises


def build_course(
    config: CourseConfig, out_dir: str | os.PathLike, *, force: bool = False
) -> CourseBuild:
    """Write ``student/``, ``instructor/`` and ``solutions/`` for every notebook of ``config``.

    The folder is built beside ``out_dir`` and swapped in (:func:`labkit._io.replace_folder`), so
    a failed build leaves the previous one whole; an existing folder that labkit did not write is
    refused unless ``force``.
    """
    out = check_output_folder(out_dir, force=force)
    build = CourseBuild(out, [])

    def write(tmp: Path) -> None:
        for sub in ("student", "instructor", "solutions"):
            (tmp / sub).mkdir()
        for entry in config.notebooks:
            path = find_notebook(entry.name)
            name = path.stem
            declared_parameters(path)  # fails early without a parameters cell
            nb = nbformat.read(path, as_version=4)
            apply_presets(nb, entry.parameters, name)
            student, instructor, exercises = _versions(nb, entry, name)
            nbformat.write(student, tmp / "student" / f"{name}.ipynb")
            nbformat.write(instructor, tmp / "instructor" / f"{name}.ipynb")
            for ex in exercises:
                text = (
                    f"# Solution to exercise {ex.id} of {name}\n{instructor_source(ex.solution)}\n"
                )
                (tmp / "solutions" / f"{name}__{ex.id}.py").write_text(text)
            build.notebooks.append(name)
            build.exercises[name] = exercises
        manifest = {"title": config.title, **build.to_dict()}
        (tmp / "course.json").write_text(json.dumps(manifest, indent=2) + "\n")

    replace_folder(out, write, force=force)
    return build
