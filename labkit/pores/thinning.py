"""3-D thinning of Lee, Kashyap & Chu (1994), voxel for voxel the same as scikit-image's.

scikit-image's ``skeletonize`` on a 3-D volume (Lee's method, scikit-image 0.26) sweeps the
whole volume once per border direction, in the order -y, +y, +x, -x, +z, -z. Each sweep first
collects, on the unchanged volume, the border voxels of its direction (foreground, with a
background face neighbour on that side) that are deletable: not an end point (exactly one
foreground 26-neighbour), Euler invariant (removing the voxel keeps the Euler characteristic
of its 3x3x3 neighbourhood, 26-connected foreground) and simple (its foreground 26-neighbours
form at most one 26-connected component). It then removes them one by one in raster order,
each only if it is still simple. Rounds of six sweeps repeat until a round removes nothing.

:func:`thin` makes the same sweeps on the same states but only visits voxels that can change.
It keeps the active voxels in a list in raster order; a voxel leaves the list when it can
no longer become a candidate before one of its 26 neighbours is removed, and returns (marked
dirty) when one is. Deletability is cached per voxel and re-tested only for dirty voxels, when
a sweep finds them on its border. The collection runs in parallel on numba threads; the
removals stay sequential, as the algorithm requires.

Each voxel has a 16-bit word: bits 0-8 hold its in-plane 3x3 neighbourhood (bit ``3 * dy +
dx``), bits 9-11 its list state. A 3x3x3 neighbourhood is then three loads, packed into a
27-bit integer (bit ``9 * dz + 3 * dy + dx``, offsets in ``{0, 1, 2}``): the connectivity test
is a bitwise flood fill and the Euler test two look-ups in a table over two layers. The Euler
table is derived here from the cubical complex (vertices - edges + faces - cubes of the union
of closed voxels); it equals column dG26 of Table 2 of Lee et al.

References
----------
T.-C. Lee, R. L. Kashyap and C.-N. Chu, Building skeleton models via 3-D medial surface/axis
thinning algorithms. CVGIP: Graphical Models and Image Processing 56(6):462-478, 1994.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from labkit._checks import check_binary_volume
from labkit.pores._threads import use_quiet_threads

__all__ = ["euler_table", "thin"]

# bits 0-8 of a voxel's uint16 word: its in-plane 3x3 neighbourhood; bits 9-11: its state
_PLANE = 0x1FF
_IN_LIST = 1 << 9  # in the active list
_DIRTY = 1 << 10  # a neighbour was removed since the voxel was last tested
_DELETABLE = 1 << 11  # deletable when last tested

_CENTER = 13
_CENTER_BIT = 1 << 4  # the voxel itself in its in-plane word
_AHEAD = 16  # entries ahead whose memory is touched early, so that misses overlap
_CUBE = (1 << 27) - 1
_RING = _CUBE & ~(1 << _CENTER)
_FACES = (1 << 4) | (1 << 10) | (1 << 12) | (1 << 14) | (1 << 16) | (1 << 22)


def _axis_mask(axis: int, value: int) -> int:
    """Bits of the 3x3x3 cube whose coordinate along ``axis`` (0 = x, 1 = y, 2 = z) is not
    ``value``."""
    mask = 0
    for bit in range(27):
        if (bit // 3**axis) % 3 != value:
            mask |= 1 << bit
    return mask


_NOT_X0, _NOT_X2 = _axis_mask(0, 0), _axis_mask(0, 2)
_NOT_Y0, _NOT_Y2 = _axis_mask(1, 0), _axis_mask(1, 2)
# 2**k mod 37 differs for k < 36: the index of a single set bit from one table look-up
_BIT_OF_POWER = np.zeros(37, dtype=np.int64)
_BIT_OF_POWER[[(1 << k) % 37 for k in range(27)]] = np.arange(27)


def _local_euler8(config: int) -> int:
    """Eight times the Euler characteristic that one lattice vertex contributes.

    ``config`` holds the 8 voxels around the vertex (bit ``4 * z + 2 * y + x``). Each voxel is
    a closed unit cube; the vertex counts once, each of its 6 edges 1/2, each of its 12
    quarter faces 1/4 and each cube 1/8.
    """
    bits = [(config >> i) & 1 for i in range(8)]
    vertices = int(config != 0)
    edges = sum(
        any(bits[i] for i in range(8) if (i >> axis) & 1 == side)
        for axis in range(3)
        for side in range(2)
    )
    faces = sum(
        bits[i] | bits[i | (1 << axis)] for i in range(8) for axis in range(3) if not i >> axis & 1
    )
    return 8 * vertices - 4 * edges + 2 * faces - sum(bits)


def euler_table() -> np.ndarray:
    """Change of the Euler characteristic when the centre voxel leaves one octant.

    Returns
    -------
    numpy.ndarray of int64, shape (8, 256)
        Entry ``[o, c]`` is 8 times the change of the local Euler characteristic (26-connected
        foreground) at the corner of the centre voxel that octant ``o`` surrounds, when the
        centre is removed from configuration ``c``. Octant ``o = 4 * oz + 2 * oy + ox`` is the
        2x2x2 block of the 3x3x3 neighbourhood starting at offsets ``(oz, oy, ox)`` in
        ``{0, 1}``; bit ``4 * z + 2 * y + x`` of ``c`` is the voxel at ``(oz + z, oy + y,
        ox + x)``. Entries whose configuration lacks the centre are 0. The centre voxel is
        deletable without changing the Euler characteristic iff the eight entries sum to 0.

    Examples
    --------
    >>> table = euler_table()
    >>> centre = 1 << 7  # octant 0 holds the centre at its far corner
    >>> int(table[0, centre]), int(table[0, centre | 1 << 6])  # alone; with a face neighbour
    (1, -1)
    """
    table = np.zeros((8, 256), dtype=np.int64)
    for octant in range(8):
        oz, oy, ox = octant >> 2 & 1, octant >> 1 & 1, octant & 1
        centre = 1 << (4 * (1 - oz) + 2 * (1 - oy) + (1 - ox))
        for config in range(256):
            if config & centre:
                table[octant, config] = _local_euler8(config) - _local_euler8(config & ~centre)
    return table


def _slab_euler_table() -> np.ndarray:
    """Euler change summed over the four octants of the lower two layers of a neighbourhood.

    Indexed by the 18 low bits of a packed neighbourhood (layers ``dz = 0, 1``); the upper four
    octants use the same table after the neighbourhood is mirrored in z.
    """
    table = euler_table()
    slab = np.arange(1 << 18, dtype=np.int64)
    total = np.zeros(slab.size, dtype=np.int64)
    for octant in range(4):
        x = slab >> (3 * (octant >> 1) + (octant & 1))
        config = (x & 3) | (x >> 1 & 0xC) | (x >> 5 & 0x30) | (x >> 6 & 0xC0)
        total += table[octant, config]
    return total.astype(np.int8)


_SLAB_EULER = _slab_euler_table()


@njit(cache=True, inline="always")
def _popcount(x):
    """Number of set bits of a non-negative int64."""
    x = x - ((x >> 1) & 0x5555555555555555)
    x = (x & 0x3333333333333333) + ((x >> 2) & 0x3333333333333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0F
    return (x * 0x0101010101010101) >> 56 & 0xFF


@njit(cache=True, inline="always")
def _neighbourhood(patch, v, sz):
    """The 27 voxels around linear index ``v`` packed into bits ``9 * dz + 3 * dy + dx``.

    ``patch[u]`` holds the 3x3 in-plane neighbourhood of voxel ``u`` in bits ``3 * dy + dx``.
    """
    return (
        np.int64(patch[v - sz] & _PLANE)
        | np.int64(patch[v] & _PLANE) << 9
        | np.int64(patch[v + sz] & _PLANE) << 18
    )


@njit(cache=True, inline="always")
def _is_euler_invariant(m, slab_euler):
    """Whether removing the centre keeps the Euler characteristic of neighbourhood ``m``."""
    upper = m >> 9
    mirrored = (upper & 0x1FF) << 9 | upper >> 9
    return slab_euler[m & 0x3FFFF] + slab_euler[mirrored] == 0


@njit(cache=True, inline="always")
def _has_one_component(ring):
    """Whether the set bits of ``ring`` (centre excluded) are 26-connected; true when empty."""
    if ring == 0:
        return True
    comp = ring & -ring
    while True:
        grown = comp | (comp << 1 & _NOT_X0) | (comp >> 1 & _NOT_X2)
        grown = grown | (grown << 3 & _NOT_Y0) | (grown >> 3 & _NOT_Y2)
        grown = (grown | grown << 9 | grown >> 9) & ring
        if grown == comp:
            return comp == ring
        comp = grown


@njit(cache=True, inline="always")
def _is_deletable(m, slab_euler):
    """Not an end point, Euler invariant and simple: the candidate test of Lee et al."""
    ring = m & _RING
    if _popcount(ring) == 1:
        return False
    return _is_euler_invariant(m, slab_euler) and _has_one_component(ring)


@njit(cache=True)
def _patches(img, patch):
    """Fill ``patch`` (flat uint16) with the in-plane 3x3 neighbourhood codes of ``img``.

    ``img`` is the padded 3-D uint8 volume; codes are written for every voxel not on the
    padding rows and columns of its plane.
    """
    nz, ny, nx = img.shape
    for z in range(nz):
        for y in range(1, ny - 1):
            base = (z * ny + y) * nx
            for x in range(1, nx - 1):
                code = 0
                for dy in range(3):
                    for dx in range(3):
                        code |= np.int64(img[z, y + dy - 1, x + dx - 1]) << (3 * dy + dx)
                patch[base + x] = code


@njit(cache=True)
def _surface(patch, sz, sy, index_like):
    """Linear indices, in raster order, of the foreground voxels with a background face
    neighbour."""
    n = 0
    for v in range(sz, patch.size - sz):
        m = _neighbourhood(patch, v, sz)
        if m >> _CENTER & 1 and m & _FACES != _FACES:
            n += 1
    out = np.empty(n, dtype=index_like.dtype)
    k = 0
    for v in range(sz, patch.size - sz):
        m = _neighbourhood(patch, v, sz)
        if m >> _CENTER & 1 and m & _FACES != _FACES:
            out[k] = v
            k += 1
    return out


@njit(cache=True, parallel=True)
def _collect(patch, active, n, border_bit, sz, slab_euler, candidates, counts):
    """Find the deletable border points of one direction among the active voxels.

    A border point of the direction has the neighbour at bit ``border_bit`` of its packed
    neighbourhood in the background. Dirty voxels are re-tested when they are border points
    of the sweep's direction; voxels that cannot become candidates before a neighbour is
    removed leave the list. ``active`` is compacted chunk by chunk: chunk ``c`` keeps
    ``counts[c, 0]`` voxels at its start and writes ``counts[c, 1]`` candidates at the same
    place of ``candidates``; ``counts[c, 2]`` only keeps the look-ahead loads. Each thread
    writes only the state bits of its own voxels; the neighbourhood bits, which other
    threads read, keep their values.
    """
    n_chunks = counts.shape[0]
    size = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        lo = min(n, c * size)
        hi = min(n, lo + size)
        kept = lo
        found = lo
        touched = 0
        for i in range(lo, hi):
            if i + _AHEAD < hi:
                w = active[i + _AHEAD]
                touched += patch[w - sz] + patch[w] + patch[w + sz]
            v = active[i]
            word = np.int64(patch[v])
            s = word & ~_PLANE
            if s & _DIRTY or not word & _CENTER_BIT:
                m = _neighbourhood(patch, v, sz)
                if not word & _CENTER_BIT or m & _FACES == _FACES:
                    s = 0  # removed, or inside: no border direction until a neighbour goes
                elif not m >> border_bit & 1:
                    s = _IN_LIST | (_DELETABLE if _is_deletable(m, slab_euler) else 0)
                    if s & _DELETABLE:
                        candidates[found] = v
                        found += 1
                    else:
                        s = 0
            elif s & _DELETABLE:
                # clean: the cached test holds; only the border neighbour is read
                if border_bit == _CENTER + 9:
                    border = patch[v + sz] & _CENTER_BIT
                elif border_bit == _CENTER - 9:
                    border = patch[v - sz] & _CENTER_BIT
                else:
                    border = word >> (border_bit - 9) & 1
                if not border:
                    candidates[found] = v
                    found += 1
            else:
                s = 0
            patch[v] = word & _PLANE | s
            if s:
                active[kept] = v
                kept += 1
        counts[c, 0] = kept - lo
        counts[c, 1] = found - lo
        counts[c, 2] = touched


@njit(cache=True)
def _concatenate(values, n, counts, column):
    """Move the chunks' leading ``counts[:, column]`` entries of ``values`` together."""
    n_chunks = counts.shape[0]
    size = (n + n_chunks - 1) // n_chunks
    w = 0
    for c in range(n_chunks):
        lo = min(n, c * size)
        for i in range(lo, lo + counts[c, column]):
            values[w] = values[i]
            w += 1
    return w


@njit(cache=True)
def _radix_sort(values, scratch, n_bits):
    """Sort ``values`` (non-negative, below ``2**n_bits``) in place; ``scratch`` as long."""
    n = values.size
    if n < 256:
        values.sort()
        return
    src, dst = values, scratch
    n_passes = 0
    shift = 0
    counts = np.empty(2048, dtype=np.int64)
    while shift < n_bits:
        counts[:] = 0
        for i in range(n):
            counts[(src[i] >> shift) & 2047] += 1
        total = 0
        for d in range(2048):
            c = counts[d]
            counts[d] = total
            total += c
        for i in range(n):
            d = (src[i] >> shift) & 2047
            dst[counts[d]] = src[i]
            counts[d] += 1
        src, dst = dst, src
        shift += 11
        n_passes += 1
    if n_passes % 2:
        values[:] = scratch


@njit(cache=True)
def _recheck(patch, candidates, fresh, sz, sy):
    """Remove, in order, the candidates whose foreground neighbours are still one component.

    A removed voxel marks its foreground 26-neighbours dirty; those not yet active are
    written to ``fresh`` (reallocated when full). Returns whether a voxel was removed,
    ``fresh``, the number of voxels written to it and the (unused) sum of the look-ahead
    loads.
    """
    offsets = np.empty(27, dtype=np.int64)
    for bit in range(27):
        offsets[bit] = (bit // 9 - 1) * sz + (bit // 3 % 3 - 1) * sy + bit % 3 - 1
    changed = False
    n_fresh = 0
    touched = 0
    for i in range(candidates.size):
        if i + _AHEAD < candidates.size:
            w = candidates[i + _AHEAD]
            touched += patch[w - sz - sy] + patch[w - sz + sy] + patch[w - sy]
            touched += patch[w + sy] + patch[w + sz - sy] + patch[w + sz + sy]
        v = candidates[i]
        ring = _neighbourhood(patch, v, sz) & _RING
        if not _has_one_component(ring):
            continue
        changed = True
        for bit in range(9):
            patch[v + offsets[9 + bit]] &= ~np.uint16(1 << (8 - bit))
        if n_fresh + 26 > fresh.size:
            fresh = _grown(fresh, n_fresh, 2 * fresh.size + 26)
        rest = ring
        while rest:
            low = rest & -rest
            rest ^= low
            u = v + offsets[_BIT_OF_POWER[low % 37]]
            word = patch[u]
            fresh[n_fresh] = u
            n_fresh += not word & _IN_LIST
            patch[u] = word | (_IN_LIST | _DIRTY)
    return changed, fresh, n_fresh, touched


@njit(cache=True)
def _grown(values, n, size):
    """A copy of ``values[:n]`` with room for ``size`` entries."""
    out = np.empty(size, dtype=values.dtype)
    out[:n] = values[:n]
    return out


@njit(cache=True)
def _merge(first, second, out):
    """Merge the sorted arrays ``first`` and ``second`` into the front of ``out``."""
    i = j = w = 0
    while i < first.size and j < second.size:
        a = first[i]
        b = second[j]
        take_first = a < b
        out[w] = a if take_first else b
        i += take_first
        j += not take_first
        w += 1
    out[w : w + first.size - i] = first[i:]
    w += first.size - i
    out[w : w + second.size - j] = second[j:]


@njit(cache=True)
def _thin_padded(img, patch, slab_euler, n_borders, index_like):
    """Thin ``img``, a uint8 volume padded with background, in place.

    ``patch`` (flat uint16, zeros) holds the voxels' words while thinning. Each
    round sweeps the border directions -y, +y, +x, -x, +z, -z (scikit-image's order);
    thinning stops after a round that removed nothing. The active voxels stay in raster
    order, so the candidates come out in raster order and memory is walked forwards.
    Index lists have the dtype of ``index_like``.
    """
    nz, ny, nx = img.shape
    sy = nx
    sz = ny * nx
    border_bits = np.array([_CENTER - 3, _CENTER + 3, _CENTER + 1, _CENTER - 1])
    border_bits = np.append(border_bits, np.array([_CENTER + 9, _CENTER - 9]))
    n_bits = 1
    while (1 << n_bits) < img.size:
        n_bits += 1
    _patches(img, patch)
    active = _surface(patch, sz, sy, index_like)
    n = active.size
    for i in range(n):
        patch[active[i]] |= _IN_LIST | _DIRTY
    spare = np.empty(n, dtype=active.dtype)
    candidates = np.empty(n, dtype=active.dtype)
    fresh = np.empty(n // 4 + 26, dtype=active.dtype)
    scratch = np.empty(fresh.size, dtype=active.dtype)
    counts = np.zeros((256, 3), dtype=np.int64)
    unchanged = 0
    while unchanged < n_borders:
        unchanged = 0
        for j in range(n_borders):
            _collect(patch, active, n, border_bits[j], sz, slab_euler, candidates, counts)
            n_candidates = _concatenate(candidates, n, counts, 1)
            n = _concatenate(active, n, counts, 0)
            changed, fresh, n_fresh, _ = _recheck(patch, candidates[:n_candidates], fresh, sz, sy)
            if not changed:
                unchanged += 1
            if n_fresh == 0:
                continue
            if scratch.size < n_fresh:
                scratch = np.empty(fresh.size, dtype=active.dtype)
            _radix_sort(fresh[:n_fresh], scratch[:n_fresh], n_bits)
            if spare.size < n + n_fresh:
                spare = np.empty(2 * (n + n_fresh), dtype=active.dtype)
            _merge(active[:n], fresh[:n_fresh], spare)
            active, spare = spare, active
            n += n_fresh
            if candidates.size < n:
                candidates = np.empty(active.size, dtype=active.dtype)
    flat = img.reshape(-1)
    for v in range(flat.size):
        flat[v] = patch[v] >> 4 & 1


def thin(volume: np.ndarray) -> np.ndarray:
    """Thin a 3-D binary volume to its curvilinear skeleton (Lee et al. 1994).

    The result is voxel for voxel the one of ``skimage.morphology.skeletonize`` on a 3-D
    volume, computed by visiting only the voxels that can change (see the module notes).
    Voxels outside the array count as background, so objects touching the border are thinned
    as if the volume were padded with background.

    The first parallel pores call picks numba's ``workqueue`` threading layer unless you chose
    one (:func:`labkit.pores._threads.use_quiet_threads`).

    Parameters
    ----------
    volume : numpy.ndarray, 3-D
        Binary volume (bool, or numbers that are all 0 or 1); ``True`` marks the foreground.
        A volume of shape ``(1, n, m)`` is treated as scikit-image treats it (as a 2-D
        image: only the four border directions -y, +y, +x, -x are swept).

    Returns
    -------
    numpy.ndarray of bool
        The skeleton, same shape as ``volume`` and a subset of it.

    Raises
    ------
    TypeError
        If ``volume`` is not a numpy array of booleans or real numbers.
    ValueError
        If ``volume`` is not 3-D or holds values other than 0 and 1.

    Notes
    -----
    Like scikit-image 0.26, the sequential re-check tests only that a voxel is still simple,
    so some shapes thin away entirely (a 4 x 4 bar, scikit-image issue #3757). A change of
    that behaviour upstream (scikit-image pull request #7718) would make the results differ;
    ``tests/test_pores_thinning.py`` compares the two on every run.

    Examples
    --------
    >>> import numpy as np
    >>> box = np.zeros((5, 9, 5), dtype=bool)
    >>> box[1:4, 1:8, 1:4] = True  # a 3 x 7 x 3 bar along y
    >>> skeleton = thin(box)
    >>> int(skeleton.sum()), int(skeleton[2, :, 2].sum())  # one voxel thick, on the axis
    (5, 5)
    """
    volume = check_binary_volume("volume", volume)
    use_quiet_threads()
    padded = np.pad(volume, 1).view(np.uint8)
    # allocated by numpy, which asks the kernel for huge pages: fewer TLB misses
    patch = np.zeros(padded.size, dtype=np.uint16)
    # 32-bit voxel indices halve the memory traffic of the lists when they are wide enough
    index_like = np.empty(0, dtype=np.int32 if padded.size < 2**31 else np.int64)
    _thin_padded(padded, patch, _SLAB_EULER, 4 if volume.shape[0] == 1 else 6, index_like)
    return padded[1:-1, 1:-1, 1:-1].astype(bool)
