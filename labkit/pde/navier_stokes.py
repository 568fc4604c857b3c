"""2-D incompressible Navier-Stokes in vorticity form on the periodic unit square.

``w_t + u . grad w = nu Laplacian w + f`` with ``u = (psi_y, -psi_x)`` and ``-Laplacian psi = w``.
Fourier pseudo-spectral in space with the 2/3 rule. Two time integrators:

* ``"etdrk4"`` (default): exponential time differencing RK4. Viscosity is integrated exactly and
  the advective term by a fourth-order stage scheme whose stability region covers a segment of
  the imaginary axis, so the step is limited only by an advective CFL number of order one.
* ``"cn"``: the classic scheme of the FNO data generator (explicit Heun advection,
  Crank-Nicolson diffusion). Heun's stability region touches the imaginary axis only at the
  origin, so it needs much smaller steps (the benchmark uses ``dt = 1e-4``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from labkit._checks import as_batch, check_choice, check_finite, check_int, check_positive
from labkit.pde._etdrk4 import ETDRK4, check_bounded
from labkit.pde.burgers import check_resolved

__all__ = ["SpectralGrid", "fno_forcing", "simulate", "stable_dt"]


def fno_forcing(n: int, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """The benchmark forcing ``0.1 (sin(2 pi (x + y)) + cos(2 pi (x + y)))`` on ``x_j = j / n``.

    Examples
    --------
    >>> float(fno_forcing(4)[0, 0])
    0.1
    """
    x = torch.arange(n, dtype=dtype, device=device) / n
    s = x[:, None] + x[None, :]
    return 0.1 * (torch.sin(2 * math.pi * s) + torch.cos(2 * math.pi * s))


@dataclass
class SpectralGrid:
    """Wavenumbers, multipliers and the 2/3 mask on an ``n x n`` grid (``rfft2`` layout)."""

    n: int
    kx: torch.Tensor
    ky: torch.Tensor
    lap: torch.Tensor
    dealias: torch.Tensor

    @classmethod
    def build(cls, n: int, device=None, dtype: torch.dtype = torch.float64) -> SpectralGrid:
        kx = torch.fft.fftfreq(n, d=1.0 / n, dtype=dtype, device=device)[:, None]
        ky = torch.fft.rfftfreq(n, d=1.0 / n, dtype=dtype, device=device)[None, :]
        lap = 4 * math.pi**2 * (kx**2 + ky**2)
        dealias = (kx.abs() <= n / 3) & (ky.abs() <= n / 3)
        return cls(n, kx, ky, lap, dealias)

    def velocity_and_gradient(self, w_hat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``u, v, w_x, w_y`` in physical space from the 2/3-truncated vorticity."""
        w_hat = w_hat * self.dealias
        psi_hat = w_hat / torch.where(self.lap == 0, torch.ones_like(self.lap), self.lap)
        dx = 2j * math.pi * self.kx
        dy = 2j * math.pi * self.ky
        spectra = torch.stack([dy * psi_hat, -dx * psi_hat, dx * w_hat, dy * w_hat])
        return torch.fft.irfft2(spectra, s=(self.n, self.n)).unbind(0)

    def advection(self, w_hat: torch.Tensor) -> torch.Tensor:
        """Dealiased ``-(u . grad w)`` in spectral space."""
        u, v, w_x, w_y = self.velocity_and_gradient(w_hat)
        return -(torch.fft.rfft2(u * w_x + v * w_y) * self.dealias)

    def max_speed(self, w_hat: torch.Tensor) -> float:
        u, v, _, _ = self.velocity_and_gradient(w_hat)
        return float((u.abs() + v.abs()).amax())


def stable_dt(speed: float, n: int, cfl: float = 0.5) -> float:
    """Advective step ``cfl * h / max(|u| + |v|)`` on an ``n x n`` grid.

    Examples
    --------
    >>> stable_dt(1.0, 64)
    0.0078125
    """
    return cfl / (n * max(speed, 1e-12))


def _check_forcing(forcing: Any, w: torch.Tensor) -> torch.Tensor | None:
    """``forcing`` as an ``[n, n]`` tensor in ``w``'s dtype and on its device, or ``None``."""
    n = w.shape[-1]
    if forcing is None:
        return None
    if isinstance(forcing, str):
        check_choice("forcing", forcing, ["fno"])
        return fno_forcing(n, w.dtype, w.device)
    if isinstance(forcing, np.ndarray):
        forcing = torch.from_numpy(forcing)
    if not isinstance(forcing, torch.Tensor) or tuple(forcing.shape) != (n, n):
        shape = tuple(forcing.shape) if hasattr(forcing, "shape") else type(forcing).__name__
        raise ValueError(f"forcing must be None, 'fno' or an [{n}, {n}] field, got {shape}")
    check_finite("forcing", forcing)
    return forcing.to(device=w.device, dtype=w.dtype)


def _classic_step(grid, w_hat, f_hat, nu, dt):
    """One step of the FNO generator's scheme: Heun advection, Crank-Nicolson diffusion."""
    lhs = 1.0 + 0.5 * dt * nu * grid.lap
    rhs_lin = (1.0 - 0.5 * dt * nu * grid.lap) * w_hat
    adv = grid.advection(w_hat)
    w_tilde = (dt * (adv + f_hat) + rhs_lin) / lhs
    adv_tilde = grid.advection(w_tilde)
    return (dt * (0.5 * (adv + adv_tilde) + f_hat) + rhs_lin) / lhs


def simulate(
    w0: Any,
    *,
    nu: float,
    t_final: float,
    forcing: Any = None,
    dt: float | None = None,
    n_records: int = 1,
    out_resolution: int | None = None,
    scheme: str = "etdrk4",
    cfl: float = 0.5,
) -> Any:
    """Integrate the vorticity equation and return records at ``t_final * k / n_records``.

    Parameters
    ----------
    w0
        Initial vorticity on ``x_j = j / n``, ``[B, n, n]`` (or ``[n, n]``), tensor or array; the
        computation runs on its device in its dtype.
    nu
        Viscosity (positive), e.g. ``1e-3``, ``1e-4``, ``1e-5``.
    t_final
        Time of the last record.
    forcing
        ``None``, ``"fno"`` (``0.1 (sin(2 pi (x+y)) + cos(2 pi (x+y)))``) or an ``[n, n]`` field.
    dt
        Time step; ``None`` picks ``cfl * h / max(|u| + |v|)`` afresh for every record interval.
        Each interval is split into equal steps no longer than ``dt``.
    n_records
        Number of records, ``k = 1 .. n_records``.
    out_resolution
        Record on an ``m x m`` subgrid (every ``n / m``-th point; ``m`` must divide ``n``),
        e.g. solve at 256 and record at 64 as in the FNO benchmark.
    scheme
        ``"etdrk4"`` or ``"cn"`` (the classic Heun/Crank-Nicolson scheme).
    cfl
        Courant number of the automatic step.

    Returns
    -------
    Tensor or ndarray
        ``[B, n_records, m, m]`` vorticity records (no batch axis for a 2-D ``w0``).

    Raises
    ------
    ValueError
        For bad arguments, and naming ``dt`` when the solution blows up (the vorticity leaves
        ten times the a-priori bound ``max|w0| + t max|f|``).

    Examples
    --------
    >>> from labkit.pde.fields import gaussian_random_field
    >>> w0 = gaussian_random_field((32, 32), alpha=2.5, tau=7.0, batch=2, seed=0)
    >>> w = simulate(w0, nu=1e-3, t_final=0.5, forcing="fno", n_records=5, out_resolution=16)
    >>> w.shape
    torch.Size([2, 5, 16, 16])
    """
    batch = as_batch("w0", w0, field_ndim=2, square=True, min_size=8)
    w = batch.tensor
    f = _check_forcing(forcing, w)
    check_positive("nu", nu)
    check_positive("t_final", t_final)
    n_records = check_int("n_records", n_records, minimum=1)
    check_choice("scheme", scheme, ["etdrk4", "cn"])
    check_positive("cfl", cfl)
    if dt is not None:
        check_positive("dt", dt)
    n = w.shape[-1]
    m = n if out_resolution is None else check_int("out_resolution", out_resolution, minimum=1)
    if m > n or n % m:
        raise ValueError(f"out_resolution must divide the grid size {n}, got {m}")
    grid = SpectralGrid.build(n, w.device, w.dtype)
    w_hat = torch.fft.rfft2(w)
    check_resolved("w0", w_hat, grid.dealias)
    f_hat = torch.zeros_like(w_hat[0]) if f is None else torch.fft.rfft2(f)
    f_max = 0.0 if f is None else float(f.abs().amax())
    w_max = float(w.abs().amax())
    interval = t_final / n_records
    step_cache: dict[int, Any] = {}
    records = []
    for rec in range(n_records):
        step = dt if dt is not None else stable_dt(grid.max_speed(w_hat), n, cfl)
        steps = max(1, math.ceil(interval / step - 1e-9))
        h = interval / steps
        if scheme == "etdrk4" and steps not in step_cache:
            step_cache[steps] = ETDRK4.build(-nu * grid.lap, h, w.real.dtype)
        bound = 10.0 * (w_max + interval * (rec + 1) * f_max) + 1e-12
        for i in range(steps):
            if scheme == "etdrk4":
                w_hat = step_cache[steps].step(w_hat, lambda v: grid.advection(v) + f_hat)
            else:
                w_hat = _classic_step(grid, w_hat, f_hat, nu, h)
            if (i + 1) % 200 == 0:
                check_bounded(w_hat, math.inf, h, interval * rec)
        values = torch.fft.irfft2(w_hat, s=(n, n))
        check_bounded(values, bound, h, interval * (rec + 1))
        records.append(values[:, :: n // m, :: n // m])
    return batch.restore(torch.stack(records, dim=1))
