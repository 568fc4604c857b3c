"""Output folders: labkit replaces only what it wrote, atomically; a failed build keeps the old."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from labkit._io import OUTPUT_MARKER, OutputFolderError, check_output_folder, replace_folder
from labkit.cli import main
from labkit.course import CourseConfig, CourseError, build_course


def _tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file below ``root``."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("labkit: error: --out ")
    return err[0]


TOUR = CourseConfig.from_dict({"notebooks": [{"name": "00_tour"}]})


@pytest.mark.parametrize("command", ["build", "book"])
def test_a_folder_labkit_did_not_write_survives(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("four years of work")
    args = ["course", command, "--out", "mine"]
    if command == "book":
        args += ["--executed", str(tmp_path / "nowhere")]
    assert main(args) == 2
    line = _error_line(capsys)
    assert "was not written by labkit" in line and "--force" in line
    assert _tree(mine) == {"thesis.tex": hashlib.sha256(b"four years of work").hexdigest()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"], "no stray temporary folder"


@pytest.mark.parametrize("command", ["build", "book"])
@pytest.mark.parametrize("target", [".", "..", "afile", "afile/below"])
def test_current_folder_and_files_are_refused(command, target, tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "afile").write_text("keep")
    args = ["course", command, "--out", target]
    if command == "book":
        args += ["--executed", str(tmp_path / "nowhere")]
    assert main(args) == 2
    line = _error_line(capsys)
    assert repr(target) in line
    assert (work / "afile").read_text() == "keep"


def test_force_replaces_and_labkit_output_is_replaced(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("x")
    assert main(["course", "build", "--out", "out", "--force"]) == 0
    built = _tree(tmp_path / "out")
    assert "old.txt" not in built and "student/00_tour.ipynb" in built
    assert OUTPUT_MARKER in built
    # labkit wrote it: a second build replaces it without --force, stale files included
    (tmp_path / "out" / "student" / "stale.ipynb").write_text("{}")
    assert main(["course", "build", "--out", "out"]) == 0
    assert _tree(tmp_path / "out") == built
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failed_build_leaves_the_old_output_whole(tmp_path):
    out = tmp_path / "course"
    build_course(TOUR, out)
    before = _tree(out)
    bad = CourseConfig.from_dict(
        {"notebooks": [{"name": "00_tour"}, {"name": "00_tour_missing_notebook"}]}
    )
    with pytest.raises(Exception, match="00_tour_missing_notebook"):
        build_course(bad, out)
    assert _tree(out) == before
    preset = CourseConfig.from_dict({"notebooks": [{"name": "00_tour", "parameters": {"zz": 1}}]})
    with pytest.raises(CourseError, match="'zz' is not a parameter"):
        build_course(preset, out)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course"], "temporary folders removed"


def test_replace_folder_swaps_whole_folders(tmp_path):
    target = tmp_path / "site"

    def write(text):
        return lambda tmp: (tmp / "page.html").write_text(text)

    replace_folder(target, write("one"))
    assert (target / "page.html").read_text() == "one"
    replace_folder(target, write("two"))
    assert (target / "page.html").read_text() == "two"

    def half_then_fail(tmp):
        (tmp / "page.html").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        replace_folder(target, half_then_fail)
    assert (target / "page.html").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]
    (tmp_path / "empty").mkdir()
    replace_folder(tmp_path / "empty", write("three"))  # an empty folder holds nothing to lose
    assert (tmp_path / "empty" / "page.html").read_text() == "three"
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(OutputFolderError, match="out_dir .* symbolic link"):
        check_output_folder(link)


def test_without_renameat2_the_two_renames_keep_the_old_folder_on_failure(tmp_path, monkeypatch):
    """The fallback of platforms without an atomic exchange: the old folder is moved aside, the
    new one moved in, the old removed; if moving the new one in fails, the old is put back."""
    import os

    import labkit._io as io

    monkeypatch.setattr(io, "_exchange", lambda a, b: False)
    target = tmp_path / "site"
    replace_folder(target, lambda tmp: (tmp / "page.html").write_text("one"))
    replace_folder(target, lambda tmp: (tmp / "page.html").write_text("two"))
    assert (target / "page.html").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"], "no .old/.new left"

    real_replace = os.replace

    def fail_moving_new_in(src, dst):
        if ".new-" in str(src):
            raise OSError("disk gone")
        return real_replace(src, dst)

    monkeypatch.setattr(io.os, "replace", fail_moving_new_in)
    with pytest.raises(OSError, match="disk gone"):
        replace_folder(target, lambda tmp: (tmp / "page.html").write_text("three"))
    monkeypatch.setattr(io.os, "replace", real_replace)
    assert (target / "page.html").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".site.old-")) == [
        "site"
    ]
