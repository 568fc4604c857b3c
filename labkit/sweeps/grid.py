"""The parameter grid of a sweep: values from the command line, their product or their zip.

Examples
--------
>>> split_values("16,32,64")
['16', '32', '64']
>>> split_values("[1, 2],[3],'a,b'")
['[1, 2]', '[3]', "'a,b'"]
>>> expand_grid({"n": [16, 32], "seed": [0, 1]})
[{'n': 16, 'seed': 0}, {'n': 16, 'seed': 1}, {'n': 32, 'seed': 0}, {'n': 32, 'seed': 1}]
>>> expand_grid({"n": [16, 32], "lr": [0.1, 0.01]}, zipped=True)
[{'n': 16, 'lr': 0.1}, {'n': 32, 'lr': 0.01}]
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from labkit.notebooks import NotebookError, parse_parameter

__all__ = ["check_grid", "expand_grid", "parse_values", "plain", "split_values"]

_CLOSE = {"(": ")", "[": "]", "{": "}"}


def split_values(text: str) -> list[str]:
    """Split ``V1,V2,...`` at the commas that are not inside brackets or quotes."""
    items, depth, quote, start = [], [], None, 0
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in _CLOSE:
            depth.append(_CLOSE[char])
        elif depth and char == depth[-1]:
            depth.pop()
        elif char == "," and not depth:
            items.append(text[start:i].strip())
            start = i + 1
    items.append(text[start:].strip())
    return items


def parse_values(name: str, text: str, default: Any) -> list[Any]:
    """Parse the value list ``V1,V2,...`` of parameter ``name``, each like ``labkit run -p``.

    Raises
    ------
    ValueError
        When the list or one of its items is empty, or an item cannot be parsed.
    """
    items = split_values(text)
    if not text.strip() or any(item == "" for item in items):
        raise ValueError(
            f"parameter {name!r} has an empty value in {text!r}; give V1,V2,... with no empty item"
        )
    try:
        return [parse_parameter(name, item, default) for item in items]
    except NotebookError as exc:
        raise ValueError(str(exc)) from None


def plain(value: Any) -> Any:
    """numpy scalars and arrays as plain Python, so that values hash and serialise the same."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


def check_grid(
    grid: Mapping[str, Any], declared: Iterable[str], notebook: str, *, zipped: bool = False
) -> dict[str, list[Any]]:
    """Return ``grid`` as ``name -> list of plain values``, refusing what cannot be swept.

    Raises
    ------
    TypeError
        When ``grid`` is not a mapping or a value list is a string or a scalar.
    ValueError
        When a name is not declared in the notebook's parameters cell, a list is empty, or
        ``zipped`` lists differ in length.
    """
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid must be a mapping name -> list of values, got {type(grid).__name__}")
    declared = set(declared)
    checked: dict[str, list[Any]] = {}
    for name, values in grid.items():
        if name not in declared:
            raise ValueError(
                f"{notebook} does not declare parameter {name!r}; "
                f"declared: {', '.join(sorted(declared))}"
            )
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError(
                f"grid[{name!r}] must be a list of values, got {type(values).__name__}; "
                f"write [{values!r}] for one value"
            )
        values = [plain(v) for v in values]
        if not values:
            raise ValueError(f"grid[{name!r}] is an empty list of values; give at least one")
        checked[str(name)] = values
    if zipped and len({len(v) for v in checked.values()}) > 1:
        lengths = ", ".join(f"{k}: {len(v)}" for k, v in checked.items())
        raise ValueError(f"zipped value lists must have equal lengths, got {lengths}")
    return checked


def expand_grid(grid: Mapping[str, list[Any]], *, zipped: bool = False) -> list[dict[str, Any]]:
    """The runs of a grid: the Cartesian product of its value lists (the last varies fastest),
    or their element-wise zip."""
    names = list(grid)
    combos = zip(*grid.values(), strict=True) if zipped else itertools.product(*grid.values())
    return [dict(zip(names, combo, strict=True)) for combo in combos]
