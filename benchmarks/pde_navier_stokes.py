"""labkit's ETDRK4 Navier-Stokes solver against the classic FNO scheme at equal accuracy.

The classic scheme (written out here, batched, as in the FNO data generator): pseudo-spectral
vorticity, 2/3 dealiasing, explicit Heun advection and Crank-Nicolson diffusion at
``dt = 1e-4``. Both runs start from the same random vorticity with the FNO forcing and are
compared with a fine reference (labkit ETDRK4 at a tiny step, itself checked against the classic
scheme). labkit then takes the largest automatic (CFL) step whose error is no larger than the
classic scheme's. A scan over fixed steps shows where each scheme stops being stable. Prints
``ratio: X`` = labkit time / classic time last.

Usage: ``python benchmarks/pde_navier_stokes.py [--smoke] [--n 128] [--t-final 0.25] [--nu 1e-3]``

The timed runs start from a developed flow (the random vorticity advanced ``--spin-up`` time
units by labkit, untimed), where the velocities that limit the step are larger than at t = 0.
"""

from __future__ import annotations

import argparse
import math

import torch
from _timing import timed

from labkit.pde import gaussian_random_field
from labkit.pde import navier_stokes as ns


def classic_fno_scheme(w0, f, nu, t_final, dt):
    """Heun advection + Crank-Nicolson diffusion, the scheme of the FNO generator."""
    n = w0.shape[-1]
    k_x = torch.fft.fftfreq(n, d=1 / n, dtype=w0.dtype, device=w0.device)[:, None]
    k_y = torch.fft.rfftfreq(n, d=1 / n, dtype=w0.dtype, device=w0.device)[None, :]
    lap = 4 * math.pi**2 * (k_x**2 + k_y**2)
    lap_inv = torch.where(lap == 0, torch.zeros_like(lap), 1 / lap.clamp_min(1e-30))
    dealias = ((k_x.abs() <= n / 3) & (k_y.abs() <= n / 3)).to(w0.dtype)
    w_h = torch.fft.rfft2(w0)
    f_h = torch.fft.rfft2(f)

    def nonlinear(w_h):
        psi_h = w_h * dealias * lap_inv
        q = torch.fft.irfft2(2j * math.pi * k_y * psi_h, s=(n, n))
        v = torch.fft.irfft2(-2j * math.pi * k_x * psi_h, s=(n, n))
        w_x = torch.fft.irfft2(2j * math.pi * k_x * w_h * dealias, s=(n, n))
        w_y = torch.fft.irfft2(2j * math.pi * k_y * w_h * dealias, s=(n, n))
        return torch.fft.rfft2(q * w_x + v * w_y) * dealias

    steps = round(t_final / dt)
    for _ in range(steps):
        adv = nonlinear(w_h)
        w_tilde = (-dt * adv + dt * f_h + (1 - 0.5 * dt * nu * lap) * w_h) / (
            1 + 0.5 * dt * nu * lap
        )
        adv_tilde = nonlinear(w_tilde)
        w_h = (-dt * 0.5 * (adv + adv_tilde) + dt * f_h + (1 - 0.5 * dt * nu * lap) * w_h) / (
            1 + 0.5 * dt * nu * lap
        )
    return torch.fft.irfft2(w_h, s=(n, n))


def rel_error(w, ref):
    return float(torch.linalg.vector_norm(w - ref) / torch.linalg.vector_norm(ref))


def stability_scan(w0, nu, steps):
    print(f"stability scan at nu = {nu:g} ({steps} fixed steps of dt):")
    for dt in (0.01, 0.02, 0.04, 0.08, 0.16, 0.32):
        row = []
        for scheme in ("cn", "etdrk4"):
            try:
                ns.simulate(w0, nu=nu, t_final=steps * dt, forcing="fno", dt=dt, scheme=scheme)
                row.append("stable")
            except ValueError:
                row.append("BLOWS UP")
        print(f"  dt = {dt:<5g} classic: {row[0]:9s} labkit ETDRK4: {row[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--n", type=int, default=128, help="grid points per side")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--t-final", type=float, default=0.25)
    parser.add_argument("--nu", type=float, default=1e-3)
    parser.add_argument("--spin-up", type=float, default=10.0, help="untimed lead-in time")
    parser.add_argument("--dt-classic", type=float, default=1e-4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.batch, args.t_final, args.spin_up = 32, 1, 0.05, 1.0
    dtype = torch.float64
    w0 = gaussian_random_field(
        (args.n, args.n), alpha=2.5, tau=7.0, batch=args.batch, seed=0, dtype=dtype
    ).to(args.device)
    if args.spin_up > 0:
        w0 = ns.simulate(w0, nu=args.nu, t_final=args.spin_up, forcing="fno", cfl=0.25)[:, -1]
    f = ns.fno_forcing(args.n, dtype, args.device)
    print(
        f"Navier-Stokes {args.n}^2, batch {args.batch}, nu {args.nu:g}, from the flow at "
        f"t = {args.spin_up:g} over {args.t_final:g} time units, {args.device}, float64"
    )

    ref, ref_s = timed(
        lambda: ns.simulate(w0, nu=args.nu, t_final=args.t_final, forcing="fno", dt=5e-4)[:, -1]
    )
    classic, classic_s = timed(
        lambda: classic_fno_scheme(w0, f, args.nu, args.t_final, args.dt_classic)
    )
    classic_err = rel_error(classic, ref)
    print(f"reference (ETDRK4, dt = 5e-4): {ref_s:.2f} s")
    print(
        f"classic Heun/CN, dt = {args.dt_classic:g}: {classic_s:.2f} s, "
        f"rel. error {classic_err:.2e}"
    )

    cfl = 4.0
    while True:
        try:
            w = ns.simulate(w0, nu=args.nu, t_final=args.t_final, forcing="fno", cfl=cfl)[:, -1]
            err = rel_error(w, ref)
        except ValueError:
            err = float("inf")
        if err <= classic_err or cfl < 1e-3:
            break
        cfl /= 2
    _, lab_s = timed(
        lambda: ns.simulate(w0, nu=args.nu, t_final=args.t_final, forcing="fno", cfl=cfl)
    )
    speed = ns.SpectralGrid.build(args.n, w0.device, dtype).max_speed(torch.fft.rfft2(w0))
    print(f"max |u| + |v| at the start: {speed:.3f}")
    print(
        f"labkit ETDRK4, CFL {cfl:g} (dt ~ {ns.stable_dt(speed, args.n, cfl):.2e}): "
        f"{lab_s:.2f} s, rel. error {err:.2e}"
    )
    for nu in sorted({args.nu, 1e-5}, reverse=True):
        stability_scan(w0[:1], nu, 20 if args.smoke else 100)
    print(f"ratio: {lab_s / classic_s:.3f}")


if __name__ == "__main__":
    main()
