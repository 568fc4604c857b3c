"""labkit's ETDRK4 Burgers solver against a classic pseudo-spectral scheme at equal accuracy.

The classic scheme (written out here, batched): Fourier pseudo-spectral, 2/3 dealiasing,
explicit Heun advection and Crank-Nicolson diffusion at ``dt = 1e-4``. The problem is the FNO
benchmark's: ``nu = 0.1``, ``u0 ~ N(0, 625 (-Delta + 25)^-2)``, output at ``t = 1``. Both are
compared with a fine reference (labkit at a tiny step); labkit takes the largest automatic (CFL)
step whose error is no larger than the classic one. Prints ``ratio: X`` = labkit time / classic
time last.

Usage: ``python benchmarks/pde_burgers.py [--smoke] [--n 1024] [--batch 64]``
"""

from __future__ import annotations

import argparse
import math

import torch
from _timing import timed

from labkit.pde import burgers, gaussian_random_field


def classic_scheme(u0, nu, t_final, dt):
    """Heun advection + Crank-Nicolson diffusion, pseudo-spectral with the 2/3 rule."""
    n = u0.shape[-1]
    k = torch.fft.rfftfreq(n, d=1 / n, dtype=u0.dtype, device=u0.device)
    lap = (2 * math.pi * k) ** 2
    dealias = (k <= n / 3).to(u0.dtype)
    u_h = torch.fft.rfft(u0)

    def advection(u_h):
        u = torch.fft.irfft(u_h, n=n)
        return 0.5j * 2 * math.pi * k * torch.fft.rfft(u * u) * dealias

    lhs = 1 + 0.5 * dt * nu * lap
    rhs = 1 - 0.5 * dt * nu * lap
    for _ in range(round(t_final / dt)):
        adv = advection(u_h)
        u_tilde = (-dt * adv + rhs * u_h) / lhs
        u_h = (-dt * 0.5 * (adv + advection(u_tilde)) + rhs * u_h) / lhs
    return torch.fft.irfft(u_h, n=n)


def rel_error(u, ref):
    return float(torch.linalg.vector_norm(u - ref) / torch.linalg.vector_norm(ref))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--n", type=int, default=1024, help="grid points")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--nu", type=float, default=0.1)
    parser.add_argument("--t-final", type=float, default=1.0)
    parser.add_argument("--dt-classic", type=float, default=1e-4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.batch, args.t_final = 256, 8, 0.1
    u0 = gaussian_random_field(
        (args.n,), alpha=2.0, tau=5.0, sigma=25.0, batch=args.batch, seed=0, dtype=torch.float64
    ).to(args.device)
    print(
        f"Burgers n = {args.n}, batch {args.batch}, nu {args.nu:g}, t = {args.t_final:g}, "
        f"{args.device}"
    )
    ref, ref_s = timed(
        lambda: burgers.simulate(u0, nu=args.nu, t_final=args.t_final, dt=5e-4)[:, -1]
    )
    classic, classic_s = timed(lambda: classic_scheme(u0, args.nu, args.t_final, args.dt_classic))
    classic_err = rel_error(classic, ref)
    print(f"reference (ETDRK4, dt = 5e-4): {ref_s:.2f} s")
    print(
        f"classic Heun/CN, dt = {args.dt_classic:g}: {classic_s:.2f} s, "
        f"rel. error {classic_err:.2e}"
    )
    cfl = 8.0
    while True:
        try:
            u = burgers.simulate(u0, nu=args.nu, t_final=args.t_final, cfl=cfl)[:, -1]
            err = rel_error(u, ref)
        except ValueError:
            err = float("inf")
        if err <= classic_err or cfl < 1e-3:
            break
        cfl /= 2
    _, lab_s = timed(lambda: burgers.simulate(u0, nu=args.nu, t_final=args.t_final, cfl=cfl))
    dt = burgers.stable_dt(float(u0.abs().max()), args.n, cfl)
    print(f"labkit ETDRK4, CFL {cfl:g} (dt = {dt:.2e}): {lab_s:.2f} s, rel. error {err:.2e}")
    print(f"ratio: {lab_s / classic_s:.3f}")


if __name__ == "__main__":
    main()
