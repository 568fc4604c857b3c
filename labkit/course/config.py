"""The course file: which notebooks, which exercises and which parameter presets make a course.

.. code-block:: toml

    [course]
    title = "Scientific machine learning with labkit"
    binder_url = "https://mybinder.org/v2/gh/OWNER/labkit/HEAD"

    [[notebooks]]
    name = "00_tour"
    exercises = "all"          # or a list of exercise ids; the others stay solved

    [[notebooks]]
    name = "02_fno_darcy"
    exercises = ["mode_truncation"]
    parameters = { epochs = 20 }   # preset written into the parameters cell
    assignment = "ps2"             # nbgrader: the assignment it belongs to (default: its name)
    points = { mode_truncation = 3 }   # nbgrader: points per exercise (or one number; default 1)

Examples
--------
>>> cfg = CourseConfig.from_dict({"course": {"title": "Demo"}, "notebooks": [{"name": "00_tour"}]})
>>> cfg.notebooks[0].exercises
'all'
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.notebooks import list_notebooks

__all__ = ["CourseConfig", "CourseError", "CourseNotebook", "load_course"]

DEFAULT_BINDER = "https://mybinder.org/v2/gh/labkit-dev/labkit/HEAD"
_ASSIGNMENT = re.compile(r"[A-Za-z0-9_-]+")


class CourseError(ValueError):
    """A course file, an exercise marker or a preset is wrong; the message says where."""


@dataclass
class CourseNotebook:
    """One notebook of a course."""

    name: str
    exercises: str | list[str] = "all"
    parameters: dict[str, Any] = field(default_factory=dict)
    assignment: str | None = None
    points: float | dict[str, float] = 1

    def includes(self, exercise_id: str) -> bool:
        return self.exercises == "all" or exercise_id in self.exercises

    def points_for(self, exercise_id: str) -> float:
        """Points of one exercise in an nbgrader course (the course file's ``points``)."""
        if isinstance(self.points, dict):
            return self.points.get(exercise_id, 1)
        return self.points


@dataclass
class CourseConfig:
    """A course: a title, a Binder address and the notebooks in order."""

    title: str
    notebooks: list[CourseNotebook]
    binder_url: str = DEFAULT_BINDER

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "course") -> CourseConfig:
        course = data.get("course", {})
        if not isinstance(course, dict):
            raise CourseError(f"{source}: [course] must be a table")
        unknown = set(data) - {"course", "notebooks"}
        if unknown:
            raise CourseError(f"{source}: unknown section(s) {sorted(unknown)}")
        entries = data.get("notebooks")
        if not isinstance(entries, list) or not entries:
            raise CourseError(f"{source}: [[notebooks]] must list at least one notebook")
        notebooks = []
        for i, entry in enumerate(entries):
            where = f"{source}: notebooks[{i}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise CourseError(f"{where} needs a name")
            bad = set(entry) - {"name", "exercises", "parameters", "assignment", "points"}
            if bad:
                raise CourseError(f"{where}: unknown key(s) {sorted(bad)}")
            exercises = entry.get("exercises", "all")
            if exercises != "all" and not (
                isinstance(exercises, list) and all(isinstance(e, str) for e in exercises)
            ):
                raise CourseError(f'{where}: exercises must be "all" or a list of ids')
            parameters = entry.get("parameters", {})
            if not isinstance(parameters, dict):
                raise CourseError(f"{where}: parameters must be a table")
            if any(nb.name == entry["name"] for nb in notebooks):
                raise CourseError(f"{where}: notebook {entry['name']!r} is listed twice")
            assignment = entry.get("assignment")
            if assignment is not None and not (
                isinstance(assignment, str) and _ASSIGNMENT.fullmatch(assignment)
            ):
                raise CourseError(
                    f"{where}: assignment must be a name of letters, digits, '_' or '-', "
                    f"got {assignment!r}"
                )
            points = entry.get("points", 1)
            values = points.values() if isinstance(points, dict) else [points]
            if not all(
                isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in values
            ):
                raise CourseError(
                    f"{where}: points must be a positive number or a table of exercise = number"
                )
            notebooks.append(
                CourseNotebook(entry["name"], exercises, parameters, assignment, points)
            )
        return cls(
            title=str(course.get("title", "labkit course")),
            notebooks=notebooks,
            binder_url=str(course.get("binder_url", DEFAULT_BINDER)),
        )

    @classmethod
    def everything(cls) -> CourseConfig:
        """All notebooks of the lab, all exercises, default parameters."""
        return cls("labkit", [CourseNotebook(p.stem) for p in list_notebooks()])


def load_course(path: str | os.PathLike | None = None) -> CourseConfig:
    """Read a course file; with no path, the whole lab."""
    if path is None:
        return CourseConfig.everything()
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"course file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise CourseError(f"course file {path.name} is not valid TOML: {exc}") from None
    return CourseConfig.from_dict(data, source=path.name)
