"""The course kit: friendly checks, solution markers, student/instructor versions, the book."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell

from labkit.course import CourseConfig, CourseError, build_course, load_course, student_source
from labkit.course.exercises import (
    ExerciseCheckFailed,
    check_close,
    check_conserved,
    check_shape,
)
from labkit.course.markers import instructor_source
from labkit.notebooks import list_notebooks, notebook_dir

COURSE_FILE = notebook_dir().parent / "course.toml"


@pytest.mark.parametrize(
    "answer, message",
    [
        (3 * np.arange(1.0, 5.0), "off by a factor of 3"),
        (-np.arange(1.0, 5.0), "wrong sign"),
        (np.arange(1.0, 5.0) + 0.5, "off by a constant 0.5"),
        (np.arange(1.0, 5.0)[None], "has shape (1, 4), expected (4,)"),
        (None, "forget to return"),
        (np.array([1.0, 2.0, np.nan, 4.0]), "NaN"),
        (np.array([1.0, 2.0, 3.0, 4.5]), "up to 0.5 at index (3,)"),
    ],
)
def test_check_close_says_what_is_wrong(answer, message):
    with pytest.raises(ExerciseCheckFailed) as info:
        check_close(answer, np.arange(1.0, 5.0), name="u")
    assert message in str(info.value)
    assert len(str(info.value).splitlines()) == 1
    assert info.value._render_traceback_()[0].count("\n") == 0, "Jupyter shows one line"


def test_labkit_check_is_a_deprecated_alias_of_course_exercises():
    import importlib
    import sys

    sys.modules.pop("labkit.check", None)
    moved = r"labkit\.check moved to labkit\.course\.exercises"
    with pytest.warns(DeprecationWarning, match=moved):
        old = importlib.import_module("labkit.check")
    assert (old.check_close, old.ExerciseCheckFailed) == (check_close, ExerciseCheckFailed)


def test_checks_pass_on_right_answers(capsys):
    assert check_close(np.arange(4.0) + 1e-12, np.arange(4.0), name="u")
    assert check_shape(np.zeros((2, 3)), (2, 3))
    assert check_conserved(10.0, 10.0 + 1e-12, name="carbon")
    assert capsys.readouterr().out.count("✓") == 3
    with pytest.raises(ExerciseCheckFailed, match="not conserved"):
        check_conserved(10.0, 10.1, name="carbon")
    with pytest.raises(ExerciseCheckFailed, match="another order"):
        check_shape(np.zeros((3, 2)), (2, 3))


def test_markers_make_stubs_and_refuse_unbalanced_blocks():
    src = "def f(x):\n    y = 1\n    # BEGIN SOLUTION\n    y = 2 * x\n    # END SOLUTION\n"
    src += "    return y"
    stub = student_source(src, "Exercise f: double it")
    namespace: dict = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError, match="Exercise f: double it"):
        namespace["f"](3)
    exec(instructor_source(src), namespace)
    assert namespace["f"](3) == 6
    with pytest.raises(CourseError, match="never closed"):
        student_source("# BEGIN SOLUTION\nx = 1", "m")
    with pytest.raises(CourseError, match="without"):
        student_source("x = 1\n# END SOLUTION", "m")


def test_course_file_errors_name_the_problem(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text('[[notebooks]]\nname = "00_tour"\nexercize = "all"\n')
    with pytest.raises(CourseError, match=r"notebooks\[0\]: unknown key\(s\) \['exercize'\]"):
        load_course(bad)
    twice = {"notebooks": [{"name": "00_tour"}, {"name": "00_tour"}]}
    with pytest.raises(CourseError, match="listed twice"):
        CourseConfig.from_dict(twice)
    with pytest.raises(CourseError, match="does not exist"):
        load_course(tmp_path / "missing.toml")
    cfg = CourseConfig.from_dict({"notebooks": [{"name": "00_tour", "parameters": {"nn": 3}}]})
    with pytest.raises(CourseError, match="'nn' is not a parameter of 00_tour"):
        build_course(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists(), "a failed build writes nothing"
    cfg = CourseConfig.from_dict({"notebooks": [{"name": "00_tour", "exercises": ["nope"]}]})
    with pytest.raises(CourseError, match="no exercise"):
        build_course(cfg, tmp_path / "out")


def test_course_build_honours_the_course_file(tmp_path):
    cfg_file = tmp_path / "course.toml"
    cfg_file.write_text(
        '[course]\ntitle = "T"\n[[notebooks]]\nname = "00_tour"\nexercises = ["mesh_area"]\n'
        "parameters = { n = 128 }\n"
    )
    build = build_course(load_course(cfg_file), tmp_path / "course")
    student = nbformat.read(tmp_path / "course" / "student" / "00_tour.ipynb", as_version=4)
    text = "\n".join(c.source for c in student.cells)
    assert "raise NotImplementedError('Exercise mesh_area:" in text
    assert "u_hat[1:] = f_hat[1:] / wavenumber[1:] ** 2" in text, "unselected stays solved"
    assert "# BEGIN SOLUTION" not in text
    assert "n = 128  # course preset" in text
    assert [e.id for e in build.exercises["00_tour"]] == ["mesh_area"]
    solution = (tmp_path / "course" / "solutions" / "00_tour__mesh_area.py").read_text()
    compile(solution, "solution", "exec")
    manifest = json.loads((tmp_path / "course" / "course.json").read_text())
    assert manifest["title"] == "T"


def _exercise_notebooks():
    cfg = load_course(COURSE_FILE)
    names = {e.name for e in cfg.notebooks}
    return [p for p in list_notebooks() if p.stem in names]


@pytest.fixture(scope="module")
def default_course(tmp_path_factory):
    return build_course(load_course(COURSE_FILE), tmp_path_factory.mktemp("c") / "course")


@pytest.mark.parametrize("path", _exercise_notebooks(), ids=lambda p: p.stem)
def test_student_version_fails_only_in_exercises_until_solved(path, default_course):
    """Run the student notebook cell by cell in smoke mode: each exercise raises its hint; pasting
    the reference solution into the cell makes it, and the check that follows, pass."""
    name = path.stem
    exercises = {e.cell_index: e for e in default_course.exercises[name]}
    assert len(exercises) >= 2, f"{name} needs at least two exercises"
    nb = nbformat.read(default_course.root / "student" / f"{name}.ipynb", as_version=4)
    params_at = next(
        i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])
    )
    nb.cells.insert(params_at + 1, new_code_cell("smoke = True"))
    client = NotebookClient(
        nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(path.parent)}}
    )
    seen, pending = [], []
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            exercise = exercises.get(index - (index > params_at))
            if exercise is not None:
                pending.append((index, exercise))
            try:
                client.execute_cell(cell, index)
                continue
            except CellExecutionError as exc:
                error = exc
            assert pending, f"{name} cell {index} failed outside any exercise: {error.evalue}"
            assert error.ename == "NotImplementedError", f"cell {index}: {error.ename}"
            ex_index, exercise = pending.pop(0)
            assert exercise.message in error.evalue
            solved = nb.cells[ex_index]
            solved.source, solved.outputs = instructor_source(exercise.solution), []
            client.execute_cell(solved, ex_index)
            cell.outputs = []
            client.execute_cell(cell, index)  # the check that follows now passes
            seen.append(exercise.id)
    assert not pending, f"exercises {[e.id for _, e in pending]} never raised their hint"
    assert sorted(seen) == sorted(e.id for e in exercises.values())
