"""Subfield-based parallel 3-D curve thinning: a skeleton that does not depend on the order
of visits, nor on how the volume is cut into chunks.

The voxels are split into eight parity subfields, ``(z % 2, y % 2, x % 2)``; subfield ``k`` is
the one with ``4 * (z % 2) + 2 * (y % 2) + x % 2 == k``. One iteration is eight
sub-iterations, one per subfield in the order 0, 1, ..., 7. In a sub-iteration, each foreground
voxel of the active subfield is tested on the unchanged image: if its foreground
26-neighbours form more than one component it is a curve isthmus and is anchored (kept for
good); otherwise, if it is simple and not anchored, it is deleted, all such voxels together.
No two voxels of a subfield are 26-adjacent, so the 3x3x3 neighbourhood of an active voxel holds
no other active voxel: each decision reads only voxels that the sub-iteration does not change,
the deletions commute, and deleting simple points none of which are adjacent preserves the
topology (components, tunnels and cavities; 26-connected foreground, 6-connected background).
Iterations repeat until nothing is left to delete.

This is the 8-subfield scheme of Németh, Kardos and Palágyi (2010) with the isthmus-based
curve criterion of Németh and Palágyi (2011) and of Bertrand and Couprie's critical kernels
(a 1-isthmus, once found, is part of the constraint set and never deleted). Each
sub-iteration is a parallel reduction that deletes only simple points of one subfield, which
Palágyi, Németh and Kardos (2012) prove topology preserving for (26, 6) pictures. The plain
end-point criterion (keep the voxels with one foreground neighbour) was tried first: deleting a
whole subfield of a flat face leaves single voxels standing on it, so it gave 75 end points on
the 8-branch tube network where the isthmus criterion gives the 4 built ones. The simple-point
test is the one of Lee, Kashyap and Chu (1994) that :mod:`labkit.pores.thinning` implements
(Euler invariance plus one 26-connected component of the foreground neighbours), reused here.
Unlike Lee's sequential re-check it never deletes a non-simple point, so components, cycles
and cavities are exactly those of the input (``tests/test_pores_subfield.py``).

Because each sub-iteration reads only a voxel's 3x3x3 neighbourhood, ``s`` sub-iterations
starting from a state reach at most ``s`` voxels (Chebyshev) out: a block cut out with a halo
of width ``h`` and thinned for ``h`` sub-iterations has exactly the whole-volume state on its
core, whatever happens at the block's edge. :mod:`labkit.pores.chunked` runs the thinning
that way, chunk by chunk, and gets the same skeleton voxel for voxel.

The kernel keeps, per subfield, a queue of the voxels whose neighbourhood changed since they
were last tested (at the start: the foreground voxels with a background face neighbour; an
interior voxel is never simple). A sub-iteration tests its queue in parallel (numba threads)
and then applies the deletions, queueing the foreground neighbours of each deleted voxel in
their own subfields. A voxel not queued would test as it did last time, so the queues only
skip work; they never change a decision. A queue is sorted before its sub-iteration, so memory
is walked forwards, and the deletions run in parallel too: all deleted voxels lie in planes of
one parity, each thread owns some of those planes, and between them threads only set the
"queued" bit (see :func:`_delete`). The state of a voxel is 0 (background), 1
(foreground) or 2 (anchored foreground); a block's state carries the anchors from one chunked
round to the next.

References
----------
G. Németh, P. Kardos and K. Palágyi, Topology preserving 3D thinning algorithms using four and
eight subfields. ICIAR 2010, LNCS 6111:316-325, 2010.

G. Németh and K. Palágyi, 3D parallel thinning algorithms based on isthmuses. ACIVS 2011,
LNCS 6915:325-335, 2011.

K. Palágyi, G. Németh and P. Kardos, Topology preserving parallel 3D thinning algorithms. In
Digital Geometry Algorithms, LNCVB 2:165-188, Springer, 2012.

G. Bertrand and M. Couprie, New 3D parallel thinning algorithms based on critical kernels.
DGCI 2006, LNCS 4245:580-591; and M. Couprie and G. Bertrand, New characterizations of simple
points in 2D, 3D and 4D discrete spaces. IEEE TPAMI 31(4):637-648, 2009.

T.-C. Lee, R. L. Kashyap and C.-N. Chu, Building skeleton models via 3-D medial surface/axis
thinning algorithms. CVGIP: Graphical Models and Image Processing 56(6):462-478, 1994.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

from labkit._checks import check_binary_volume, check_int
from labkit.pores._threads import use_quiet_threads
from labkit.pores.thinning import (
    _BIT_OF_POWER,
    _CENTER_BIT,
    _DELETABLE,
    _DIRTY,
    _FACES,
    _RING,
    _SLAB_EULER,
    _has_one_component,
    _is_euler_invariant,
    _neighbourhood,
    _patches,
    _radix_sort,
)

__all__ = ["N_SUBFIELDS", "thin_block", "thin_subfield"]

N_SUBFIELDS = 8
_ANCHOR = _DELETABLE  # bit 11 of a voxel's word: a curve isthmus once, kept for good
_LOCAL = 1 << 20  # room (all threads) per subfield for the voxels queued by one _delete call
# subfield of the 26-neighbour at packed bit ``b`` = own subfield ^ _FLIP[b] (odd offsets flip)
_FLIP = np.array(
    [((b // 9 - 1) & 1) << 2 | ((b // 3 % 3 - 1) & 1) << 1 | (b % 3 - 1) & 1 for b in range(27)],
    dtype=np.int64,
)


@njit(cache=True, inline="always")
def _subfield(z, y, x, parity):
    """Subfield of padded index ``(z, y, x)``; ``parity`` is the global parity of index 0."""
    return ((z + parity[0]) & 1) << 2 | ((y + parity[1]) & 1) << 1 | (x + parity[2]) & 1


@njit(cache=True, parallel=True)
def _initial_queues(patch, shape, parity, index_like):
    """Foreground voxels with a background face neighbour, split by subfield and marked dirty.

    Returns ``(queues, lengths)``: ``queues[k, :lengths[k]]`` are the linear indices (in
    raster order) of subfield ``k``; ``parity`` is the global parity of padded index 0 per axis.
    Planes are counted, then filled, in parallel: a thread marks only voxels of its planes.
    """
    nz, ny, nx = shape
    sz = ny * nx
    counts = np.zeros((nz, N_SUBFIELDS), dtype=np.int64)
    for z in prange(1, nz - 1):
        for y in range(1, ny - 1):
            for x in range(1, nx - 1):
                v = (z * ny + y) * nx + x
                m = _neighbourhood(patch, v, sz)
                if m >> 13 & 1 and m & _FACES != _FACES:
                    counts[z, _subfield(z, y, x, parity)] += 1
    starts = np.zeros((nz, N_SUBFIELDS), dtype=np.int64)
    lengths = np.zeros(N_SUBFIELDS, dtype=np.int64)
    for z in range(nz):
        for k in range(N_SUBFIELDS):
            starts[z, k] = lengths[k]
            lengths[k] += counts[z, k]
    cap = max(16, lengths.max() * 2)
    queues = np.empty((N_SUBFIELDS, cap), dtype=index_like.dtype)
    for z in prange(1, nz - 1):
        at = starts[z].copy()
        for y in range(1, ny - 1):
            for x in range(1, nx - 1):
                v = (z * ny + y) * nx + x
                m = _neighbourhood(patch, v, sz)
                if m >> 13 & 1 and m & _FACES != _FACES:
                    k = _subfield(z, y, x, parity)
                    queues[k, at[k]] = v
                    at[k] += 1
                    patch[v] |= _DIRTY
    return queues, lengths


@njit(cache=True, parallel=True)
def _foreground(flat, fg):
    """``fg`` = 1 where the state ``flat`` is foreground (1 or 2), else 0."""
    for v in prange(flat.size):
        fg[v] = flat[v] != 0


@njit(cache=True, parallel=True)
def _mark_anchors(flat, patch):
    """Set the anchor bit of the voxels whose state is 2."""
    for v in prange(flat.size):
        if flat[v] == 2:
            patch[v] |= _ANCHOR


@njit(cache=True, parallel=True)
def _write_state(patch, flat):
    """The state of every voxel from its word: 0, 1 or 2 (anchored)."""
    for v in prange(flat.size):
        word = patch[v]
        flat[v] = (word >> 4 & 1) * (1 + (word >> 11 & 1))


@njit(cache=True, parallel=True)
def _test(patch, queue, n, sz, slab_euler, deletable, owner, n_threads):
    """``deletable[i]`` = whether queued voxel ``queue[i]`` is simple and not anchored now;
    queued voxels that are curve isthmuses are anchored; ``owner[i]`` = the thread that
    deletes it (by its plane, see :func:`_delete`).

    Every queued voxel is of the active subfield, so no voxel of this loop lies in another's
    neighbourhood: the reads see voxels no thread writes, and each thread writes the state
    bits of its own voxels only (a voxel queued twice gets the same word twice). A voxel whose
    six face neighbours are all foreground is neither simple (removing it would open a
    cavity) nor an isthmus (its neighbours are one component): it is passed over without the
    two tests.
    """
    for i in prange(n):
        v = queue[i]
        word = patch[v]
        word = word & ~np.uint16(_DIRTY)
        deletable[i] = False
        if word & _CENTER_BIT and not word & _ANCHOR:
            m = _neighbourhood(patch, v, sz)
            if m & _FACES != _FACES:
                if not _has_one_component(m & _RING):
                    word = word | np.uint16(_ANCHOR)
                elif _is_euler_invariant(m, slab_euler):
                    deletable[i] = True
                    owner[i] = (v // sz >> 1) % n_threads
        patch[v] = word


@njit(cache=True, parallel=True)
def _delete(patch, queue, n, deletable, owner, k, sz, offsets, local, local_len, start, done):
    """Delete the flagged voxels of ``queue`` (subfield ``k``), thread ``t`` those of
    ``owner == t``; each queues the foreground neighbours of its deletions in ``local[t, j]``
    for their subfield ``j``. Returns the number of voxels deleted.

    All deleted voxels lie in planes of one parity. A deletion clears bits of in-plane words of
    its own plane, which only its owner touches, and sets the dirty bit of its neighbours in
    the two planes around, which other threads may set too but never clear: the words end up
    the same whatever the interleaving (two threads may both queue a voxel; the copy is tested
    to the same word and deleted once). The subfield of a neighbour is ``k`` with the parity of
    each odd offset flipped (``_FLIP``), so no index is divided. A thread whose local queues
    are nearly full stops and records where (``start[t]``); the caller empties them and calls
    again until ``done``.
    """
    n_threads = local.shape[0]
    cap = local.shape[2]
    deleted = np.zeros(n_threads, dtype=np.int64)
    for t in prange(n_threads):
        i = start[t]
        used = 0
        while i < n:
            if deletable[i] and owner[i] == t:
                v = queue[i]
                if patch[v] & _CENTER_BIT:
                    if used + 26 > cap:
                        break
                    ring = _neighbourhood(patch, v, sz) & _RING
                    for bit in range(9):
                        patch[v + offsets[9 + bit]] &= ~np.uint16(1 << (8 - bit))
                    deleted[t] += 1
                    rest = ring
                    while rest:
                        low = rest & -rest
                        rest ^= low
                        bit = _BIT_OF_POWER[low % 37]
                        u = v + offsets[bit]
                        word = patch[u]
                        if word & _DIRTY:
                            continue
                        patch[u] = word | _DIRTY
                        j = k ^ _FLIP[bit]
                        local[t, j, local_len[t, j]] = u
                        local_len[t, j] += 1
                        used += 1
            i += 1
        start[t] = i
        done[t] = i >= n
    return deleted.sum()


@njit(cache=True)
def _append(queues, lengths, local, local_len):
    """Move the threads' local queues to the end of ``queues``; return ``queues`` (grown
    when full)."""
    for j in range(N_SUBFIELDS):
        need = lengths[j] + local_len[:, j].sum()
        if need > queues.shape[1]:
            grown = np.empty((N_SUBFIELDS, 2 * need), dtype=queues.dtype)
            for i in range(N_SUBFIELDS):
                grown[i, : lengths[i]] = queues[i, : lengths[i]]
            queues = grown
        for t in range(local.shape[0]):
            m = local_len[t, j]
            queues[j, lengths[j] : lengths[j] + m] = local[t, j, :m]
            lengths[j] += m
            local_len[t, j] = 0
    return queues


@njit(cache=True)
def _thin_padded(state, patch, slab_euler, parity, phase, steps, index_like, n_threads, room):
    """Thin ``state`` (uint8, padded with background) in place for ``steps`` sub-iterations.

    ``state`` is 0 on background, 1 on foreground and 2 on anchored foreground (a curve
    isthmus, kept for good). Sub-iteration ``t`` processes subfield ``(phase + t) % 8``;
    ``steps < 0`` runs until no voxel is left to test (the fixed point). Deletions are split
    over ``n_threads`` plane owners with ``room`` entries per thread and subfield of local
    queue. Returns the number of voxels deleted.
    """
    shape = state.shape
    sz = shape[1] * shape[2]
    flat = state.reshape(-1)
    foreground = np.empty(state.shape, dtype=np.uint8)
    fg = foreground.reshape(-1)
    _foreground(flat, fg)
    _patches(foreground, patch)
    _mark_anchors(flat, patch)
    queues, lengths = _initial_queues(patch, shape, parity, index_like)
    offsets = np.empty(27, dtype=np.int64)
    for bit in range(27):
        offsets[bit] = (bit // 9 - 1) * sz + (bit // 3 % 3 - 1) * shape[2] + bit % 3 - 1
    deletable = np.empty(queues.shape[1], dtype=np.bool_)
    owner = np.empty(queues.shape[1], dtype=np.int64)
    scratch = np.empty(queues.shape[1], dtype=queues.dtype)
    n_bits = 1
    while (1 << n_bits) < flat.size:
        n_bits += 1
    local = np.empty((n_threads, N_SUBFIELDS, room), dtype=queues.dtype)
    local_len = np.zeros((n_threads, N_SUBFIELDS), dtype=np.int64)
    start = np.zeros(n_threads, dtype=np.int64)
    done = np.zeros(n_threads, dtype=np.bool_)
    total = 0
    t = 0
    while steps < 0 or t < steps:
        if lengths.sum() == 0:
            break
        k = (phase + t) % N_SUBFIELDS
        n = lengths[k]
        if n:
            queue = queues[k, :n].copy()
            if deletable.size < n:
                deletable = np.empty(2 * n, dtype=np.bool_)
                owner = np.empty(2 * n, dtype=np.int64)
                scratch = np.empty(2 * n, dtype=queues.dtype)
            # raster order: the tests and deletions walk memory forwards
            _radix_sort(queue, scratch[:n], n_bits)
            _test(patch, queue, n, sz, slab_euler, deletable, owner, n_threads)
            lengths[k] = 0
            start[:] = 0
            done[:] = False
            while not done.all():
                total += _delete(
                    patch, queue, n, deletable, owner, k, sz, offsets, local, local_len, start,
                    done,
                )
                queues = _append(queues, lengths, local, local_len)
        t += 1
    _write_state(patch, flat)
    return total


def _run(state: np.ndarray, origin, phase: int, steps: int) -> tuple[np.ndarray, int]:
    """Thin a uint8 state block (0 background, 1 foreground, 2 anchored); see
    :func:`_thin_padded`."""
    use_quiet_threads()
    padded = np.pad(state, 1)
    patch = np.zeros(padded.size, dtype=np.uint16)
    index_like = np.empty(0, dtype=np.int32 if padded.size < 2**31 else np.int64)
    # global parity of padded index 0 (one voxel before ``origin``) along each axis
    parity = np.array([(o - 1) & 1 for o in origin], dtype=np.int64)
    n_threads = get_num_threads()
    room = max(32, _LOCAL // n_threads)  # a thread's local queue: one deletion's 26 and more
    deleted = _thin_padded(
        padded, patch, _SLAB_EULER, parity, phase, steps, index_like, n_threads, room
    )
    return padded[1:-1, 1:-1, 1:-1], int(deleted)


def thin_subfield(volume: np.ndarray) -> np.ndarray:
    """Thin a 3-D binary volume to a curve skeleton by 8-subfield parallel thinning.

    The result depends only on the volume: not on the order in which voxels are visited, the
    number of threads, nor (through :func:`labkit.pores.chunked.thin_chunked`) on how the
    volume is cut into chunks. Voxels outside the array count as background.

    Parameters
    ----------
    volume : numpy.ndarray, 3-D
        Binary volume (bool, or numbers that are all 0 or 1); ``True`` marks the foreground.

    Returns
    -------
    numpy.ndarray of bool
        The skeleton, same shape as ``volume`` and a subset of it: every voxel left is not
        simple or was a curve isthmus. Its components, independent cycles and cavities are
        those of ``volume``. Free ends are shorter than Lee's (the isthmus criterion keeps no
        end point, only curve voxels once they are one voxel thin).

    Examples
    --------
    >>> import numpy as np
    >>> box = np.zeros((5, 17, 5), dtype=bool)
    >>> box[1:4, 1:16, 1:4] = True  # a 3 x 15 x 3 bar along y
    >>> skeleton = thin_subfield(box)  # on the axis; free ends shrink by 3 voxels here
    >>> int(skeleton.sum()), int(skeleton[2, :, 2].sum())
    (9, 9)
    >>> ring = np.zeros((3, 9, 9), dtype=bool)
    >>> ring[1, 2:7, 2:7] = True
    >>> ring[1, 4, 4] = False  # a square ring: one tunnel, kept
    >>> skel = thin_subfield(ring)
    >>> bool(skel[1, 4, 4]), int(skel.sum()) >= 4
    (False, True)
    """
    volume = check_binary_volume("volume", volume)
    return _run(volume.view(np.uint8), (0, 0, 0), 0, -1)[0] != 0


def thin_block(
    state: np.ndarray, origin: tuple[int, int, int], phase: int, steps: int
) -> tuple[np.ndarray, int]:
    """Run ``steps`` sub-iterations of :func:`thin_subfield` on a block of a larger volume.

    Parameters
    ----------
    state : numpy.ndarray of uint8, 3-D
        The block's voxels in their current state: 0 background, 1 foreground, 2 anchored
        foreground (a curve isthmus, never deleted). A boolean volume is the state before the
        first sub-iteration. Voxels outside the block count as background.
    origin : 3 ints
        Global index of ``state[0, 0, 0]``: it fixes each voxel's subfield.
    phase : int
        Global index of the first sub-iteration (its subfield is ``phase % 8``).
    steps : int
        Sub-iterations to run; voxels at least ``steps`` voxels from the block's faces (that
        are not faces of the whole volume) come out exactly as the whole-volume thinning
        leaves them after sub-iteration ``phase + steps - 1``.

    Returns
    -------
    (numpy.ndarray of uint8, int)
        The block's new state and the number of voxels it deleted (halo included).

    Examples
    --------
    >>> import numpy as np
    >>> box = np.zeros((7, 7, 7), dtype=bool)
    >>> box[1:6, 1:6, 1:6] = True
    >>> whole = thin_subfield(box)
    >>> part, _ = thin_block(box, (0, 0, 0), 0, 10_000)  # run long enough: the fixed point
    >>> bool(((part != 0) == whole).all())
    True
    """
    if isinstance(state, np.ndarray) and state.dtype == bool:
        state = state.view(np.uint8)
    if not isinstance(state, np.ndarray) or state.dtype != np.uint8 or state.ndim != 3:
        raise TypeError("state must be a 3-D uint8 (0, 1, 2) or boolean numpy array")
    if state.size and state.max() > 2:
        raise ValueError(f"state must hold 0, 1 or 2 only, got {int(state.max())}")
    steps = check_int("steps", steps, minimum=0)
    phase = check_int("phase", phase, minimum=0)
    if len(origin) != 3:
        raise ValueError(f"origin must have 3 entries, got {len(origin)}")
    origin = tuple(check_int(f"origin[{i}]", o, minimum=0) for i, o in enumerate(origin))
    return _run(state, origin, phase % N_SUBFIELDS, steps)
