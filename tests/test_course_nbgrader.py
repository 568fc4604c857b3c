"""``labkit course build --format nbgrader``, checked by nbgrader's own commands as a real client.

One small course (notebook 00_tour in smoke mode as assignment ps1, 3 and 2 points): nbgrader
generate_assignment releases exactly labkit's student version; nbgrader autograde gives full
marks to the reference solutions and zero on exactly the exercise left as a stub; nbgrader
validate passes on the source; a rebuild leaves nbgrader's gradebook and folders alone.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from labkit.cli import main
from labkit.course import CourseConfig, CourseError, build_course, load_course
from labkit.course.markers import instructor_source
from labkit.course.nbgrader import build_nbgrader, split_check_cell

COURSE = """\
[course]
title = "Darcy & friends 2026"
[[notebooks]]
name = "00_tour"
assignment = "ps1"
points = { poisson_fft = 3, mesh_area = 2 }
parameters = { smoke = true }
"""
POINTS = {"poisson_fft": 3, "mesh_area": 2}

nbgrader_api = pytest.importorskip("nbgrader.api")


def nbgrader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [sys.executable, "-m", "nbgrader", *args]
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"nbgrader {args} failed:\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("nbgrader")
    (base / "course.toml").write_text(COURSE)
    assert main(["course", "build", "--format", "nbgrader", "--config",
                 str(base / "course.toml"), "--out", str(base / "course")]) == 0  # fmt: skip
    return base / "course"


@pytest.fixture(scope="module")
def released(course) -> Path:
    nbgrader("generate_assignment", "ps1", cwd=course)
    return course / "release" / "ps1" / "00_tour.ipynb"


def _rejoined(nb) -> list[tuple[str, str]]:
    """(cell type, source) of each cell, the split rest of a check cell joined back to it."""
    cells: list[tuple[str, str]] = []
    for cell in nb.cells:
        if "rest_of" in cell.metadata.get("labkit", {}):
            kind, head = cells.pop()
            cells.append((kind, f"{head}\n{cell.source}"))
        else:
            cells.append((cell.cell_type, cell.source))
    return cells


def test_generate_assignment_releases_labkit_student_version(course, released, tmp_path):
    config = load_course(course.parent / "course.toml")
    student = build_course(config, tmp_path / "labkit").root / "student" / "00_tour.ipynb"
    ours = [(c.cell_type, c.source) for c in nbformat.read(student, as_version=4).cells]
    release = nbformat.read(released, as_version=4)
    assert _rejoined(release) == ours
    grades = {
        c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
        for c in release.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }
    assert grades == {f"{k}_check": v for k, v in POINTS.items()}
    stubs = [c.source for c in release.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(stubs) == 2 and all("raise NotImplementedError('Exercise " in s for s in stubs)
    assert all("BEGIN SOLUTION" not in s for _, s in ours)


def _submit(course: Path, released: Path, student: str, stubs: set[str]) -> None:
    """A submission: the release with the reference solution pasted into each exercise cell
    except ``stubs``."""
    source = nbformat.read(course / "source" / "ps1" / "00_tour.ipynb", as_version=4)
    solutions = {
        c.metadata["nbgrader"]["grade_id"]: instructor_source(c.source)
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    nb = nbformat.read(released, as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta["grade_id"] not in stubs:
            cell.source = solutions[meta["grade_id"]]
    folder = course / "submitted" / student / "ps1"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "00_tour.ipynb")


@pytest.fixture(scope="module")
def graded(course, released) -> dict[str, dict[str, tuple[float, float]]]:
    _submit(course, released, "reference", set())
    _submit(course, released, "one_stub", {"poisson_fft"})
    nbgrader("autograde", "ps1", "--create", cwd=course)
    scores = {}
    with nbgrader_api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in ("reference", "one_stub"):
            nb = gb.find_submission_notebook("00_tour", "ps1", student)
            scores[student] = {g.name: (g.score, g.max_score) for g in nb.grades}
    return scores


def test_autograde_full_marks_for_solutions_zero_on_exactly_the_stubs(graded):
    assert graded["reference"] == {f"{k}_check": (v, v) for k, v in POINTS.items()}
    assert graded["one_stub"] == {"poisson_fft_check": (0, 3), "mesh_area_check": (2, 2)}


def test_validate_passes_on_the_source(course):
    out = nbgrader("validate", str(course / "source" / "ps1" / "00_tour.ipynb"), cwd=course)
    assert "Success! Your notebook passes all the tests." in out.stdout


def test_rebuild_keeps_nbgrader_files_and_an_edited_config(course, graded, capsys):
    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    kept = [course / "gradebook.db", *sorted((course / "autograded").rglob("*.ipynb"))]
    before = {p: digest(p) for p in kept}
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text() + "c.Execute.timeout = 60  # the instructor's\n")
    edited = config.read_text()
    args = ["course", "build", "--format", "nbgrader", "--out", str(course),
            "--config", str(course.parent / "course.toml")]  # fmt: skip
    assert main(args) == 0
    assert {p: digest(p) for p in kept} == before
    assert config.read_text() == edited
    assert "kept" in capsys.readouterr().err
    assert (course / "source" / "ps1" / "00_tour.ipynb").is_file()
    # another labkit command never takes the nbgrader course for its own output
    assert main(["course", "build", "--out", str(course)]) == 2


def test_course_file_errors_for_nbgrader(tmp_path):
    bad = CourseConfig.from_dict({"notebooks": [{"name": "00_tour", "points": {"nope": 2}}]})
    with pytest.raises(CourseError, match=r"points given for unknown exercise\(s\) \['nope'\]"):
        build_nbgrader(bad, tmp_path / "a")
    with pytest.raises(CourseError, match="assignment must be a name"):
        CourseConfig.from_dict({"notebooks": [{"name": "00_tour", "assignment": "ps 1"}]})
    with pytest.raises(CourseError, match="points must be a positive number"):
        CourseConfig.from_dict({"notebooks": [{"name": "00_tour", "points": 0}]})
    assert not (tmp_path / "a" / "source").exists()


def test_split_check_cell_keeps_every_line():
    src = "x = 1\ncheck_close(\n    x, 1\n)\nrecord('x', x)\n\nplot(x)"
    head, rest = split_check_cell(src)
    assert head == "x = 1\ncheck_close(\n    x, 1\n)" and rest == "record('x', x)\n\nplot(x)"
    assert f"{head}\n{rest}" == src
    assert split_check_cell("y = exercises.check_shape(a, (2,))") == (
        "y = exercises.check_shape(a, (2,))",
        "",
    )
