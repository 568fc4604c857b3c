"""Top-5 Hessian eigenvalues: labkit's Lanczos against PyHessian's power iteration.

Same CNN, same batch of scikit-learn digits, same relative tolerance. PyHessian 0.1 (PyPI)
uses power iteration with deflation and double-backward HVPs that reuse one gradient graph;
labkit uses Lanczos with full reorthogonalisation and the faster HVP mode for the model.
Both results are compared with a tight Lanczos reference. Each side runs ``--repeats`` times,
interleaved, and its best time counts (labkit's includes timing both HVP modes). The last line is
``ratio: labkit time / PyHessian time`` (goal <= 0.33).

Run: ``python benchmarks/hessian_vs_pyhessian.py [--batch 512] [--k 5] [--tol 1e-3]``
"""

from __future__ import annotations

import argparse
import importlib
import time

import numpy as np
import torch
from _models import digits_cnn
from sklearn.datasets import load_digits

from labkit.landscape import loss_closure, top_eigenvalues

pyh = importlib.import_module("pyhessian.hessian")  # the module; the package re-exports a class


def trained_model(x, y, steps=200):
    torch.manual_seed(0)
    model = digits_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model


def run_pyhessian(model, x, y, k, tol, device):
    calls = {"n": 0}
    original = pyh.hessian_vector_product

    def counted(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    pyh.hessian_vector_product = counted
    try:
        t0 = time.perf_counter()
        comp = pyh.hessian(model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=device == "cuda")
        eigenvalues, _ = comp.eigenvalues(maxIter=1000, tol=tol, top_n=k)
        seconds = time.perf_counter() - t0
    finally:
        pyh.hessian_vector_product = original
    return np.sort(np.asarray(eigenvalues))[::-1], calls["n"], seconds


def run_labkit(model, x, y, k, tol):
    t0 = time.perf_counter()
    loss_fn, params = loss_closure(model, torch.nn.functional.cross_entropy, (x, y))
    res = top_eigenvalues(loss_fn, params, k=k, tol=tol)
    return res, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs; best counts")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    digits = load_digits()
    x = torch.tensor(digits.images[: args.batch, None] / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target[: args.batch])
    model = trained_model(x, y)
    x, y, model = x.to(args.device), y.to(args.device), model.to(args.device)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"CNN with {n_params} parameters, batch {args.batch}, device {args.device}, "
        f"top-{args.k}, tol {args.tol}"
    )

    loss_fn, params = loss_closure(model, torch.nn.functional.cross_entropy, (x, y))
    reference = top_eigenvalues(loss_fn, params, k=args.k, tol=1e-9, max_iter=300).eigenvalues

    t_ours, t_theirs = [], []
    for _ in range(args.repeats):
        ours, t = run_labkit(model, x, y, args.k, args.tol)
        t_ours.append(t)
        theirs, n_theirs, t = run_pyhessian(model, x, y, args.k, args.tol, args.device)
        t_theirs.append(t)
    print(
        f"all runs (s): labkit {np.round(t_ours, 2).tolist()}, "
        f"PyHessian {np.round(t_theirs, 2).tolist()}"
    )
    t_ours, t_theirs = min(t_ours), min(t_theirs)

    def err(values):
        return float(np.max(np.abs(values - reference) / np.abs(reference)))

    print(f"reference eigenvalues: {np.round(reference, 5).tolist()}")
    print(
        f"labkit   : {t_ours:7.2f} s, {ours.n_hvp:4d} HVPs ({ours.mode}), "
        f"max rel error {err(ours.eigenvalues):.1e}"
    )
    print(
        f"PyHessian: {t_theirs:7.2f} s, {n_theirs:4d} HVPs (power iteration), "
        f"max rel error {err(theirs):.1e}"
    )
    print(f"ratio: {t_ours / t_theirs:.3f}")


if __name__ == "__main__":
    main()
