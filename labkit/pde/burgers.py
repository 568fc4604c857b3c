"""Viscous Burgers' equation ``u_t + (u^2 / 2)_x = nu u_xx``, periodic on ``[0, 1)``.

Fourier pseudo-spectral in space with the 2/3 rule for the quadratic term, ETDRK4 in time (the
stiff diffusion is integrated exactly, so the step is limited only by advection).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from labkit._checks import as_batch, check_int, check_positive
from labkit.pde._etdrk4 import ETDRK4, check_bounded

__all__ = ["simulate", "stable_dt"]


def check_resolved(name: str, field_hat: torch.Tensor, cutoff: torch.Tensor, tol: float = 1e-2):
    """Raise ``ValueError`` when more than ``tol`` of the energy lies beyond the 2/3 cutoff."""
    energy = field_hat.abs() ** 2
    total = float(energy.sum())
    beyond = float((energy * (~cutoff)).sum())
    if total > 0 and beyond > tol * total:
        raise ValueError(
            f"the grid is too small for the modes of {name}: {beyond / total:.1%} of its energy "
            "lies beyond the 2/3 dealiasing cutoff; use a finer grid or a smoother field"
        )


def stable_dt(u_max: float, n: int, cfl: float = 0.5) -> float:
    """Advective step ``cfl * h / max|u|`` on an ``n``-point grid (``h = 1 / n``).

    Examples
    --------
    >>> stable_dt(2.0, 100)
    0.0025
    """
    return cfl / (n * max(u_max, 1e-12))


def simulate(
    u0: Any,
    *,
    nu: float,
    t_final: float,
    n_records: int = 1,
    dt: float | None = None,
    cfl: float = 0.5,
) -> Any:
    """Integrate Burgers' equation from ``u0`` and return records at ``t_final * k / n_records``.

    Parameters
    ----------
    u0
        Initial values on ``x_j = j / n``, ``[B, n]`` (or ``[n]``), tensor or array.
    nu
        Viscosity (positive).
    t_final
        Time of the last record.
    n_records
        Number of equally spaced records, ``k = 1 .. n_records``.
    dt
        Time step; ``None`` uses ``cfl * h / max|u0|`` (the maximum principle keeps ``max|u|``
        from growing, so this holds for the whole run).
    cfl
        Courant number of the automatic step.

    Returns
    -------
    Tensor or ndarray
        ``[B, n_records, n]`` (``[n_records, n]`` for a 1-D ``u0``), type and dtype of ``u0``.

    Examples
    --------
    >>> x = torch.arange(64, dtype=torch.float64) / 64
    >>> u = simulate(torch.sin(2 * math.pi * x), nu=0.1, t_final=0.5, n_records=2)
    >>> u.shape, bool(u[-1].abs().max() < 1)
    (torch.Size([2, 64]), True)
    """
    batch = as_batch("u0", u0, field_ndim=1, min_size=8)
    u = batch.tensor
    check_positive("nu", nu)
    check_positive("t_final", t_final)
    n_records = check_int("n_records", n_records, minimum=1)
    check_positive("cfl", cfl)
    n = u.shape[-1]
    k = torch.fft.rfftfreq(n, d=1.0 / n, dtype=torch.float64).to(u.device)
    cutoff = k.abs() <= n / 3
    u_hat = torch.fft.rfft(u)
    check_resolved("u0", u_hat, cutoff)
    u_max = float(u.abs().amax())
    interval = t_final / n_records
    step = stable_dt(u_max, n, cfl) if dt is None else check_positive("dt", dt)
    steps = max(1, math.ceil(interval / step - 1e-9))
    h = interval / steps
    deriv = (2j * math.pi * k * cutoff).to(u_hat.dtype)

    def nonlinear(v: torch.Tensor) -> torch.Tensor:
        phys = torch.fft.irfft(v, n=n)
        return -0.5 * deriv * torch.fft.rfft(phys * phys)

    scheme = ETDRK4.build(-nu * (2 * math.pi * k) ** 2, h, u.dtype)
    records = []
    for rec in range(n_records):
        for _ in range(steps):
            u_hat = scheme.step(u_hat, nonlinear)
        values = torch.fft.irfft(u_hat, n=n)
        check_bounded(values, 2.0 * u_max + 1e-12, h, interval * (rec + 1))
        records.append(values)
    return batch.restore(torch.stack(records, dim=1))
