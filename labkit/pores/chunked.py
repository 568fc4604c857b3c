"""The subfield thinning chunk by chunk: the same skeleton, voxel for voxel, whatever the chunks.

A round cuts every chunk out with a halo of ``halo`` voxels, runs ``halo`` sub-iterations of
:func:`labkit.pores.subfield.thin_block` on it and keeps the chunk's core: a sub-iteration reads
one voxel around each voxel, so after ``halo`` of them the core is exactly what the
whole-volume thinning gives after the same sub-iterations (the halo's own errors, coming from
the block's cut faces, travel inwards one voxel per sub-iteration and stop at the core's
edge). Rounds read one state and write the other of two buffers, so that every chunk of a
round starts from the same state; they repeat until a round changes no chunk. With
``halo >= 8`` (a whole iteration), such a round means the whole-volume thinning has stopped.

A chunk whose block saw no change in the last round (neither its core nor the cores its halo
overlaps changed) cannot change in this one, so it is skipped; by then both buffers hold its
core. In the first round every chunk runs and writes both buffers.

The rounds run in this process on numpy arrays, or as Dask tasks on Zarr arrays (one task per
chunk and round; a task reads its block from one array and writes its core, chunk-aligned, to
the other, so a task retried after a worker died writes the same bytes).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from labkit._checks import check_int
from labkit.pores.subfield import N_SUBFIELDS, thin_block

__all__ = ["ChunkGrid", "chunk_grid", "thin_chunked"]


@dataclass(frozen=True)
class ChunkGrid:
    """A rectilinear grid of chunks over a 3-D shape.

    Attributes
    ----------
    shape : tuple of 3 ints
        The volume's shape.
    bounds : tuple of 3 tuples of ints
        Chunk boundaries per axis, from 0 to ``shape[axis]``.
    """

    shape: tuple[int, int, int]
    bounds: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]

    @property
    def counts(self) -> tuple[int, int, int]:
        """Chunks along each axis."""
        return tuple(len(b) - 1 for b in self.bounds)

    @property
    def n_chunks(self) -> int:
        return int(np.prod(self.counts))

    @property
    def chunk_shape(self) -> tuple[int, int, int]:
        """Shape of the first chunk (of every chunk but the last along an axis, on a regular
        grid: Zarr's ``chunks``)."""
        return tuple(int(b[1] - b[0]) for b in self.bounds)

    def locate(self, axis: int, positions):
        """Index along ``axis`` of the chunk holding each position."""
        return np.searchsorted(np.asarray(self.bounds[axis][1:-1]), positions, side="right")

    def overlapping(self, lo, hi) -> np.ndarray:
        """Flat indices (C order, as :meth:`cores`) of the chunks the box ``lo <= voxel < hi``
        overlaps.

        Examples
        --------
        >>> chunk_grid((10, 10, 7), 4).overlapping((3, 0, 0), (5, 4, 4)).tolist()
        [0, 6]
        """
        ranges = [
            np.arange(self.locate(axis, lo[axis]), self.locate(axis, hi[axis] - 1) + 1)
            for axis in range(3)
        ]
        index = np.meshgrid(*ranges, indexing="ij")
        return np.ravel_multi_index(index, self.counts).ravel()

    def cores(self) -> list[tuple[tuple[int, int, int], tuple[int, int, int]]]:
        """``(lo, hi)`` corners of every chunk, in C order of the chunk index."""
        ranges = [list(zip(b[:-1], b[1:], strict=True)) for b in self.bounds]
        return [
            (tuple(r[0] for r in combo), tuple(r[1] for r in combo))
            for combo in itertools.product(*ranges)
        ]

    def block(self, lo, hi, halo: int):
        """The chunk's box grown by ``halo`` and clipped to the volume."""
        blo = tuple(max(0, a - halo) for a in lo)
        bhi = tuple(min(s, b + halo) for b, s in zip(hi, self.shape, strict=True))
        return blo, bhi


def chunk_grid(shape, chunks) -> ChunkGrid:
    """Build the chunk grid of a volume.

    Parameters
    ----------
    shape : 3 ints
        Volume shape.
    chunks : int, 3 ints or 3 sequences of ints
        One chunk size for every axis, one per axis (the last chunk of an axis may be
        shorter, as in Zarr), or the chunk sizes along each axis (as in Dask), which must add
        up to the shape.

    Examples
    --------
    >>> chunk_grid((10, 10, 7), 4).bounds
    ((0, 4, 8, 10), (0, 4, 8, 10), (0, 4, 7))
    >>> chunk_grid((10, 10, 7), ((3, 7), (10,), (2, 2, 3))).n_chunks
    6
    """
    shape = tuple(check_int(f"shape[{i}]", s, minimum=1) for i, s in enumerate(shape))
    if len(shape) != 3:
        raise ValueError(f"shape must have 3 entries, got {len(shape)}")
    if isinstance(chunks, (int, np.integer)) and not isinstance(chunks, bool):
        chunks = (int(chunks),) * 3
    if not isinstance(chunks, (tuple, list)) or len(chunks) != 3:
        raise ValueError(f"chunks must be an int or have 3 entries (one per axis), got {chunks!r}")
    bounds = []
    for axis, (c, n) in enumerate(zip(chunks, shape, strict=True)):
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            size = check_int(f"chunks[{axis}]", c, minimum=1)
            bounds.append(tuple(range(0, n, size)) + (n,))
        else:
            sizes = [check_int(f"chunks[{axis}]", s, minimum=1) for s in c]
            if sum(sizes) != n:
                raise ValueError(
                    f"chunks[{axis}] sizes add up to {sum(sizes)}, not to shape[{axis}] = {n}"
                )
            bounds.append(tuple(np.concatenate([[0], np.cumsum(sizes)]).tolist()))
    return ChunkGrid(shape=shape, bounds=tuple(bounds))


def _check_binary_block(block: np.ndarray, where) -> np.ndarray:
    """Return a chunk of the input as a uint8 0/1 block; anything else is an error."""
    if block.dtype == bool:
        return block.view(np.uint8)
    if not np.issubdtype(block.dtype, np.number) or np.issubdtype(block.dtype, np.complexfloating):
        raise TypeError(f"volume must be boolean or real numeric, got dtype {block.dtype}")
    if block.size and not np.isin(block, (0, 1)).all():
        bad = block[~np.isin(block, (0, 1))].flat[0].item()
        raise ValueError(
            f"volume must be binary (True = pore), but its chunk at {where} holds {bad!r}; "
            "binarize it first (labkit.pores.binarize)"
        )
    return block.astype(np.uint8)


def _thin_chunk(src, dst, lo, hi, blo, bhi, phase: int, steps: int, first: bool):
    """One chunk of one round: thin its block, write its core to ``dst``; whether it changed
    and (first round only, else -1) its foreground voxels before thinning.

    ``src`` and ``dst`` are numpy or Zarr arrays (``dst`` a pair in the first round, when the
    core goes to both buffers and ``src`` is the input volume).
    """
    box = tuple(slice(a, b) for a, b in zip(blo, bhi, strict=True))
    block = np.asarray(src[box])
    if first:
        block = _check_binary_block(block, lo)
    state, _ = thin_block(block, blo, phase, steps)
    inner = tuple(slice(a - c, b - c) for a, b, c in zip(lo, hi, blo, strict=True))
    core = state[inner]
    changed = not np.array_equal(core, block[inner])
    target = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    for array in dst if first else (dst,):
        array[target] = core
    return changed, int(np.count_nonzero(block[inner])) if first else -1


def _neighbours(grid: ChunkGrid, halo: int) -> list[np.ndarray]:
    """For every chunk, the chunks whose core its halo-grown block overlaps (itself included)."""
    return [grid.overlapping(*grid.block(lo, hi, halo)) for lo, hi in grid.cores()]


def _check_halo(halo) -> int:
    halo = check_int("halo", halo, minimum=N_SUBFIELDS)
    return halo


def thin_chunked(
    volume,
    chunks,
    halo: int = 16,
    client=None,
    scratch=None,
    progress: bool = False,
) -> np.ndarray:
    """Subfield thinning (:func:`labkit.pores.subfield.thin_subfield`) chunk by chunk.

    The result is :func:`~labkit.pores.subfield.thin_subfield`'s voxel for voxel, whatever
    ``chunks`` and ``halo``.

    Parameters
    ----------
    volume : numpy.ndarray or zarr.Array, 3-D, binary
        ``True`` (or 1) on the foreground. With ``client=None`` it is read chunk by chunk in
        this process; with a client, the workers read it (a Zarr array or a lazy volume from
        :mod:`labkit.pores.lazy` that they can open).
    chunks : int, 3 ints or 3 sequences of ints
        The chunk grid (:func:`chunk_grid`). With a client the grid must be regular (Zarr's).
    halo : int
        Halo width and sub-iterations per round, at least 8.
    client : distributed.Client, optional
        Run the chunks as Dask tasks on this client's workers (see
        :func:`labkit.cluster.dask_client`); the state lives in two Zarr arrays in
        ``scratch``.
    scratch : str or path, optional
        A new directory for the Zarr state buffers (with a client; required then).
    progress : bool
        Show a progress bar per round (with a client).

    Returns
    -------
    numpy.ndarray of uint8 or zarr.Array of uint8
        The final state: 0 background, 1 or 2 skeleton (2: anchored curve voxel). A numpy
        array without a client, else the Zarr buffer holding the result.

    Examples
    --------
    >>> import labkit.pores as lp
    >>> from labkit.pores.subfield import thin_subfield
    >>> v = lp.blobs(40, porosity=0.35, seed=1)
    >>> state = thin_chunked(v, chunks=(13, 20, 17), halo=8)
    >>> bool(((state != 0) == thin_subfield(v)).all())
    True
    """
    halo = _check_halo(halo)
    if len(getattr(volume, "shape", ())) != 3:
        raise ValueError(f"volume must be 3-D, got shape {getattr(volume, 'shape', None)!r}")
    grid = chunk_grid(volume.shape, chunks)
    if client is None:
        buffers = [np.zeros(grid.shape, np.uint8), np.zeros(grid.shape, np.uint8)]
        return _rounds(volume, buffers, grid, halo, _serial)[0]
    if scratch is None:
        raise ValueError("scratch must name a new directory for the state buffers with a client")
    import zarr

    buffers = _zarr_buffers(zarr.open_group(str(scratch), mode="w-"), grid)
    run = dask_runner(client, "thinning round", progress)
    return _rounds(volume, buffers, grid, halo, run)[0]


def _zarr_buffers(group, grid: ChunkGrid) -> list:
    """The two uint8 state buffers, chunked as ``grid`` (which must be regular)."""
    if not all(len(set(np.diff(b)[:-1])) <= 1 for b in grid.bounds):
        raise ValueError("chunks must be regular (one size per axis) with a client")
    return [
        group.create_array(
            name, shape=grid.shape, chunks=grid.chunk_shape, dtype="uint8", fill_value=0
        )
        for name in ("state_a", "state_b")
    ]


def dask_runner(client, description: str, progress: bool):
    """A function ``run(tasks, function=_thin_chunk, on_result=None)`` that calls
    ``function(*task)`` for each task as Dask tasks on ``client``, with a progress bar, and
    returns the results in order; with ``on_result``, it passes each result to it as its task
    finishes instead (and lets the worker drop it), so results need not fit in this process
    together. A task whose worker dies is rerun by Dask; every task here writes the same bytes
    again."""

    def run(tasks, function=None, on_result=None):
        from labkit.cluster import track

        futures = [client.submit(function or _thin_chunk, *t, pure=False) for t in tasks]
        if on_result is None:
            for _ in track(futures, description=description, progress=progress):
                pass
            return client.gather(futures)
        for future in track(futures, description=description, progress=progress):
            on_result(future.result())
            future.release()
        return None

    return run


def _serial(tasks, function=None):
    return [(function or _thin_chunk)(*t) for t in tasks]


def _rounds(volume, buffers, grid: ChunkGrid, halo: int, run, on_first=None):
    """Run rounds until one changes nothing; return the buffer holding the final state and the
    foreground voxels of the input. ``on_first(n_foreground)`` runs after the first round (it
    may raise)."""
    cores = grid.cores()
    neighbours = _neighbours(grid, halo)
    changed = np.ones(len(cores), dtype=bool)
    phase = 0
    current = 0
    first = True
    while True:
        active = [i for i in range(len(cores)) if first or changed[neighbours[i]].any()]
        src = volume if first else buffers[current]
        dst = tuple(buffers) if first else buffers[1 - current]
        tasks = []
        for i in active:
            lo, hi = cores[i]
            blo, bhi = grid.block(lo, hi, halo)
            tasks.append((src, dst, lo, hi, blo, bhi, phase, halo, first))
        results = run(tasks)
        changed[:] = False
        changed[active] = [r[0] for r in results]
        if first:
            n_foreground = sum(r[1] for r in results)
            if on_first is not None:
                on_first(n_foreground)
        else:
            current = 1 - current
        first = False
        phase = (phase + halo) % N_SUBFIELDS
        if not changed.any():
            return buffers[current], n_foreground
