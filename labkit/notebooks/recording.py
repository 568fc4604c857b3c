"""Recording values inside a notebook, reading them back, and holding them to declared checks.

A notebook calls :func:`record` for each value a test should hold (an error against an exact
solution, an iteration count, ...). :func:`read_records` collects them from the executed
notebook; :func:`check_records` holds them to the notebook's ``metadata["labkit"]["checks"]``.

Examples
--------
>>> check_records({"err": 3e-7, "n": 12}, {"err": {"max": 1e-6}, "n": {"value": 12}})
[]
>>> check_records({"err": [1e-7, 2e-5]}, {"err": {"max": 1e-6}})
['err[1] = 2e-05 is above the maximum 1e-06']
"""

from __future__ import annotations

import json
import os
from typing import Any

from labkit.notebooks.finding import read_notebook

__all__ = ["MIMETYPE", "check_records", "read_records", "record", "recorded"]

MIMETYPE = "application/vnd.labkit.record+json"

_RECORDS: dict[str, Any] = {}


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with jupyter
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def record(name: str, value: Any) -> None:
    """Store a regression value so that it survives in the executed notebook.

    Inside a Jupyter kernel the value is displayed with a labkit MIME type (and a one-line text
    form), so it is saved in the cell's outputs; :func:`run_notebook` collects it from there.
    Outside a kernel it is kept in memory (see :func:`recorded`).

    Parameters
    ----------
    name : str
        A short identifier, e.g. ``"darcy_rel_l2"``.
    value : number, str, bool, list or dict of those
        numpy and torch scalars and small arrays (and dataclasses of them) are converted to
        plain Python with :func:`labkit._checks.to_plain`; NaN and inf are refused.

    Raises
    ------
    ValueError
        When ``name`` is not identifier-like, or a number in ``value`` is NaN or infinite
        (``record: err.darcy is not finite (nan)``).
    TypeError
        When ``value`` holds something JSON cannot (``record: x must be JSON-able, got set``).

    Examples
    --------
    >>> record("n_regions", 12)
    >>> recorded()["n_regions"]
    12
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"record: name must be an identifier-like string, got {name!r}")
    from labkit._checks import to_plain  # numpy comes in only when a value is recorded

    try:
        plain = to_plain(value, name, finite=True)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"record: {exc}") from None
    _RECORDS[name] = plain
    if _in_kernel():
        from IPython.display import display

        text = json.dumps(plain)
        if len(text) > 120:
            text = text[:117] + "..."
        bundle = {MIMETYPE: {"name": name, "value": plain}, "text/plain": f"{name} = {text}"}
        display(bundle, raw=True)


def recorded() -> dict[str, Any]:
    """Return a copy of the values recorded in this process (outside a kernel)."""
    return dict(_RECORDS)


def read_records(nb: Any) -> dict[str, Any]:
    """Collect the recorded values from an executed notebook (a path or an ``nbformat`` node)."""
    if isinstance(nb, (str, os.PathLike)):
        nb = read_notebook(nb)
    values: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if MIMETYPE in data:
                item = data[MIMETYPE]
                if isinstance(item, str):
                    item = json.loads(item)
                values[item["name"]] = item["value"]
    return values


def _lookup(results: dict[str, Any], dotted: str) -> Any:
    value: Any = results
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def _check_one(name: str, value: Any, rule: dict[str, Any]) -> list[str]:
    if isinstance(value, list):
        failures = []
        for i, item in enumerate(value):
            failures += _check_one(f"{name}[{i}]", item, rule)
        return failures
    if "value" in rule:
        expected = rule["value"]
        if isinstance(expected, (str, bool)) or expected is None:
            return [] if value == expected else [f"{name} = {value!r}, expected {expected!r}"]
        rtol, atol = rule.get("rtol", 0.0), rule.get("atol", 0.0)
        if not isinstance(value, (int, float)) or abs(value - expected) > atol + rtol * abs(
            expected
        ):
            return [f"{name} = {value!r}, expected {expected!r} (rtol={rtol}, atol={atol})"]
        return []
    failures = []
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return [f"{name} = {value!r} is not a number"]
    if "min" in rule and value < rule["min"]:
        failures.append(f"{name} = {value!r} is below the minimum {rule['min']!r}")
    if "max" in rule and value > rule["max"]:
        failures.append(f"{name} = {value!r} is above the maximum {rule['max']!r}")
    return failures


def check_records(results: dict[str, Any], checks: dict[str, dict[str, Any]]) -> list[str]:
    """Hold recorded values to declared checks; return one message per failure (empty if all pass).

    A rule is ``{"max": x}``, ``{"min": x}``, both, or ``{"value": v, "rtol": r, "atol": a}``.
    Dotted names reach into recorded dicts; lists are checked element by element.
    """
    failures: list[str] = []
    for name, rule in checks.items():
        unknown = set(rule) - {"min", "max", "value", "rtol", "atol", "note"}
        if unknown or not ({"min", "max", "value"} & set(rule)):
            failures.append(f"check {name!r} has an invalid rule {rule!r}")
            continue
        try:
            value = _lookup(results, name)
        except KeyError:
            failures.append(f"{name} was not recorded")
            continue
        failures += _check_one(name, value, rule)
    return failures
