"""The whole pore pipeline chunk by chunk on Dask: skeleton, skeleton graph, nearest-branch
partition, region attributes and region graph of a volume larger than memory.

Steps (each a set of Dask tasks, one per chunk, on the workers of
:func:`labkit.cluster.dask_client`):

1. Subfield thinning in rounds (:mod:`labkit.pores.chunked`): the skeleton, voxel for voxel the
   in-memory :func:`labkit.pores.subfield.thin_subfield`, written to ``out/skeleton``.
2. The skeleton's voxels are gathered (a skeleton is a tiny fraction of the volume) and its graph
   is built from them (:func:`labkit.pores.sparse_graph.graph_from_voxels`: the branches of
   :func:`labkit.pores.skeleton.skeleton_graph`, without a volume-sized array). Branches that
   cross chunk seams are whole by construction.
3. Partition: the branch voxels (seeds) are written to disk grouped by chunk
   (:mod:`labkit.pores.chunk_seeds`), and each chunk labels its pore voxels with the nearest
   branch voxel among the seeds in the chunk grown by a halo of ``width`` voxels
   (:func:`labkit.pores.nearest.nearest_seed_labels`) and checks the answer: a seed outside the
   grown chunk is at least ``(width + 1) * min(voxel size)`` away, so a voxel whose nearest seed
   inside is nearer than that has its true label. A chunk where some voxel fails the check is
   not written; it is redone with the halo doubled, so no wrong label is ever returned. Labels
   go to ``out/labels``.
4. Attributes: every chunk measures its core (voxel counts, coordinate sums, faces to solid and
   between labels, :func:`labkit.pores.region_measures.label_measures`) and the faces it shares
   with the next chunk along each axis; the sums are reduced in the calling process into the
   :class:`~labkit.pores.regions.RegionGraph` that :func:`~labkit.pores.regions.region_graph`
   gives on the same labels, and written to ``out``.

Where two branches are exactly equally near a voxel, either may be taken (as in
:func:`labkit.pores.partition`), so labels can differ from the in-memory route's at such ties.
Region connectivity (``RegionGraph.disconnected``) is not checked on this route.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labkit._checks import check_int, check_type
from labkit.pores.chunk_seeds import write_chunk_seeds
from labkit.pores.chunked import (
    ChunkGrid,
    _check_binary_block,
    _rounds,
    _zarr_buffers,
    chunk_grid,
    dask_runner,
)
from labkit.pores.io import check_voxel_size
from labkit.pores.regions import RegionGraph, graph_from_sums
from labkit.pores.skeleton import SkeletonGraph

__all__ = ["Analysis", "analyse"]

_MARK = "labkit.pores.analyse"


@dataclass
class Analysis:
    """What :func:`analyse` wrote and measured.

    Attributes
    ----------
    store : pathlib.Path
        The Zarr group: arrays ``skeleton`` (bool), ``labels`` (int32), ``volumes``,
        ``centroids``, ``surface_areas``, ``contact_pairs``, ``contact_areas``,
        ``contact_distances``; its attributes hold the summaries below.
    skeleton_graph : SkeletonGraph
    region_graph : RegionGraph
        ``labels`` is the lazy Zarr array ``store/labels``.
    partition_halo : int
        The widest halo a chunk of the partition needed.
    seconds : dict
        Wall time of each step: ``thinning`` (with writing the skeleton), ``skeleton_graph``,
        ``partition``, ``attributes``.
    """

    store: Path
    skeleton_graph: SkeletonGraph
    region_graph: RegionGraph
    partition_halo: int
    seconds: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "store": str(self.store),
            "skeleton": self.skeleton_graph.to_dict(),
            "regions": self.region_graph.to_dict(),
            "partition_halo": self.partition_halo,
            "seconds": dict(self.seconds),
        }


def _source(volume):
    """The input as something workers can read box by box, and whether it is in memory."""
    from labkit.pores.lazy import LazyVolume, open_volume

    if isinstance(volume, np.ndarray):
        return volume, True
    if isinstance(volume, (str, os.PathLike)):
        return open_volume(volume), False
    if isinstance(volume, LazyVolume):
        return volume, False
    import zarr

    if isinstance(volume, zarr.Array):
        return volume, False
    raise TypeError(
        f"volume must be a numpy array, a zarr.Array, a LazyVolume or a path, got "
        f"{type(volume).__name__}"
    )


def _default_chunks(source, shape) -> tuple[int, int, int]:
    chunks = getattr(source, "chunks", None)
    if (
        chunks is not None
        and len(chunks) == 3
        and min(chunks) >= 32
        and not isinstance(source, np.ndarray)
    ):
        return tuple(int(c) for c in chunks)
    return tuple(min(128, s) for s in shape)


def _skeleton_chunk(state, skeleton, lo, hi) -> np.ndarray:
    """Write a chunk of the skeleton; return its voxels' raster indices in the volume."""
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    core = np.asarray(state[box]) != 0
    skeleton[box] = core
    local = np.nonzero(core)
    return np.ravel_multi_index(
        tuple(c + a for c, a in zip(local, lo, strict=True)), skeleton.shape
    ).astype(np.int64)


def _partition_chunk(volume, labels, seeds, grid, lo, hi, width, voxel_size) -> bool:
    """Label a chunk from the seeds within ``width`` voxels; False (nothing written) when the
    halo may be too narrow for some voxel."""
    from labkit.pores.chunk_seeds import read_box_seeds
    from labkit.pores.nearest import nearest_seed_labels

    shape = labels.shape
    blo, bhi = grid.block(lo, hi, width)
    box = tuple(slice(a, b) for a, b in zip(blo, bhi, strict=True))
    inner = tuple(slice(a - c, b - c) for a, b, c in zip(lo, hi, blo, strict=True))
    target = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    pore = _check_binary_block(np.asarray(volume[box]), lo).view(bool)
    if not pore[inner].any():
        labels[target] = np.zeros(pore[inner].shape, np.int32)
        return True
    rows = read_box_seeds(seeds, grid, blo, bhi)
    if len(rows) == 0:
        return False
    local = rows[:, :3] - np.asarray(blo)
    block_labels, distance = nearest_seed_labels(
        local, rows[:, 3], pore.shape, voxel_size, mask=pore, return_distance=True
    )
    whole = blo == (0, 0, 0) and bhi == tuple(shape)
    # float32 distances: a margin far above their rounding keeps the check on the safe side
    bound = (width + 1) * min(voxel_size) * (1 - 1e-5)
    if not whole and distance[inner].max() >= bound:
        return False
    labels[target] = block_labels[inner]
    return True


def _measure_chunk(labels, lo, hi):
    """Counts, coordinate sums, solid faces and label-pair faces of a chunk's core and of the
    faces it shares with the next chunk along each axis (global labels)."""
    from labkit.pores.region_measures import label_measures

    shape = labels.shape
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    core = np.asarray(labels[box])
    ids = np.unique(core)
    ids = ids[ids > 0]
    out = {"ids": ids, "counts": np.zeros(0), "sums": np.zeros((0, 3)), "solid": np.zeros((0, 3))}
    pair_keys, pair_faces = [], []
    if len(ids):
        compact = np.searchsorted(ids, core).astype(np.int32) + 1
        compact[core == 0] = 0
        counts, sums, solid, pairs, faces = label_measures(compact, len(ids))
        out.update(counts=counts, sums=sums + counts[:, None] * np.asarray(lo), solid=solid)
        if len(pairs):
            pair_keys.append(np.stack([ids[pairs[:, 0] - 1], ids[pairs[:, 1] - 1]], axis=1))
            pair_faces.append(faces)
    seam_solid = []
    for axis in range(3):
        if hi[axis] >= shape[axis]:
            continue
        a = np.take(core, -1, axis=axis)
        nbox = list(box)
        nbox[axis] = slice(hi[axis], hi[axis] + 1)
        b = np.take(np.asarray(labels[tuple(nbox)]), 0, axis=axis)
        for label in (a[(a > 0) & (b == 0)], b[(a == 0) & (b > 0)]):
            seam_solid.append(np.stack([label, np.full(len(label), axis)], axis=1))
        touch = (a > 0) & (b > 0) & (a != b)
        if touch.any():
            pair = np.stack([np.minimum(a, b)[touch], np.maximum(a, b)[touch]], axis=1)
            faces = np.zeros((len(pair), 3), np.int64)
            faces[:, axis] = 1
            pair_keys.append(pair)
            pair_faces.append(faces)
    out["seam_solid"] = np.concatenate(seam_solid) if seam_solid else np.zeros((0, 2), np.int64)
    out["pairs"] = np.concatenate(pair_keys) if pair_keys else np.zeros((0, 2), np.int64)
    out["pair_faces"] = np.concatenate(pair_faces) if pair_faces else np.zeros((0, 3), np.int64)
    return out


class _MeasureSums:
    """The chunks' measures summed as they arrive, into the region graph
    :func:`~labkit.pores.regions.region_graph` gives on the same labels.

    Per-region sums go straight into arrays of the number of regions; label pairs are kept as
    keys and merged (summing their faces) whenever they have doubled since the last merge, so
    memory stays near that of the final contact table whatever the number of chunks.
    """

    merge_at = 1 << 20  # pairs waiting before a merge is worth it

    def __init__(self, n: int) -> None:
        self.n = n
        self.counts = np.zeros(n, np.int64)
        self.sums = np.zeros((n, 3), np.int64)
        self.solid = np.zeros((n, 3), np.int64)
        self._keys: list[np.ndarray] = []
        self._faces: list[np.ndarray] = []
        self._pending = 0
        self._merged = 0

    def add(self, part: dict) -> None:
        index = part["ids"] - 1
        self.counts[index] += np.asarray(part["counts"], np.int64)
        self.sums[index] += np.asarray(part["sums"], np.int64)
        self.solid[index] += np.asarray(part["solid"], np.int64)
        if len(part["seam_solid"]):
            np.add.at(self.solid, (part["seam_solid"][:, 0] - 1, part["seam_solid"][:, 1]), 1)
        pairs = part["pairs"]
        self._keys.append(pairs[:, 0].astype(np.int64) * (self.n + 1) + pairs[:, 1])
        self._faces.append(np.asarray(part["pair_faces"], np.int64))
        self._pending += len(pairs)
        if self._pending > max(self._merged, self.merge_at):
            self._merge()

    def _merge(self) -> None:
        keys, inverse = np.unique(np.concatenate(self._keys), return_inverse=True)
        faces = np.zeros((len(keys), 3), np.int64)
        np.add.at(faces, inverse, np.concatenate(self._faces))
        self._keys, self._faces = [keys], [faces]
        self._merged, self._pending = len(keys), 0

    def graph(self, labels, voxel_size) -> RegionGraph:
        empty = np.flatnonzero(self.counts == 0)
        if len(empty):  # pragma: no cover - every branch labels at least its own voxels
            raise RuntimeError(f"region {empty[0] + 1} has no voxel")
        self._merge()
        keys, faces = self._keys[0], self._faces[0]
        pairs = np.stack([keys // (self.n + 1), keys % (self.n + 1)], axis=1) - 1
        return graph_from_sums(
            labels, voxel_size, self.counts, self.sums, self.solid, pairs, faces,
            np.zeros(0, np.int32),
        )


def _check_out(out, overwrite: bool) -> Path:
    check_type("out", out, (str, os.PathLike))
    out = Path(out)
    if out.exists():
        if not overwrite:
            raise ValueError(f"out {str(out)!r} exists; give a new path or overwrite=True")
        import zarr

        try:
            mine = zarr.open_group(str(out), mode="r").attrs.get("written_by") == _MARK
        except Exception:  # noqa: BLE001 - anything that is not our group
            mine = False
        if not mine:
            raise ValueError(
                f"out {str(out)!r} exists and was not written by labkit.pores.analyse; "
                "it is left alone: give a new path"
            )
    return out


def analyse(
    volume,
    out,
    client=None,
    *,
    chunks=None,
    halo: int = 32,
    voxel_size=1.0,
    workers: int | None = None,
    memory_limit="auto",
    progress: bool = True,
    overwrite: bool = False,
) -> Analysis:
    """Skeleton, skeleton graph, regions and region graph of a volume, chunk by chunk on Dask.

    Parameters
    ----------
    volume : numpy.ndarray, zarr.Array, LazyVolume or path
        Binary volume, ``True`` (1) on the pore phase: in memory, a Zarr array, a lazy volume
        (:func:`labkit.pores.lazy.open_volume`) or the path of a Zarr array or TIFF stack.
    out : str or path
        New Zarr group for the results (see :class:`Analysis`); written beside and moved
        into place at the end, so a failure leaves nothing half-written there.
    client : None, str or distributed.Client
        Passed to :func:`labkit.cluster.dask_client`: ``None`` starts a local cluster of
        ``workers`` processes with ``memory_limit`` each for this call.
    chunks : int or 3 ints, optional
        Chunk shape (default: the Zarr chunks when at least 32, else up to 128).
    halo : int
        Halo of the thinning rounds (at least 8) and first halo of the partition. A wider halo
        means fewer rounds and larger blocks: at 256^3 in 128^3 chunks, 32 took 6 rounds and
        12 s where 16 took 10 rounds and 20 s (in one process).
    voxel_size : float or 3 floats
    workers, memory_limit
        Local cluster only (see :func:`labkit.cluster.dask_client`).
    progress : bool
        Progress bars per step.
    overwrite : bool
        Replace an ``out`` written by an earlier :func:`analyse` (nothing else is replaced).

    Returns
    -------
    Analysis

    Raises
    ------
    ValueError, TypeError
        A volume that is not 3-D, not binary, all solid or all pore; bad chunks; an ``out`` that
        exists.

    Examples
    --------
    >>> import labkit.pores as lp, tempfile, pathlib
    >>> net = lp.tube_network(32, radius=2.0)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> result = analyse(net.volume, folder / "out.zarr", chunks=16, workers=2,
    ...                  progress=False)  # doctest: +SKIP
    >>> len(result.skeleton_graph.branches), result.region_graph.n_nodes  # doctest: +SKIP
    (8, 8)
    """
    import zarr

    from labkit.cluster import dask_client
    from labkit.pores.sparse_graph import graph_from_linear

    source, in_memory = _source(volume)
    shape = tuple(getattr(source, "shape", ()))
    if len(shape) != 3:
        raise ValueError(f"volume must be 3-D, got shape {shape}")
    voxel_size = check_voxel_size(voxel_size)
    halo = check_int("halo", halo, minimum=8)
    out = _check_out(out, overwrite)
    grid = chunk_grid(shape, chunks if chunks is not None else _default_chunks(source, shape))
    partial = out.with_name(f"{out.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        group = zarr.open_group(str(partial), mode="w-")
        if in_memory:
            array = group.create_array("_volume", shape=shape, chunks=grid.chunk_shape, dtype=bool)
            array[...] = _check_binary_block(source, (0, 0, 0)).astype(bool)
            source = array
        seconds = {}
        with dask_client(client, workers=workers, memory_limit=memory_limit) as c:
            start = time.perf_counter()
            linear = _pipeline(source, group, grid, halo, voxel_size, c, progress)
            seconds["thinning"] = time.perf_counter() - start
            start = time.perf_counter()
            graph = graph_from_linear(linear, shape, voxel_size)
            seconds["skeleton_graph"] = time.perf_counter() - start
            del linear
            region_graph, width = _regions(
                source, group, grid, graph, halo, voxel_size, c, progress, seconds
            )
        _write_attributes(group, graph, region_graph, width, voxel_size)
        for scratch in ("_volume", "_state", "_seeds"):
            path = partial / scratch
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        _swap(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    labels = zarr.open_array(str(out / "labels"), mode="r")
    region_graph.labels = labels
    return Analysis(
        store=out,
        skeleton_graph=graph,
        region_graph=region_graph,
        partition_halo=width,
        seconds=seconds,
    )


def _swap(partial: Path, out: Path) -> None:
    """Move ``partial`` to ``out``; an earlier result there goes only once the new is in."""
    if not out.exists():
        partial.rename(out)
        return
    old = out.with_name(f"{out.name}.old-{uuid.uuid4().hex[:8]}")
    out.rename(old)
    partial.rename(out)
    shutil.rmtree(old)


def _pipeline(source, group, grid: ChunkGrid, halo, voxel_size, client, progress) -> np.ndarray:
    """Thin in rounds, write the skeleton; return its voxels' raster indices."""
    size = int(np.prod(grid.shape))

    def check(n_pore):
        if n_pore == 0:
            raise ValueError("volume is all solid: it has no pore voxel")
        if n_pore == size:
            raise ValueError("volume is all pore: it has no solid voxel")

    buffers = _zarr_buffers(group.create_group("_state"), grid)
    run = dask_runner(client, "thinning round", progress)
    state, _ = _rounds(source, buffers, grid, halo, run, on_first=check)
    skeleton = group.create_array("skeleton", shape=grid.shape, chunks=grid.chunk_shape, dtype=bool)
    tasks = [(state, skeleton, lo, hi) for lo, hi in grid.cores()]
    pieces = dask_runner(client, "skeleton", progress)(tasks, _skeleton_chunk)
    return np.concatenate(pieces) if pieces else np.zeros(0, np.int64)


def _regions(source, group, grid, graph, halo, voxel_size, client, progress, seconds):
    start = time.perf_counter()
    if not len(graph.branches):
        raise ValueError("volume has no skeleton branch")
    coords, sizes = graph.branch_voxels()
    seeds = write_chunk_seeds(Path(group.store.root) / "_seeds", grid, coords, sizes)
    labels = group.create_array("labels", shape=grid.shape, chunks=grid.chunk_shape, dtype="int32")
    pending = grid.cores()
    width = halo
    widest = halo
    limit = max(grid.shape)
    while pending:
        tasks = [
            (source, labels, str(seeds), grid, lo, hi, width, voxel_size) for lo, hi in pending
        ]
        done = dask_runner(client, f"partition (halo {width})", progress)(tasks, _partition_chunk)
        widest = max(widest, width) if any(done) else widest
        pending = [box for box, ok in zip(pending, done, strict=True) if not ok]
        if pending and width >= limit:  # pragma: no cover - the whole volume is always enough
            raise RuntimeError("partition could not be checked even with the whole volume")
        width = min(2 * width, limit)
    seconds["partition"] = time.perf_counter() - start
    start = time.perf_counter()
    sums = _MeasureSums(len(graph.branches))
    tasks = [(labels, lo, hi) for lo, hi in grid.cores()]
    dask_runner(client, "attributes", progress)(tasks, _measure_chunk, on_result=sums.add)
    reduced = sums.graph(labels, voxel_size)
    seconds["attributes"] = time.perf_counter() - start
    return reduced, widest


def _write_attributes(group, graph, region_graph, width, voxel_size) -> None:
    c = region_graph.contacts
    for name, value in [
        ("volumes", region_graph.volumes),
        ("centroids", region_graph.centroids),
        ("surface_areas", region_graph.surface_areas),
        ("contact_pairs", c.pairs.astype(np.int64)),
        ("contact_areas", c.areas),
        ("contact_distances", c.distances),
    ]:
        array = group.create_array(name, shape=value.shape, dtype=value.dtype)
        if value.size:
            array[...] = value
    group.attrs.update(
        {
            "written_by": _MARK,
            "voxel_size": list(voxel_size),
            "skeleton_graph": graph.to_dict(),
            "region_graph": {k: v for k, v in region_graph.to_dict().items()},
            "partition_halo": int(width),
        }
    )
