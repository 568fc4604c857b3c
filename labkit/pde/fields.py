"""Gaussian random fields on periodic and Neumann (cosine) grids, batched and seeded.

A field is ``u(x) = sum_k sqrt(lambda_k) xi_k phi_k(x)`` with the Matérn-like spectrum
``sqrt(lambda_k) = sigma * (4 pi^2 |k|^2 + tau^2) ** (-alpha / 2)`` and a zero mean mode. The
noise is drawn on the CPU from a seeded generator and then moved to the device, so one seed gives
the same field on every device (up to the device's FFT rounding).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from labkit._checks import check_allocation, check_int, check_positive

__all__ = [
    "darcy_coefficient",
    "default_sigma",
    "gaussian_random_field",
    "neumann_random_field",
    "spectral_amplitude",
]


def default_sigma(alpha: float, tau: float, dim: int) -> float:
    """The amplitude ``tau ** (alpha - dim / 2)`` used by the FNO benchmark generators.

    Examples
    --------
    >>> default_sigma(2.0, 3.0, 2)
    3.0
    """
    try:
        sigma = float(tau ** (0.5 * (2.0 * alpha - dim)))
    except OverflowError:
        sigma = math.inf
    if not math.isfinite(sigma) or sigma == 0.0:
        raise ValueError(
            f"alpha={alpha} and tau={tau} give the default amplitude tau ** (alpha - {dim}/2) "
            f"= {sigma}, outside the float range; pass sigma, or a smaller alpha or tau"
        )
    return sigma


def _check_shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(shape, (int,)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, Sequence) or not 1 <= len(shape) <= 3:
        raise ValueError(f"shape must be a tuple of 1 to 3 grid sizes, got {shape!r}")
    return tuple(check_int("shape", s, minimum=2) for s in shape)


def _check_spectrum(alpha: float, tau: float, sigma: float | None, dim: int) -> float:
    check_positive("alpha", alpha)
    check_positive("tau", tau)
    if tau > 1e100:  # tau ** 2 enters the spectrum: keep it inside the float range
        raise ValueError(f"tau must be at most 1e100 (an inverse length scale), got {tau}")
    if sigma is None:
        return default_sigma(alpha, tau, dim)
    return float(check_positive("sigma", sigma))


def _generator(seed: int | None) -> torch.Generator:
    gen = torch.Generator(device="cpu")
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(check_int("seed", seed, minimum=0))
    return gen


def spectral_amplitude(
    k_squared: torch.Tensor, *, alpha: float, tau: float, sigma: float
) -> torch.Tensor:
    """``sigma * (4 pi^2 |k|^2 + tau^2) ** (-alpha/2)`` with the mean mode (``k = 0``) set to 0.

    Parameters
    ----------
    k_squared
        ``|k|^2`` for integer wavenumbers ``k`` (any shape).

    Examples
    --------
    >>> spectral_amplitude(torch.tensor([0.0, 1.0]), alpha=2.0, tau=3.0, sigma=1.0)
    tensor([0.0000, 0.0206])
    """
    amp = sigma * (4.0 * math.pi**2 * k_squared + tau**2) ** (-alpha / 2.0)
    return torch.where(k_squared == 0, torch.zeros_like(amp), amp)


def _periodic_k_squared(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    freqs = [torch.fft.fftfreq(n, d=1.0 / n, dtype=dtype) for n in shape]
    grids = torch.meshgrid(*freqs, indexing="ij")
    return sum(g**2 for g in grids)


def gaussian_random_field(
    shape: int | Sequence[int],
    *,
    alpha: float,
    tau: float,
    sigma: float | None = None,
    batch: int = 1,
    seed: int | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Draw periodic Gaussian random fields on the grid ``x_j = j / n`` of ``[0, 1)^d``.

    The Fourier coefficients ``u_hat_k = mean_j u_j exp(-2 pi i k x_j)`` satisfy
    ``E |u_hat_k|^2 = sigma^2 (4 pi^2 |k|^2 + tau^2) ** -alpha`` for ``k != 0`` and
    ``u_hat_0 = 0``: the covariance operator is ``sigma^2 (-Laplacian + tau^2) ** -alpha``.

    Parameters
    ----------
    shape
        Grid sizes, one per dimension (1-D, 2-D or 3-D); each at least 2.
    alpha, tau
        Smoothness and inverse length scale of the spectrum (both positive).
    sigma
        Amplitude; ``None`` uses ``tau ** (alpha - d / 2)`` as the FNO generators do.
    batch
        Number of independent fields.
    seed
        Seed of the CPU generator that draws the noise; ``None`` draws a fresh one.
    device, dtype
        Where and in which floating type the field is returned.

    Returns
    -------
    torch.Tensor
        ``[batch, *shape]`` real fields.

    Examples
    --------
    >>> u = gaussian_random_field((32, 32), alpha=2.5, tau=7.0, batch=4, seed=0)
    >>> u.shape
    torch.Size([4, 32, 32])
    >>> bool(torch.equal(u, gaussian_random_field((32, 32), alpha=2.5, tau=7.0, batch=4, seed=0)))
    True
    """
    shape = _check_shape(shape)
    sigma = _check_spectrum(alpha, tau, sigma, len(shape))
    batch = check_int("batch", batch, minimum=1)
    # noise (float64) and its complex spectrum: about 32 bytes a point
    check_allocation("shape", shape, 32.0 * batch * math.prod(shape), what=f"{batch} field(s)")
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating type, got {dtype}")
    noise = torch.randn((batch, *shape), generator=_generator(seed), dtype=torch.float64)
    noise = noise.to(device=device, dtype=dtype)
    n_points = math.prod(shape)
    k2 = _periodic_k_squared(shape, dtype).to(noise.device)
    amp = spectral_amplitude(k2, alpha=alpha, tau=tau, sigma=sigma) * math.sqrt(n_points)
    dims = tuple(range(1, len(shape) + 1))
    field = torch.fft.ifftn(torch.fft.fftn(noise, dim=dims) * amp, dim=dims).real
    return _check_field(field, alpha, tau, sigma)


def _cosine_weights(n: int, dtype: torch.dtype) -> torch.Tensor:
    """Weights on the even extension (length ``2(n-1)``) that turn its FFT into a cosine sum."""
    m = 2 * (n - 1)
    w = torch.full((m,), 0.5, dtype=dtype)
    w[0] = 1.0
    w[n - 1] = 1.0
    return w


def _even_extension_index(n: int) -> torch.Tensor:
    m = 2 * (n - 1)
    idx = torch.arange(m)
    return torch.where(idx < n, idx, m - idx)


def neumann_random_field(
    shape: int | Sequence[int],
    *,
    alpha: float,
    tau: float,
    sigma: float | None = None,
    batch: int = 1,
    seed: int | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Draw Gaussian random fields with zero normal derivative on the nodes of ``[0, 1]^d``.

    The field is the cosine series ``u(x) = sum_k a_k xi_k prod_i cos(pi k_i x_i)`` over
    ``k in {0, ..., n-1}^d`` with ``xi_k ~ N(0, 1)``,
    ``a_k = sigma * (pi^2 |k|^2 + tau^2) ** (-alpha/2)`` and ``a_0 = 0``, evaluated at the nodes
    ``x_i = i / (n - 1)`` (boundary included). This is the Darcy benchmark's coefficient field.

    Parameters are those of :func:`gaussian_random_field`.

    Examples
    --------
    >>> u = neumann_random_field((17, 17), alpha=2.0, tau=3.0, batch=2, seed=0)
    >>> u.shape
    torch.Size([2, 17, 17])
    """
    shape = _check_shape(shape)
    sigma = _check_spectrum(alpha, tau, sigma, len(shape))
    batch = check_int("batch", batch, minimum=1)
    # the even extension doubles every axis before its complex FFT
    n_bytes = 32.0 * batch * math.prod(shape) * 2 ** len(shape)
    check_allocation("shape", shape, n_bytes, what=f"{batch} field(s)")
    noise = torch.randn((batch, *shape), generator=_generator(seed), dtype=torch.float64)
    noise = noise.to(device=device, dtype=dtype)
    dev = noise.device
    ks = [torch.arange(n, dtype=dtype, device=dev) for n in shape]
    k2 = sum(g**2 for g in torch.meshgrid(*ks, indexing="ij"))
    amp = sigma * (math.pi**2 * k2 + tau**2) ** (-alpha / 2.0)
    amp = torch.where(k2 == 0, torch.zeros_like(amp), amp)
    coeff = noise * amp
    for axis, n in enumerate(shape, start=1):
        index = _even_extension_index(n).to(dev)
        weights = _cosine_weights(n, dtype).to(dev)
        view = [1] * coeff.ndim
        view[axis] = -1
        coeff = coeff.index_select(axis, index) * weights.view(view)
    dims = tuple(range(1, len(shape) + 1))
    field = torch.fft.fftn(coeff, dim=dims).real
    field = field[(slice(None), *(slice(0, n) for n in shape))].contiguous()
    return _check_field(field, alpha, tau, sigma)


def _check_field(field: torch.Tensor, alpha: float, tau: float, sigma: float) -> torch.Tensor:
    """Return ``field``, or say which spectrum parameters made it overflow the float range."""
    if not bool(torch.isfinite(field).all()):
        raise ValueError(
            f"alpha={alpha}, tau={tau} and sigma={sigma} give a field beyond the range of "
            f"{field.dtype}; use a smaller sigma or tau ** -alpha"
        )
    return field


def darcy_coefficient(
    n: int,
    *,
    batch: int = 1,
    alpha: float = 2.0,
    tau: float = 3.0,
    a_plus: float = 12.0,
    a_minus: float = 3.0,
    seed: int | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The Darcy benchmark coefficient: a thresholded Neumann random field on ``n x n`` nodes.

    ``a = a_plus`` where the field is ``>= 0`` and ``a_minus`` elsewhere.

    Examples
    --------
    >>> a = darcy_coefficient(33, batch=2, seed=0)
    >>> sorted(a.unique().tolist())
    [3.0, 12.0]
    """
    check_positive("a_plus", a_plus)
    check_positive("a_minus", a_minus)
    field = neumann_random_field(
        (n, n), alpha=alpha, tau=tau, batch=batch, seed=seed, device=device, dtype=dtype
    )
    return torch.where(
        field >= 0,
        torch.full_like(field, float(a_plus)),
        torch.full_like(field, float(a_minus)),
    )
