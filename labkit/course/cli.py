"""``labkit course build`` and ``labkit course book``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from labkit._io import OUTPUT_MARKER, check_output_folder
from labkit.course.config import load_course
from labkit.course.versions import build_course

__all__ = ["add_course_parser"]

_FORCE = "replace --out even if it exists and labkit did not write it"


def _cmd_build(args: argparse.Namespace) -> int:
    if args.format == "nbgrader":
        from labkit.course.nbgrader import build_nbgrader, check_nbgrader_folder

        check_nbgrader_folder(args.out, force=args.force, argument="--out")
        config = load_course(args.config)
        graded = build_nbgrader(config, args.out, force=args.force)
        for assignment, names in graded.assignments.items():
            print(f"{assignment}: {', '.join(names)}", file=sys.stderr)
        print(
            f"nbgrader course -> {graded.root}/ (source/, nbgrader_config.py); next, there: "
            f"nbgrader generate_assignment {next(iter(graded.assignments))}",
            file=sys.stderr,
        )
        return 0
    check_output_folder(args.out, force=args.force, argument="--out")
    config = load_course(args.config)
    build = build_course(config, args.out, force=args.force)
    n_ex = sum(len(v) for v in build.exercises.values())
    print(
        f"{len(build.notebooks)} notebooks, {n_ex} exercises -> {build.root}/"
        "{student,instructor,solutions}",
        file=sys.stderr,
    )
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    from labkit.course.book import build_book
    from labkit.notebooks import run_notebook

    out = check_output_folder(args.out, force=args.force, argument="--out")
    config = load_course(args.config)
    out.mkdir(parents=True, exist_ok=True)
    (out / OUTPUT_MARKER).write_text("This folder was written by labkit course book.\n")
    build = build_course(config, out / "course", force=args.force)
    executed = Path(args.executed) if args.executed else out / "executed"
    if not args.executed:
        # Figures drawn into Output widgets are kept in the saved widget state (the book shows
        # them in place of the widget) only with Jupyter's own inline backend, not with Agg.
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        # pyvista scenes are exported for the book's vtk.js viewer, not left to a trame server.
        os.environ["LABKIT_BOOK"] = "1"
        for i, entry in enumerate(config.notebooks, 1):
            print(f"[{i}/{len(config.notebooks)}] executing {entry.name}", file=sys.stderr)
            run_notebook(
                build.root / "instructor" / f"{entry.name}.ipynb",
                smoke=args.smoke,
                out_dir=executed,
                progress=True,
            )
    index = build_book(executed, out / "html", config, build.root / "student", force=args.force)
    print(f"book -> {index}", file=sys.stderr)
    return 0


def add_course_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``course build`` and ``course book`` to the ``labkit`` command."""
    course = sub.add_parser("course", help="student/instructor versions and the course book")
    csub = course.add_subparsers(dest="course_command", required=True)

    p = csub.add_parser("build", help="write student, instructor and solution files")
    p.add_argument("--out", default="course", help="output folder (default: course/)")
    p.add_argument("--config", default=None, help="course file (TOML); default: every notebook")
    p.add_argument("--force", action="store_true", help=_FORCE)
    p.add_argument(
        "--format",
        choices=("labkit", "nbgrader"),
        default="labkit",
        help="labkit: student/instructor/solutions; nbgrader: an nbgrader course (source/)",
    )
    p.set_defaults(func=_cmd_build)

    p = csub.add_parser("book", help="execute the notebooks and build the course website")
    p.add_argument("--out", default="_book", help="output folder (default: _book/)")
    p.add_argument("--config", default=None, help="course file (TOML); default: every notebook")
    p.add_argument("--executed", default=None, help="use notebooks already executed here")
    p.add_argument("--smoke", action="store_true", help="execute in smoke mode")
    p.add_argument("--force", action="store_true", help=_FORCE)
    p.set_defaults(func=_cmd_book)
