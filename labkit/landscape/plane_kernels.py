"""numba kernels for :mod:`.mlp_plane` on the CPU: exponentials, first activation, cross-entropy.

A grid point of an MLP's loss plane costs three things per sample: the first activation over
the hidden units, the later layers' products and the cross-entropy over the classes. torch runs
the first and the last as several elementwise passes each (an addition, a multiply-add and a
division; a gather, a subtraction, ``exp2``, a sum and ``log2``), each pass reading and writing
the whole chunk. Here each is one pass over memory; the products stay with BLAS
(``torch.baddbmm``, twice as fast here as numba's ``np.dot`` on these shapes). Per grid point
on 1797 digits, 32 hidden units and 10 classes (2-core CPU, 1 thread, chunks of 11 points):
activation 14-15 us against 27 us, cross-entropy 12-16 us against 32-38 us; the row factors and
the table of exponentials take 3 ms in all for a 51 x 51 grid against 37 ms with ``torch.exp``.
``benchmarks/surface_vs_loss_landscapes.py`` has the whole-surface figures.

The kernels take float32 arrays and release the GIL, so that grid rows can run on threads.
``exp`` and ``exp2`` are a degree-7 polynomial after reduction to ``|r| <= ln(2) / 2`` times a
power of two written into the float's bits (within an ulp of the float64 value in the tests),
because numba's own ``exp`` and ``exp2`` are not vectorised. NaN and infinity propagate (the
fast-math flags exclude ``nnan`` and ``ninf``), so a diverging grid point gives a non-finite
value, which the caller redoes with torch.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

__all__ = ["cross_entropy_bits", "exp_factors", "exp_table", "sigmoid_rows", "silu_rows"]

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
EXACT_REDUCTION = FASTMATH - {"reassoc"}  # keeps (z - n c_1) - n c_2 in that order
_LN2 = math.log(2.0)
(_E0, _E1, _E2, _E3, _E4, _E5, _E6, _E7) = (np.float32(1 / math.factorial(k)) for k in range(8))
_LN2_32 = np.float32(_LN2)
_LN2_HIGH, _LN2_LOW = np.float32(0.693359375), np.float32(-2.12194440e-4)
_MIN_EXPONENT, _MAX_EXPONENT = np.float32(-125.0), np.float32(125.0)
_LOG2_E = np.float32(math.log2(math.e))
_HALF = np.float32(0.5)
_PRODUCT_BLOCK = 32  # samples whose sums (each in [1, classes]) are multiplied before a log


@intrinsic
def _float32_from_bits(typingctx, bits):
    """Reinterpret an int32 as the float32 with the same bits."""
    signature = types.float32(types.int32)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return signature, codegen


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _times_power_of_two(p, n):
    """``p * 2**n`` for a float32 ``p`` and an integral float ``n`` in ``[-126, 127]``."""
    return p * _float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _exp_poly(r):
    """``exp(r)`` for ``|r| <= ln(2) / 2``: Taylor to degree 7 (error below 5e-9)."""
    p = _E7 * r + _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + _E2
    p = p * r + _E1
    return p * r + _E0


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _exp2(x):
    """``2**x`` for float32 ``x``, clamped to ``[-125, 125]``; ``x - round(x)`` is exact."""
    x = min(max(x, _MIN_EXPONENT), _MAX_EXPONENT)
    n = np.floor(x + _HALF)
    return _times_power_of_two(_exp_poly((x - n) * _LN2_32), n)


@numba.njit(fastmath=EXACT_REDUCTION, error_model="numpy", cache=True)
def _exp(z):
    """``exp(z)`` for float32 ``|z| <= 86``, reduced by ``ln 2`` in two parts (Cody-Waite)."""
    n = np.floor(z * _LOG2_E + _HALF)
    r = (z - n * _LN2_HIGH) - n * _LN2_LOW
    return _times_power_of_two(_exp_poly(r), n)


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=True, nogil=True)
def exp_table(coef, z, out):
    """``out[p] = exp(coef[p] * z)`` for a 1-D ``coef`` and float32 ``z`` (``|coef z| <= 86``).

    Examples
    --------
    >>> z = np.float32([[0.5, -2.0]])
    >>> out = np.empty((2, 1, 2), np.float32)
    >>> exp_table(np.float32([1.0, -3.0]), z, out)
    >>> bool(np.allclose(out, np.exp(np.float32([1.0, -3.0])[:, None, None] * z), rtol=1e-6))
    True
    """
    flat = z.ravel()
    for p in range(out.shape[0]):
        scale = coef[p]
        o = out[p].ravel()
        for s in range(flat.shape[0]):
            o[s] = _exp(scale * flat[s])


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=True, nogil=True)
def exp_factors(z_b, z_1, e, ze, ye):
    """A grid row's SiLU factors: ``e = exp(z_b)``, ``ze = z_b e`` and ``ye = z_1 e``."""
    zb, z1, ef, zef, yef = z_b.ravel(), z_1.ravel(), e.ravel(), ze.ravel(), ye.ravel()
    for s in range(zb.shape[0]):
        v = _exp(zb[s])
        ef[s] = v
        zef[s] = zb[s] * v
        yef[s] = z1[s] * v


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=True, nogil=True)
def sigmoid_rows(e, g, out):
    """``out[p, j, s] = e[j, s] / (e[j, s] + g[p, j, s])``: sigmoid on a grid row.

    With ``e = exp(z_b)`` and ``g[p] = exp(-a_p z_1)`` this is ``sigmoid(z_b + a_p z_1)``.
    """
    points, hidden, samples = out.shape
    for p in range(points):
        for j in range(hidden):
            o, ej, gj = out[p, j], e[j], g[p, j]
            for s in range(samples):
                o[s] = ej[s] / (ej[s] + gj[s])


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=True, nogil=True)
def silu_rows(ze, ye, e, g, coef, out):
    """``out[p, j, s] = (ze + a_p ye) / (e + g[p])`` at ``[j, s]``: SiLU on a grid row.

    With ``e = exp(z_b)``, ``ze = z_b e``, ``ye = z_1 e`` and ``g[p] = exp(-a_p z_1)`` this is
    ``silu(z_b + a_p z_1)``.

    Examples
    --------
    >>> z_b, z_1 = np.float32([[0.5, -1.0]]), np.float32([[0.25, 2.0]])
    >>> a = np.float32([0.0, 1.0])
    >>> e = np.exp(z_b)
    >>> out = np.empty((2, 1, 2), np.float32)
    >>> silu_rows(z_b * e, z_1 * e, e, np.exp(-a[:, None, None] * z_1), a, out)
    >>> z = z_b + a[:, None, None] * z_1
    >>> bool(np.allclose(out, z / (1 + np.exp(-z)), rtol=1e-6))
    True
    """
    points, hidden, samples = out.shape
    for p in range(points):
        a = coef[p]
        for j in range(hidden):
            o, zj, yj, ej, gj = out[p, j], ze[j], ye[j], e[j], g[p, j]
            for s in range(samples):
                o[s] = (zj[s] + a * yj[s]) / (ej[s] + gj[s])


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=True, nogil=True)
def cross_entropy_bits(logits, labels, out):
    """Mean cross-entropy in nats of ``logits [points, classes, samples]`` given in bits.

    ``logits`` are the model's logits times ``log2(e)``; ``labels`` holds each sample's class.
    Each sample's loss is ``log2(sum_c 2**(l_c - m)) + m - l_label`` with ``m`` close to the
    largest logit (``(u + v + |u - v|) / 2`` vectorises where ``max`` does not; any ``m``
    gives the same loss, one this close keeps every power at most about 1). The logs of
    blocks of samples are taken of products of their sums. ``out[p]`` gets point ``p``'s mean.

    Examples
    --------
    >>> logits = np.float32([[[1.0, 0.0], [0.0, 3.0]]])  # one point, two classes, two samples
    >>> out = np.empty(1)
    >>> cross_entropy_bits(logits, np.array([0, 0]), out)
    >>> nats = logits[0] / np.log2(np.e)
    >>> expected = np.mean(np.log(np.exp(nats).sum(0)) - nats[0])
    >>> bool(abs(out[0] - expected) < 1e-6)
    True
    """
    points, classes, samples = logits.shape
    for p in range(points):
        lg = logits[p]
        m = lg[0].copy()
        for c in range(1, classes):
            row = lg[c]
            for s in range(samples):
                u, v = m[s], row[s]
                m[s] = _HALF * (u + v + abs(u - v))
        total = np.zeros(samples, np.float32)
        for c in range(classes):
            row = lg[c]
            for s in range(samples):
                total[s] += _exp2(row[s] - m[s])
        loss = 0.0
        for s in range(samples):
            loss += np.float64(m[s]) - np.float64(lg[labels[s], s])
        for start in range(0, samples, _PRODUCT_BLOCK):
            product = 1.0
            for s in range(start, min(start + _PRODUCT_BLOCK, samples)):
                product *= np.float64(total[s])
            loss += math.log2(product)
        out[p] = loss * (_LN2 / samples)
