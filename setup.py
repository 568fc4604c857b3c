"""Ship the lab inside the package: ``notebooks/`` and ``course.toml`` go into the wheel.

The notebooks stay at the repository root (their one source); building copies them to
``labkit/_lab/`` in the build folder, so ``pip install labkit`` brings a lab that
``labkit list``, ``labkit run`` and ``labkit notebooks copy`` find. Editable installs read
them from the checkout instead. Everything else is declared in ``pyproject.toml``.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def lab_files() -> list[tuple[Path, str]]:
    """(source, path inside the package) for every file of the lab that the wheel ships."""
    files = [(ROOT / "course.toml", "course.toml")]
    for path in sorted((ROOT / "notebooks").rglob("*")):
        rel = path.relative_to(ROOT)
        if path.is_file() and not any(p.startswith(".") for p in rel.parts):
            files.append((path, rel.as_posix()))
    return files


class BuildPyWithLab(build_py):
    """``build_py`` that also copies the notebooks and the course file into ``labkit/_lab``."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for source, rel in lab_files():
            target = Path(self.build_lib) / "labkit" / "_lab" / rel
            self.mkpath(str(target.parent))
            self.copy_file(str(source), str(target))

    def get_outputs(self, include_bytecode=True):
        lab = [
            str(Path(self.build_lib) / "labkit" / "_lab" / rel)
            for _, rel in (lab_files() if not getattr(self, "editable_mode", False) else [])
        ]
        return super().get_outputs(include_bytecode) + lab


setup(cmdclass={"build_py": BuildPyWithLab})
