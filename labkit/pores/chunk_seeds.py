"""The partition's seeds (branch voxels and their labels) on disk, grouped by chunk.

The chunked partition (:mod:`labkit.pores.chunked_pipeline`) labels each chunk from the seeds in
the chunk grown by a halo. The seeds of a large skeleton do not fit in every worker (2048^3
blobs: 36 million voxels, 580 MB as int32 rows), so they are written once, sorted by the chunk
that holds them, with the offset of every chunk's rows: a task reads only the rows of the chunks
its box overlaps, a few contiguous slices of a memory-mapped file.

Files in the folder: ``rows.npy`` (int32, ``(m, 4)``: z, y, x, label) and ``offsets.npy``
(int64, ``n_chunks + 1``: chunk ``c``'s rows are ``rows[offsets[c]:offsets[c + 1]]``, chunks in
C order of their index).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labkit.pores.chunked import ChunkGrid

__all__ = ["read_box_seeds", "write_chunk_seeds"]


def _chunk_index(grid: ChunkGrid, coords: np.ndarray, step: int = 1 << 22) -> np.ndarray:
    """Flat (C order) index of the chunk holding each voxel (int32, ``step`` voxels at a time,
    so no int64 array of all voxels is made)."""
    out = np.empty(len(coords), np.int32)
    for start in range(0, len(coords), step):
        part = coords[start : start + step]
        index = np.zeros(len(part), np.int32)
        for axis in range(3):
            index *= grid.counts[axis]
            index += grid.locate(axis, part[:, axis]).astype(np.int32)
        out[start : start + step] = index
    return out


def write_chunk_seeds(folder, grid: ChunkGrid, coords: np.ndarray, sizes: np.ndarray) -> Path:
    """Write the seeds of ``len(sizes)`` branches, labelled ``1 ... len(sizes)``, by chunk.

    Parameters
    ----------
    folder : str or path
        A new folder.
    grid : ChunkGrid
    coords : numpy.ndarray of int, shape (m, 3)
        The branches' voxels, branch after branch (:meth:`SkeletonGraph.branch_voxels`).
    sizes : numpy.ndarray of int
        Voxels per branch.

    Returns
    -------
    pathlib.Path
        The folder, for :func:`read_box_seeds`.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from labkit.pores.chunked import chunk_grid
    >>> grid = chunk_grid((8, 8, 8), 4)
    >>> coords = np.array([[7, 7, 7], [0, 0, 1], [5, 1, 1]])
    >>> folder = write_chunk_seeds(pathlib.Path(tempfile.mkdtemp()) / "seeds", grid, coords,
    ...                            np.array([2, 1]))
    >>> read_box_seeds(folder, grid, (4, 0, 0), (8, 4, 4)).tolist()
    [[5, 1, 1, 2]]
    """
    folder = Path(folder)
    folder.mkdir()
    chunk = _chunk_index(grid, coords)
    order = np.argsort(chunk, kind="stable")
    rows = np.empty((len(coords), 4), np.int32)
    rows[:, :3] = coords[order]
    rows[:, 3] = np.repeat(np.arange(1, len(sizes) + 1, dtype=np.int32), sizes)[order]
    offsets = np.searchsorted(chunk[order], np.arange(grid.n_chunks + 1))
    del order, chunk
    np.save(folder / "rows.npy", rows)
    np.save(folder / "offsets.npy", offsets.astype(np.int64))
    return folder


def read_box_seeds(folder, grid: ChunkGrid, lo, hi) -> np.ndarray:
    """The seed rows (z, y, x, label) inside the box ``lo <= voxel < hi``, read from the chunks
    the box overlaps only."""
    folder = Path(folder)
    rows = np.load(folder / "rows.npy", mmap_mode="r")
    offsets = np.load(folder / "offsets.npy")
    lo, hi = np.asarray(lo), np.asarray(hi)
    parts = []
    for c in grid.overlapping(lo, hi):
        part = np.asarray(rows[offsets[c] : offsets[c + 1]])
        inside = np.all((part[:, :3] >= lo) & (part[:, :3] < hi), axis=1)
        parts.append(part[inside])
    return np.concatenate(parts) if parts else np.zeros((0, 4), np.int32)
