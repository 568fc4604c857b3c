"""labkit's import graph, read from the source (the AST), never by importing it.

``imports()`` gives, for every module of the package, the labkit modules it imports and whether
each import runs when the module is imported (module level) or later (inside a function).
``room()`` names the room a module belongs to, as drawn in ``docs/ARCHITECTURE.md``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "labkit"


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported labkit module
    module_level: bool  # runs at import time (not inside a function, not under TYPE_CHECKING)
    line: int


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Module name -> file, for every ``.py`` file of the package."""
    files = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = path
    return files


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, module_level: bool):
    """Every import statement under ``node``, with whether it runs at import time."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, module_level
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _walk(child, False)
        elif isinstance(child, ast.If) and _is_type_checking(child):
            yield from _walk(child, False)
        else:  # class bodies, if/try/with blocks at module level run at import time
            yield from _walk(child, module_level)


def _resolve(source: str, is_package: bool, node: ast.AST, modules: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # a relative import
        parts = source.split(".") if is_package else source.split(".")[:-1]
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join(parts + ([node.module] if node.module else []))
    return [
        f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
        for alias in node.names
    ]


def imports(package: Path = PACKAGE) -> list[Import]:
    """Every import of a labkit module by a labkit module (self-imports left out)."""
    files = module_files(package)
    found = []
    for source, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node, module_level in _walk(tree, True):
            for target in _resolve(source, path.name == "__init__.py", node, set(files)):
                if target.split(".")[0] == "labkit" and target != source:
                    found.append(Import(source, target, module_level, node.lineno))
    return found


def cycles(edges: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


DOOR = {"labkit", "labkit.environment", "labkit.check"}


def room(module: str) -> str:
    """The room of a module, as in docs/ARCHITECTURE.md.

    ``labkit.X...`` is in room ``X``, except: the command line (``labkit.cli``,
    ``labkit.__main__`` and every room's ``cli.py``) is room ``cli``; ``labkit.workcopy`` (the
    working copy of the notebooks) is in ``notebooks``; ``labkit`` itself, ``labkit.setup``'s
    module and the ``labkit.check`` alias are the ``door``.
    """
    parts = module.split(".")
    if module in DOOR:
        return "door"
    if parts[-1] in ("cli", "__main__"):
        return "cli"
    if parts[1] == "workcopy":
        return "notebooks"
    return parts[1]


def external_imports(package: Path = PACKAGE) -> list[str]:
    """The non-labkit modules the package imports at module level (``from a import b`` gives
    ``a`` and ``a.b``, which may be a module or a name); sorted, ``__future__`` left out."""
    names = set()
    for path in module_files(package).values():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node, module_level in _walk(tree, True):
            if not module_level or getattr(node, "level", 0):
                continue
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return sorted(n for n in names if n.split(".")[0] not in ("labkit", "__future__"))
