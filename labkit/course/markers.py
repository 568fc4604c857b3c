"""Solution markers in notebook cells and the student stubs that replace them.

Examples
--------
>>> src = '''def double(x):
...     # BEGIN SOLUTION
...     return 2 * x
...     # END SOLUTION'''
>>> print(student_source(src, "Exercise double: multiply by two."))
def double(x):
    raise NotImplementedError('Exercise double: multiply by two.')
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from labkit.course.config import CourseError

__all__ = ["BEGIN", "END", "Exercise", "find_exercises", "instructor_source", "student_source"]

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
_BEGIN_RE = re.compile(r"^(\s*)# BEGIN SOLUTION\s*$")
_END_RE = re.compile(r"^\s*# END SOLUTION\s*$")


@dataclass
class Exercise:
    """One exercise cell of a notebook."""

    notebook: str
    id: str
    hint: str
    cell_index: int
    solution: str

    @property
    def message(self) -> str:
        """What the student stub raises."""
        return f"Exercise {self.id}: {self.hint}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _blocks(source: str) -> list[tuple[int, int, str]]:
    """(begin line, end line, indentation) of each solution block; checks they are balanced."""
    blocks, start, indent = [], None, ""
    for i, line in enumerate(source.splitlines()):
        match = _BEGIN_RE.match(line)
        if match:
            if start is not None:
                raise CourseError(f"line {i + 1}: '{BEGIN}' inside another solution block")
            start, indent = i, match.group(1)
        elif _END_RE.match(line):
            if start is None:
                raise CourseError(f"line {i + 1}: '{END}' without a '{BEGIN}'")
            blocks.append((start, i, indent))
            start = None
    if start is not None:
        raise CourseError(f"line {start + 1}: '{BEGIN}' is never closed by '{END}'")
    return blocks


def student_source(source: str, message: str) -> str:
    """Replace every solution block in ``source`` by ``raise NotImplementedError(message)``."""
    lines = source.splitlines()
    blocks = _blocks(source)
    if not blocks:
        raise CourseError("the cell has no solution block")
    for begin, end, indent in reversed(blocks):
        lines[begin : end + 1] = [f"{indent}raise NotImplementedError({message!r})"]
    return "\n".join(lines)


def instructor_source(source: str) -> str:
    """The source with the marker lines removed and the solution kept."""
    _blocks(source)
    return "\n".join(
        ln for ln in source.splitlines() if not (_BEGIN_RE.match(ln) or _END_RE.match(ln))
    )


def find_exercises(nb: Any, notebook: str = "") -> list[Exercise]:
    """The exercises of a notebook (an ``nbformat`` node), in cell order.

    Raises
    ------
    CourseError
        When an exercise cell lacks its id or hint, has no solution block, or ids repeat.
    """
    found: list[Exercise] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "exercise" not in cell.metadata.get("tags", []):
            continue
        meta = cell.metadata.get("exercise", {})
        where = f"{notebook or 'notebook'} cell {index}"
        if not meta.get("id") or not meta.get("hint"):
            raise CourseError(f"{where}: an exercise cell needs metadata exercise.id and .hint")
        if not _blocks(cell.source):
            raise CourseError(f"{where}: exercise {meta['id']!r} has no '{BEGIN}' block")
        found.append(Exercise(notebook, meta["id"], meta["hint"], index, cell.source))
    ids = [e.id for e in found]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise CourseError(f"{notebook or 'notebook'}: exercise ids repeat: {repeated}")
    return found
