"""nbgrader's ``ClearSolutions`` made to write labkit's stubs (needs nbgrader installed).

nbgrader replaces each solution block by one stub for the whole course (``# YOUR CODE HERE`` /
``raise NotImplementedError()``). labkit's student version raises each exercise's own hint
instead; :class:`LabkitClearSolutions` does the same inside ``nbgrader generate_assignment``, so
the release nbgrader makes equals labkit's student version. ``nbgrader_config.py`` written by
``labkit course build --format nbgrader`` puts it in place.
"""

from __future__ import annotations

from typing import Any

from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import ClearSolutions

from labkit.course.markers import Exercise

__all__ = ["LabkitClearSolutions", "generate_assignment_preprocessors"]


class LabkitClearSolutions(ClearSolutions):
    """``ClearSolutions`` whose stub in a labkit exercise cell raises that exercise's hint."""

    def preprocess_cell(self, cell: Any, resources: dict, cell_index: int) -> tuple[Any, dict]:
        meta = cell.metadata.get("exercise") if cell.cell_type == "code" else None
        if not meta:
            return super().preprocess_cell(cell, resources, cell_index)
        message = Exercise("", meta["id"], meta["hint"], cell_index, "").message
        saved = dict(self.code_stub)
        self.code_stub = {**saved, resources["language"]: f"raise NotImplementedError({message!r})"}
        try:
            return super().preprocess_cell(cell, resources, cell_index)
        finally:
            self.code_stub = saved


def generate_assignment_preprocessors() -> list[type]:
    """nbgrader's own ``generate_assignment`` steps, with :class:`LabkitClearSolutions`.

    Examples
    --------
    >>> steps = generate_assignment_preprocessors()
    >>> LabkitClearSolutions in steps and ClearSolutions not in steps
    True
    """
    default = GenerateAssignment().preprocessors
    return [LabkitClearSolutions if step is ClearSolutions else step for step in default]
