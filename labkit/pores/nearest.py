"""Label of the nearest seed voxel: an exact Euclidean feature transform that carries labels.

The squared distance to the nearest seed is separable, ``min_s sum_d w_d (x_d - s_d)^2`` with
``w_d`` the squared voxel size along axis ``d``, so it is computed one axis at a time (Felzenszwalb
& Huttenlocher 2012): along axis 0 it is the nearest seed of the same ``(y, x)`` column, looked up
in the sorted seed list; along axes 1 and 2 it is the lower envelope of parabolas. Each step carries
the label of the minimiser with the distance. The work goes one plane of axis 0 at a time, planes in
parallel (numba), so the only full-size array is the output: no seed image, no distance image, no
``3 x N`` index array as in :func:`scipy.ndimage.distance_transform_edt`.
"""

from __future__ import annotations

import numba
import numpy as np

from labkit.pores._threads import use_quiet_threads
from labkit.pores.io import check_voxel_size

__all__ = ["nearest_seed_labels"]

_TILE = 16


@numba.njit(cache=True, nogil=True)
def _envelope(f, n, weight, v, z):
    """Lower envelope of the parabolas ``f[p] + weight (q - p)^2`` over the finite ``f[p]``.

    Parabola ``v[i]`` is lowest for ``z[i] <= q <= z[i + 1]``; returns the number of parabolas.
    """
    k = -1
    for q in range(n):
        if f[q] == np.inf:
            continue
        fq = f[q] + weight * q * q
        s = -np.inf
        while k >= 0:
            p = v[k]
            s = (fq - (f[p] + weight * p * p)) / (2.0 * weight * (q - p))
            if s <= z[k]:
                k -= 1
            else:
                break
        k += 1
        v[k] = q
        z[k] = s if k > 0 else -np.inf
    z[k + 1] = np.inf
    return k + 1


@numba.njit(cache=True, nogil=True)
def _column_distances(zz, column_start, seed_z, seed_label, weight, following, plane_f, plane_lab):
    """Squared distance and label of the nearest seed in each ``(y, x)`` column to plane ``zz``.

    ``following[c]`` is the first seed of column ``c`` at or after the previous plane; planes
    must come in increasing order.
    """
    ny, nx = plane_f.shape
    for y in range(ny):
        for x in range(nx):
            c = y * nx + x
            start, stop = column_start[c], column_start[c + 1]
            if start == stop:
                plane_f[y, x] = np.inf
                continue
            i = following[c]
            while i < stop and seed_z[i] < zz:
                i += 1
            following[c] = i
            if i == stop or (i > start and zz - seed_z[i - 1] <= seed_z[i] - zz):
                i -= 1
            plane_f[y, x] = weight * (zz - seed_z[i]) ** 2
            plane_lab[y, x] = seed_label[i]


@numba.njit(cache=True, nogil=True)
def _envelope_columns(plane_f, plane_lab, weight, f, lab, v, z):
    """Lower-envelope pass along axis 0 of the plane, in place, ``_TILE`` columns at a time
    (copied into the contiguous buffers ``f`` and ``lab``, so that reads take whole cache
    lines)."""
    ny, nx = plane_f.shape
    for x0 in range(0, nx, _TILE):
        width = min(_TILE, nx - x0)
        for y in range(ny):
            for t in range(width):
                f[t, y] = plane_f[y, x0 + t]
                lab[t, y] = plane_lab[y, x0 + t]
        for t in range(width):
            if _envelope(f[t], ny, weight, v, z) == 0:
                continue
            j = 0
            for y in range(ny):
                while z[j + 1] < y:
                    j += 1
                p = v[j]
                plane_f[y, x0 + t] = f[t, p] + weight * (y - p) ** 2
                plane_lab[y, x0 + t] = lab[t, p]


@numba.njit(cache=True, nogil=True)
def _envelope_rows(plane_f, plane_lab, weight, mask, out, distance, want_distance, v, z):
    """Labels (and, if ``want_distance``, distances) along axis 1 of the plane from its lower
    envelopes, 0 outside ``mask``."""
    ny, nx = plane_f.shape
    for y in range(ny):
        count = _envelope(plane_f[y], nx, weight, v, z)
        j = 0
        for x in range(nx):
            if count == 0 or not mask[y, x]:
                out[y, x] = 0
                if want_distance:
                    distance[y, x] = np.inf if mask[y, x] else 0.0
                continue
            while z[j + 1] < x:
                j += 1
            out[y, x] = plane_lab[y, v[j]]
            if want_distance:
                distance[y, x] = np.sqrt(plane_f[y, v[j]] + weight * (x - v[j]) ** 2)


@numba.njit(parallel=True, cache=True, nogil=True)
def _nearest(out, distance, mask, column_start, seed_z, seed_label, weights, n_chunks):
    nz, ny, nx = out.shape
    n = max(ny, nx)
    want = distance.shape == out.shape
    for chunk in numba.prange(n_chunks):
        z0, z1 = chunk * nz // n_chunks, (chunk + 1) * nz // n_chunks
        following = column_start[:-1].copy()
        plane_f = np.empty((ny, nx))
        plane_lab = np.zeros((ny, nx), dtype=out.dtype)
        f = np.empty((_TILE, ny))
        lab = np.zeros((_TILE, ny), dtype=out.dtype)
        v = np.empty(n, dtype=np.int64)
        z = np.empty(n + 1)
        for zz in range(z0, z1):
            _column_distances(
                zz, column_start, seed_z, seed_label, weights[0], following, plane_f, plane_lab
            )
            _envelope_columns(plane_f, plane_lab, weights[1], f, lab, v, z)
            _envelope_rows(
                plane_f, plane_lab, weights[2], mask[zz], out[zz],
                distance[zz if want else 0], want, v, z,
            )


def nearest_seed_labels(
    coords: np.ndarray,
    values: np.ndarray,
    shape: tuple[int, int, int],
    voxel_size=1.0,
    mask: np.ndarray | None = None,
    return_distance: bool = False,
):
    """Give every voxel the label of its nearest seed voxel (exact Euclidean distance).

    Parameters
    ----------
    coords : numpy.ndarray of int, shape (m, 3)
        Seed voxels (at least one), inside ``shape``.
    values : numpy.ndarray of int, shape (m,)
        Label of each seed voxel.
    shape : 3 ints
        Shape of the image to label.
    voxel_size : float or 3 floats
        Voxel size per axis; nearest means nearest in physical distance.
    mask : numpy.ndarray of bool, optional
        Label only these voxels and set the others to 0 (seeds may lie anywhere).
    return_distance : bool
        Also return each voxel's distance to its nearest seed.

    Returns
    -------
    labels : numpy.ndarray of int32
        The label of a nearest seed voxel (0 outside ``mask``). Where several seeds are equally
        near, any one of them is taken.
    distance : numpy.ndarray of float32, only with ``return_distance``
        The physical distance to that seed (0 outside ``mask``), the distance
        :func:`scipy.ndimage.distance_transform_edt` gives to the nearest seed, rounded to
        float32.

    Examples
    --------
    >>> import numpy as np
    >>> coords, values = np.array([[0, 0, 1], [0, 0, 5]]), np.array([1, 2])
    >>> nearest_seed_labels(coords, values, (1, 1, 7))[0, 0].tolist()
    [1, 1, 1, 1, 2, 2, 2]
    >>> mask = np.array([[[1, 1, 1, 0, 1, 1, 1]]], bool)
    >>> nearest_seed_labels(coords, values, (1, 1, 7), mask=mask)[0, 0].tolist()
    [1, 1, 1, 0, 2, 2, 2]

    Short voxels along the last axis bring seeds along it nearer:

    >>> labels, distance = nearest_seed_labels(coords, values, (1, 1, 7), return_distance=True)
    >>> distance[0, 0].tolist()
    [1.0, 0.0, 1.0, 2.0, 1.0, 0.0, 1.0]

    >>> corners = np.array([[0, 0, 3], [0, 3, 0]])
    >>> nearest_seed_labels(corners, values, (1, 4, 4), voxel_size=(1, 1, 0.5))[0].tolist()
    [[1, 1, 1, 1], [1, 1, 1, 1], [2, 2, 2, 2], [2, 2, 2, 2]]
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be 3 positive ints, got {shape}")
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] != 3 or len(coords) == 0:
        raise ValueError(f"coords must have shape (m, 3) with m >= 1, got {coords.shape}")
    if not np.issubdtype(coords.dtype, np.integer):
        raise TypeError(f"coords must be integers, got dtype {coords.dtype}")
    if np.any(coords < 0) or np.any(coords >= shape):
        raise ValueError(f"coords must lie inside shape {shape}")
    values = np.asarray(values)
    if values.shape != (len(coords),) or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"values must hold one integer per seed, got shape {values.shape}")
    weights = np.asarray(check_voxel_size(voxel_size), dtype=float) ** 2
    if mask is None:
        mask = np.ones(shape, dtype=bool)
    if not isinstance(mask, np.ndarray) or mask.shape != shape or mask.dtype != bool:
        raise ValueError(f"mask must be a boolean array of shape {shape}")
    columns = coords[:, 1].astype(np.int64) * shape[2] + coords[:, 2]
    order = np.lexsort((coords[:, 0], columns))
    column_start = np.searchsorted(columns[order], np.arange(shape[1] * shape[2] + 1))
    out = np.empty(shape, dtype=np.int32)
    distance = np.empty(shape if return_distance else (1, 1, 1), dtype=np.float32)
    use_quiet_threads()  # before get_num_threads, which starts numba's threading layer
    n_chunks = min(shape[0], 4 * numba.get_num_threads())
    _nearest(
        out,
        distance,
        np.ascontiguousarray(mask),
        column_start,
        coords[order, 0].astype(np.int64),
        values[order].astype(np.int32),
        weights,
        n_chunks,
    )
    return (out, distance) if return_distance else out
