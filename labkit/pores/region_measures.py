"""Per-label measures of a label image in one pass over its voxels, and face-connected splits.

:func:`label_measures` counts, for every label, its voxels, the sum of their coordinates, its
faces to solid (label 0) per axis, and for every pair of touching labels the faces they share per
axis. :func:`split_labels` finds the labels whose voxels form more than one face-connected piece
(union-find over the runs of equal labels along the last axis, joined where they overlap in the
next row or plane). Both are numba loops over the image, so no per-face temporary arrays are
built.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["label_measures", "split_labels"]

_EMPTY = -1
_GOLDEN = np.int64(-7046029254386353131)  # 0x9E3779B97F4A7C15 as a signed 64-bit integer


@numba.njit(cache=True, nogil=True)
def _slot(keys, key):
    """Slot of ``key`` in the open-addressing table ``keys`` (its own, or the empty one)."""
    mask = len(keys) - 1
    i = ((key * _GOLDEN) >> 29) & mask
    while keys[i] != _EMPTY and keys[i] != key:
        i = (i + 1) & mask
    return i


@numba.njit(cache=True, nogil=True)
def _grow(keys, faces):
    new_keys = np.full(2 * len(keys), _EMPTY, dtype=np.int64)
    new_faces = np.zeros((2 * len(keys), 3), dtype=np.int64)
    for i in range(len(keys)):
        if keys[i] != _EMPTY:
            j = _slot(new_keys, keys[i])
            new_keys[j] = keys[i]
            new_faces[j] = faces[i]
    return new_keys, new_faces


@numba.njit(cache=True, nogil=True)
def _insert(keys, faces, key, axis):
    """Count one face of pair ``key`` along ``axis``; 1 if the pair is new, else 0."""
    i = _slot(keys, key)
    faces[i, axis] += 1
    if keys[i] == _EMPTY:
        keys[i] = key
        return 1
    return 0


@numba.njit(cache=True, nogil=True)
def _face(a, b, axis, stride, solid, keys, faces):
    """Count the face between labels ``a`` and ``b`` along ``axis``: to solid, or to a pair
    (1 if the pair is new, else 0)."""
    if a == b:
        return 0
    if b == 0:
        solid[a, axis] += 1
        return 0
    if a == 0:
        solid[b, axis] += 1
        return 0
    return _insert(keys, faces, min(a, b) * stride + max(a, b), axis)


@numba.njit(cache=True, nogil=True)
def _measure_rows(labels, z0, y0, z1, n, counts, sums, solid, keys, faces, used):
    """Measure rows from ``(z0, y0)`` up to plane ``z1`` (faces to the next row and plane
    included) until the pair table could fill past half; return where it stopped.

    The pair table is open addressing on ``keys`` (``a * (n + 1) + b`` for ``a < b``) with the
    face counts per axis in ``faces``; the caller grows it and resumes.
    """
    nz, ny, nx = labels.shape
    stride = n + 1
    for z in range(z0, z1):
        for y in range(y0 if z == z0 else 0, ny):
            if 2 * (used + 3 * nx) > len(keys):
                return z, y, used
            row = labels[z, y]
            for x in range(nx):
                a = np.int64(row[x])
                if a > 0:
                    counts[a] += 1
                    sums[a, 0] += z
                    sums[a, 1] += y
                    sums[a, 2] += x
                if x + 1 < nx:
                    used += _face(a, np.int64(row[x + 1]), 2, stride, solid, keys, faces)
            if y + 1 < ny:
                below = labels[z, y + 1]
                for x in range(nx):
                    used += _face(
                        np.int64(row[x]), np.int64(below[x]), 1, stride, solid, keys, faces
                    )
            if z + 1 < nz:
                behind = labels[z + 1, y]
                for x in range(nx):
                    used += _face(
                        np.int64(row[x]), np.int64(behind[x]), 0, stride, solid, keys, faces
                    )
    return z1, 0, used


@numba.njit(cache=True, nogil=True)
def _measure(labels, n):
    nz = labels.shape[0]
    counts = np.zeros(n + 1, dtype=np.int64)
    sums = np.zeros((n + 1, 3), dtype=np.int64)
    solid = np.zeros((n + 1, 3), dtype=np.int64)
    keys = np.full(1 << 12, _EMPTY, dtype=np.int64)
    faces = np.zeros((1 << 12, 3), dtype=np.int64)
    z, y, used = 0, 0, 0
    while True:
        z, y, used = _measure_rows(labels, z, y, nz, n, counts, sums, solid, keys, faces, used)
        if z >= nz:
            return counts, sums, solid, keys, faces
        keys, faces = _grow(keys, faces)


def label_measures(labels: np.ndarray, n: int):
    """Voxel counts, coordinate sums, faces to solid and faces between labels, per axis.

    Parameters
    ----------
    labels : numpy.ndarray of int, 3-D
        0 on solid, labels ``1..n`` elsewhere.
    n : int
        The largest label.

    Returns
    -------
    counts : numpy.ndarray, shape (n,)
        Voxels of each label.
    coordinate_sums : numpy.ndarray, shape (n, 3)
        Sum of the voxel coordinates of each label (exact integers).
    solid_faces : numpy.ndarray, shape (n, 3)
        Faces between each label and solid, per axis.
    pairs : numpy.ndarray, shape (m, 2)
        Touching labels ``a < b`` in lexicographic order.
    pair_faces : numpy.ndarray, shape (m, 3)
        Faces each pair shares, per axis.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([[[1, 1, 2, 0]]], np.int32)
    >>> counts, sums, solid, pairs, faces = label_measures(labels, 2)
    >>> counts.tolist(), sums[:, 2].tolist(), solid.tolist(), pairs.tolist(), faces.tolist()
    ([2, 1], [1, 2], [[0, 0, 0], [0, 0, 1]], [[1, 2]], [[0, 0, 1]])
    """
    counts, sums, solid, keys, faces = _measure(np.ascontiguousarray(labels), n)
    used = np.flatnonzero(keys != _EMPTY)
    order = used[np.argsort(keys[used])]
    pairs = np.stack([keys[order] // (n + 1), keys[order] % (n + 1)], axis=1)
    return counts[1:], sums[1:], solid[1:], pairs, faces[order]


@numba.njit(cache=True, nogil=True)
def _row_runs(labels):
    """Runs of equal non-zero labels along axis 2: row offsets, first and end x, and label."""
    nz, ny, nx = labels.shape
    row_start = np.zeros(nz * ny + 1, dtype=np.int64)
    for z in range(nz):
        for y in range(ny):
            row = labels[z, y]
            count = 0
            for x in range(nx):
                if row[x] != 0 and (x == 0 or row[x - 1] != row[x]):
                    count += 1
            row_start[z * ny + y + 1] = count
    row_start = np.cumsum(row_start)
    first = np.empty(row_start[-1], dtype=np.int32)
    end = np.empty(row_start[-1], dtype=np.int32)
    label = np.empty(row_start[-1], dtype=labels.dtype)
    for z in range(nz):
        for y in range(ny):
            row = labels[z, y]
            k = row_start[z * ny + y] - 1
            for x in range(nx):
                if row[x] != 0:
                    if x == 0 or row[x - 1] != row[x]:
                        k += 1
                        first[k] = x
                        label[k] = row[x]
                    end[k] = x + 1
    return row_start, first, end, label


@numba.njit(cache=True, nogil=True)
def _root(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@numba.njit(cache=True, nogil=True)
def _union_rows(parent, first, end, label, a0, a1, b0, b1):
    """Join the runs ``a0:a1`` of one row with the overlapping same-label runs ``b0:b1`` of a
    face-adjacent row (the smaller index becomes the root)."""
    i, j = a0, b0
    while i < a1 and j < b1:
        if first[i] < end[j] and first[j] < end[i] and label[i] == label[j]:
            ri, rj = _root(parent, i), _root(parent, j)
            if ri < rj:
                parent[rj] = ri
            elif rj < ri:
                parent[ri] = rj
        if end[i] < end[j]:
            i += 1
        else:
            j += 1


@numba.njit(cache=True, nogil=True)
def _split(labels, n):
    nz, ny, nx = labels.shape
    row_start, first, end, label = _row_runs(labels)
    parent = np.arange(len(first), dtype=np.int64)
    for z in range(nz):
        for y in range(ny):
            r = z * ny + y
            if y > 0:
                _union_rows(
                    parent, first, end, label, row_start[r], row_start[r + 1],
                    row_start[r - 1], row_start[r],
                )  # fmt: skip
            if z > 0:
                _union_rows(
                    parent, first, end, label, row_start[r], row_start[r + 1],
                    row_start[r - ny], row_start[r - ny + 1],
                )  # fmt: skip
    first_root = np.full(n + 1, -1, dtype=np.int64)
    split = np.zeros(n + 1, dtype=np.bool_)
    for i in range(len(parent)):
        root = parent[parent[i]]
        parent[i] = root
        a = label[i]
        if first_root[a] < 0:
            first_root[a] = root
        elif first_root[a] != root:
            split[a] = True
    return split


def split_labels(labels: np.ndarray) -> np.ndarray:
    """Labels whose voxels form more than one face-connected piece.

    Parameters
    ----------
    labels : numpy.ndarray of int, 3-D
        0 on solid.

    Returns
    -------
    numpy.ndarray
        The split labels in increasing order, in the dtype of ``labels``.

    Examples
    --------
    >>> import numpy as np
    >>> split_labels(np.array([[[1, 1, 0, 1, 2, 2]]], np.int32)).tolist()
    [1]
    """
    labels = np.ascontiguousarray(labels)
    split = _split(labels, int(labels.max()))
    return np.flatnonzero(split).astype(labels.dtype)
