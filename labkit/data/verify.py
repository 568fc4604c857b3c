"""Check every recorded shard of a store against its SHA-256.

A chunk file that was truncated, altered or removed after writing reads back as other bytes
(or not at all); :func:`verify` names it and, by default, drops its record so that the next
:func:`labkit.data.make_store` with the same arguments makes it again.

Examples
--------
>>> import tempfile, torch
>>> from labkit.data.store import write_store
>>> with tempfile.TemporaryDirectory() as d:
...     _ = write_store(d + "/s", torch.ones(4, 1, 3), torch.zeros(4, 1, 3), recipe={},
...                     shard_size=2)
...     verify(d + "/s").ok
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from labkit.data.store import open_group, shard_bounds, shard_digest, shard_file, store_lock

__all__ = ["VerifyReport", "chunk_files", "verify"]


@dataclass
class VerifyReport:
    """The outcome of :func:`verify`.

    Attributes
    ----------
    shards
        Number of shards of the set.
    bad
        ``{shard: reason}`` for recorded shards whose bytes do not match their checksum.
    missing
        Shards never recorded as complete.
    """

    shards: int
    bad: dict[int, str] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every shard complete and intact."""
        return not self.bad and not self.missing


def chunk_files(path: str | os.PathLike, shard: int) -> list[Path]:
    """The two chunk files of ``shard`` (Zarr v3 default keys ``c/s/0/...``)."""
    group = open_group(path)
    return [shard_file(path, name, shard, group[name].ndim) for name in ("inputs", "targets")]


def verify(path: str | os.PathLike, *, forget: bool = True) -> VerifyReport:
    """Read every recorded shard and compare its SHA-256 with the record.

    Parameters
    ----------
    path
        The store.
    forget
        Drop the records of bad shards (under the store's lock), so that the next
        ``make_store`` remakes them. Nothing else is changed.
    """
    group = open_group(path, "r")
    meta = group.attrs["labkit_data"]
    bounds = shard_bounds(meta["n"], meta["shard_size"])
    done = dict(group.attrs.get("shards", {}))
    report = VerifyReport(shards=len(bounds))
    for s, (lo, hi) in enumerate(bounds):
        if str(s) not in done:
            report.missing.append(s)
            continue
        try:
            x = group["inputs"][lo:hi]
            y = group["targets"][lo:hi]
        except Exception as exc:  # noqa: BLE001 - an unreadable chunk is a bad shard
            report.bad[s] = f"unreadable ({type(exc).__name__}: {exc})"
            continue
        if shard_digest(x, y) != done[str(s)]:
            report.bad[s] = "checksum mismatch"
    if forget and report.bad:
        with store_lock(path):
            group = open_group(path, "r+")
            done = dict(group.attrs.get("shards", {}))
            for s in report.bad:
                done.pop(str(s), None)
            group.attrs["shards"] = done
    return report
