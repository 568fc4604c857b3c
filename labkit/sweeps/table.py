"""The table of a sweep: one row per run, written whole to ``results.parquet`` and ``.csv``.

Examples
--------
>>> flatten({"err": {"1x": 0.1, "2x": 0.2}, "eigs": [3.0, 1.0], "n": 4})
{'err.1x': 0.1, 'err.2x': 0.2, 'eigs[0]': 3.0, 'eigs[1]': 1.0, 'n': 4}
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labkit._io import atomic_write

__all__ = ["META", "META_KEY", "flatten", "make_table", "read_table", "write_table"]

META_KEY = b"labkit.sweep"
META = [
    "status",
    "seconds",
    "failed_cell",
    "error",
    "smoke",
    "notebook",
    "notebook_revision",
    "notebook_commit",
    "labkit_version",
    "executed",
]
"""Columns every table has besides ``run``, ``repeat``, the parameters and the records."""


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested records as flat columns: ``a.b`` for dict keys, ``a[i]`` for list items."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
        return out if out else {prefix: None}
    return {prefix: value}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _uniform(values: list[Any]) -> list[Any]:
    """A column whose values mix kinds (numbers and text) becomes text, so parquet can hold it."""
    kinds = {
        "number" if isinstance(v, (int, float)) and not isinstance(v, bool) else type(v).__name__
        for v in values
        if not _missing(v)
    }
    if len(kinds) <= 1:
        return values
    return [None if _missing(v) else str(v) for v in values]


def make_table(rows: Sequence[dict[str, Any]], parameters: Sequence[str], info: dict[str, Any]):
    """A pandas DataFrame of ``rows`` with the columns in a fixed order: ``run``, the
    parameters, ``repeat``, the records (in order of first appearance), then :data:`META`.

    ``info`` (notebook, parameters, records, ...) goes to ``DataFrame.attrs["labkit_sweep"]``.
    """
    import pandas as pd

    records: list[str] = []
    for row in rows:
        for name in row:
            if name not in records and name not in ("run", "repeat", *parameters, *META):
                records.append(name)
    columns = ["run", *parameters, "repeat", *records, *META]
    data = {c: _uniform([row.get(c) for row in rows]) for c in columns}
    table = pd.DataFrame(data, columns=columns)
    table["failed_cell"] = table["failed_cell"].astype("Int64")
    table.attrs["labkit_sweep"] = {**info, "parameters": list(parameters), "records": records}
    return table


def write_table(table: Any, folder: str | os.PathLike) -> Path:
    """Write ``table`` to ``folder/results.parquet`` and ``folder/results.csv``, each atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    meta[META_KEY] = json.dumps(table.attrs.get("labkit_sweep", {})).encode()
    arrow = arrow.replace_schema_metadata(meta)
    path = atomic_write(folder / "results.parquet", lambda fh: pq.write_table(arrow, fh))
    atomic_write(folder / "results.csv", lambda fh: fh.write(table.to_csv(index=False).encode()))
    return path


def read_table(source: str | os.PathLike):
    """Read a sweep's table (its folder or its ``results.parquet``) as a pandas DataFrame.

    ``DataFrame.attrs["labkit_sweep"]`` holds what the sweep recorded about itself: the
    notebook, smoke mode, which columns are parameters and which are records.
    """
    import pyarrow.parquet as pq

    path = Path(source)
    if path.is_dir():
        path = path / "results.parquet"
    if not path.is_file():
        raise ValueError(
            f"source must be a sweep folder or its results.parquet, got {str(source)!r}"
        )
    arrow = pq.read_table(path)
    table = arrow.to_pandas()
    raw = (arrow.schema.metadata or {}).get(META_KEY)
    table.attrs["labkit_sweep"] = json.loads(raw) if raw else {}
    return table
