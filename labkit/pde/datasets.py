"""Training sets made on the spot and cached on disk by the parameters that define them.

``make_dataset(problem, n, resolution=..., seed=...)`` returns a :class:`PDEDataset` of
``(input, target)`` pairs, float32, channels first:

* ``"darcy"``: coefficient ``a`` ``[1, r, r]`` -> solution ``u`` ``[1, r, r]`` (``r x r``
  nodes, boundary included, ``u = 0`` there);
* ``"burgers"``: ``u(t=0)`` ``[1, r]`` -> ``u(t=t_final)`` ``[1, r]``;
* ``"navier_stokes"``: the vorticity at the first ``t_in`` record times ``[t_in, r, r]`` -> the
  next ``t_out`` records ``[t_out, r, r]`` (records every ``record_dt`` from ``t = record_dt``;
  the initial vorticity itself is not included).

A cache file is named by the SHA-256 of every parameter that changes the data, written to a
temporary name and renamed, and carries the SHA-256 of its payload: a damaged file is detected,
removed and regenerated, never loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from labkit._checks import check_allocation, check_choice, check_int, check_positive
from labkit._io import atomic_write

__all__ = ["PDEDataset", "default_cache_dir", "make_dataset"]

FORMAT_VERSION = 2
"""2: every sample drawn from its own seed (:func:`sample_seed`) and solved alone."""
_MAGIC = b"LABKITPDE1\n"
PROBLEMS = ("darcy", "burgers", "navier_stokes")


@dataclass(eq=False)
class PDEDataset(Dataset):
    """``(input, target)`` pairs of one PDE problem, channels first, float32.

    Attributes
    ----------
    inputs, targets
        ``[n, C_in, *grid]`` and ``[n, C_out, *grid]`` tensors.
    problem
        Name of the problem.
    params
        Every parameter that defines the data (the cache key is their hash).
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    problem: str
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[index], self.targets[index]

    def to_dict(self) -> dict:
        return {
            "problem": self.problem,
            "n": len(self),
            "input_shape": list(self.inputs.shape[1:]),
            "target_shape": list(self.targets.shape[1:]),
            "params": dict(self.params),
        }


def default_cache_dir() -> Path:
    """``$LABKIT_CACHE`` or ``~/.cache/labkit``, with a ``pde`` subfolder."""
    root = os.environ.get("LABKIT_CACHE") or Path.home() / ".cache" / "labkit"
    return Path(root) / "pde"


def _subsample_step(name: str, fine: int, coarse: int, periodic: bool) -> int:
    if periodic:
        if fine % coarse:
            raise ValueError(f"{name}={fine} must be a multiple of resolution={coarse}")
        return fine // coarse
    if (fine - 1) % (coarse - 1):
        raise ValueError(f"{name}-1={fine - 1} must be a multiple of resolution-1={coarse - 1}")
    return (fine - 1) // (coarse - 1)


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample ``index`` of a set seeded with ``seed``: a function of both alone.

    Every sample is drawn from its own generator and solved on its own, so a sample's bytes do
    not depend on how many samples are made, in which batch, or on which worker
    (:mod:`labkit.data` makes shards of one set on many workers and gets the same bytes).

    Examples
    --------
    >>> sample_seed(0, 1) == sample_seed(0, 1) != sample_seed(1, 0)
    True
    """
    state = np.random.SeedSequence([seed, index]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def _fields(make, block: range, seed: int) -> torch.Tensor:
    """One random input per sample, each from its own seed, stacked: ``[len(block), ...]``."""
    return torch.cat([make(seed=sample_seed(seed, i)) for i in block])


def _darcy(block: range, resolution: int, seed: int, p: dict, device) -> tuple:
    from labkit.pde.darcy import solve
    from labkit.pde.fields import darcy_coefficient

    fine = p["solve_resolution"]
    step = _subsample_step("solve_resolution", fine, resolution, periodic=False)
    a = _fields(
        lambda seed: darcy_coefficient(
            fine,
            alpha=p["alpha"],
            tau=p["tau"],
            a_plus=p["a_plus"],
            a_minus=p["a_minus"],
            seed=seed,
            dtype=torch.float64,
            device=device,
        ),
        block,
        seed,
    )
    u = solve(a, p["f"], method=p["method"])
    sub = (slice(None), slice(None, None, step), slice(None, None, step))
    return a[sub].unsqueeze(1), u[sub].unsqueeze(1)


def _burgers(block: range, resolution: int, seed: int, p: dict, device) -> tuple:
    from labkit.pde.burgers import simulate
    from labkit.pde.fields import gaussian_random_field

    fine = p["solve_resolution"]
    step = _subsample_step("solve_resolution", fine, resolution, periodic=True)
    u0 = _fields(
        lambda seed: gaussian_random_field(
            (fine,),
            alpha=p["alpha"],
            tau=p["tau"],
            sigma=p["sigma"],
            seed=seed,
            dtype=torch.float64,
            device=device,
        ),
        block,
        seed,
    )
    out = simulate(u0, nu=p["nu"], t_final=p["t_final"])[:, -1]
    return u0[:, None, ::step], out[:, None, ::step]


def _navier_stokes(block: range, resolution: int, seed: int, p: dict, device) -> tuple:
    from labkit.pde.fields import gaussian_random_field
    from labkit.pde.navier_stokes import simulate

    fine = p["solve_resolution"]
    _subsample_step("solve_resolution", fine, resolution, periodic=True)
    t_in, t_out = p["t_in"], p["t_out"]
    w0 = _fields(
        lambda seed: gaussian_random_field(
            (fine, fine), alpha=p["alpha"], tau=p["tau"], seed=seed, dtype=torch.float64,
            device=device,
        ),
        block,
        seed,
    )
    records = t_in + t_out
    out = simulate(
        w0,
        nu=p["nu"],
        t_final=p["record_dt"] * records,
        forcing=p["forcing"],
        n_records=records,
        out_resolution=resolution,
    )
    return out[:, :t_in], out[:, t_in:]


BLOCK = {"darcy": 1, "burgers": 16, "navier_stokes": 8}
"""Samples solved together as one batch: block ``b`` is samples ``b*B .. b*B + B - 1``, always
whole (a set of ``n`` samples solves up to ``B - 1`` more and drops them). Batched solves share
adaptive time steps and stopping tests, so a sample's bytes depend on its block; blocks depend
only on indices, so the bytes of sample ``i`` are a function of ``(seed, i)`` alone. Darcy solves
each sample alone (batching gains it little); Burgers and Navier-Stokes gain 2-10x from
batching small grids."""


def make_samples(
    problem: str,
    lo: int,
    hi: int,
    *,
    resolution: int,
    seed: int,
    params: dict,
    progress: bool = False,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``lo .. hi-1`` of a set, float32 on the CPU; ``params`` as resolved by
    :func:`resolve_params`. Sample ``i`` depends only on ``(seed, i)`` and the parameters: its
    input is drawn from :func:`sample_seed` ``(seed, i)`` and it is solved in its block of
    :data:`BLOCK` samples, whoever asks for it and in whatever range.

    Examples
    --------
    >>> p = resolve_params("burgers", 16, {"t_final": 0.1})
    >>> x, y = make_samples("burgers", 1, 20, resolution=16, seed=0, params=p)
    >>> x.shape, bool(torch.equal(y[16:], make_samples("burgers", 17, 20, resolution=16,
    ...                                                 seed=0, params=p)[1]))
    (torch.Size([19, 1, 16]), True)
    """
    size = BLOCK[problem]
    first = lo // size * size
    inputs, targets = [], []
    starts = range(first, hi, size)
    for start in tqdm(starts, desc=problem, disable=not progress, leave=False):
        x, y = _GENERATORS[problem](range(start, start + size), resolution, seed, params, device)
        inputs.append(x.to(device="cpu", dtype=torch.float32))
        targets.append(y.to(device="cpu", dtype=torch.float32))
    keep = slice(lo - first, hi - first)
    return torch.cat(inputs)[keep].contiguous(), torch.cat(targets)[keep].contiguous()


_DEFAULTS: dict[str, dict[str, Any]] = {
    "darcy": {
        "alpha": 2.0,
        "tau": 3.0,
        "a_plus": 12.0,
        "a_minus": 3.0,
        "f": 1.0,
        "solve_resolution": None,
        "method": "multigrid",
    },
    "burgers": {
        "nu": 0.1,
        "t_final": 1.0,
        "alpha": 2.0,
        "tau": 5.0,
        "sigma": 25.0,
        "solve_resolution": None,
    },
    "navier_stokes": {
        "nu": 1e-3,
        "t_in": 10,
        "t_out": 10,
        "record_dt": 1.0,
        "alpha": 2.5,
        "tau": 7.0,
        "forcing": "fno",
        "solve_resolution": None,
    },
}

_GENERATORS = {"darcy": _darcy, "burgers": _burgers, "navier_stokes": _navier_stokes}


def resolve_params(problem: str, resolution: int, params: dict) -> dict:
    defaults = _DEFAULTS[problem]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) for {problem!r}: {unknown}; known: {sorted(defaults)}"
        )
    p = {**defaults, **params}
    if p["solve_resolution"] is None:
        p["solve_resolution"] = resolution
    check_int("solve_resolution", p["solve_resolution"], minimum=resolution)
    for name in ("alpha", "tau", "nu", "t_final", "record_dt", "a_plus", "a_minus", "sigma"):
        if name in p:
            check_positive(name, p[name])
    for name in ("t_in", "t_out"):
        if name in p:
            check_int(name, p[name], minimum=1)
    if problem == "navier_stokes" and p["forcing"] not in (None, "fno"):
        raise ValueError(
            f"forcing must be None or 'fno' for a cached dataset, got {p['forcing']!r}"
        )
    if problem == "darcy":
        check_choice("method", p["method"], ["direct", "multigrid", "cg", "two-level"])
        if not isinstance(p["f"], (int, float)) or not math.isfinite(p["f"]):
            raise ValueError(f"f must be a finite number for a cached dataset, got {p['f']!r}")
    return p


_resolve_params = resolve_params  # the name tests and older callers use


def cache_key(problem: str, n: int, resolution: int, seed: int, params: dict) -> str:
    """SHA-256 of everything that changes the data (not of the solver method)."""
    content = {k: v for k, v in params.items() if k != "method"}
    blob = json.dumps(
        {
            "v": FORMAT_VERSION,
            "problem": problem,
            "n": n,
            "resolution": resolution,
            "seed": seed,
            "params": content,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _prepare_cache_dir(cache_dir: str | os.PathLike) -> tuple[Path, bool]:
    """The cache folder and whether it is writable; a shared read-only cache is fine to read."""
    path = Path(cache_dir)
    if path.is_dir() and os.access(path, os.R_OK | os.X_OK):
        if not os.access(path, os.W_OK):
            return path, False
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as err:
        if path.is_dir() and os.access(path, os.R_OK | os.X_OK):
            return path, False
        raise ValueError(
            f"cache_dir {str(path)!r} is neither a readable folder nor can it be created: {err}"
        ) from err
    return path, True


def _expected_shapes(problem: str, n: int, resolution: int, p: dict) -> tuple[tuple, tuple]:
    """The shapes of ``inputs`` and ``targets`` that a request asks for."""
    if problem == "darcy":
        shape = (n, 1, resolution, resolution)
        return shape, shape
    if problem == "burgers":
        return (n, 1, resolution), (n, 1, resolution)
    return (n, p["t_in"], resolution, resolution), (n, p["t_out"], resolution, resolution)


def _mismatch(stored: Any, expected: tuple[tuple, tuple]) -> str | None:
    """Why the loaded content is not what was asked (``None`` when it is)."""
    if not isinstance(stored, dict):
        return f"it holds a {type(stored).__name__}, not a dict of tensors"
    for key, shape in zip(("inputs", "targets"), expected, strict=True):
        value = stored.get(key)
        if not isinstance(value, torch.Tensor):
            return f"{key!r} is not a tensor"
        if tuple(value.shape) != shape:
            return f"{key!r} has shape {tuple(value.shape)}, the request needs {shape}"
        if value.dtype != torch.float32:
            return f"{key!r} has dtype {value.dtype}, expected torch.float32"
        if not bool(torch.isfinite(value).all()):
            return f"{key!r} holds NaN or inf entries"
    return None


def _check_size(problem: str, n: int, resolution: int, p: dict) -> None:
    """Refuse, before generating, a request that would need more memory than the machine has."""
    fine = p["solve_resolution"]
    name, value = ("resolution", resolution) if fine == resolution else ("solve_resolution", fine)
    if problem == "darcy":
        # coefficient + solution in float64, plus the stored float32 pair
        n_bytes = n * (16.0 * fine**2 + 8.0 * resolution**2)
    elif problem == "burgers":
        n_bytes = n * (32.0 * fine + 8.0 * resolution)
    else:
        records = p["t_in"] + p["t_out"]
        n_bytes = n * (32.0 * fine**2 + 12.0 * records * resolution**2)
    check_allocation(name, value, n_bytes, what=f"a {problem} set of {n} sample(s)")


def _write_atomic(path: Path, payload: bytes) -> None:
    digest = hashlib.sha256(payload).hexdigest().encode()
    atomic_write(path, lambda fh: fh.write(_MAGIC + digest + b"\n" + payload))


def _read_verified(path: Path) -> dict | None:
    """The stored tensors, or ``None`` when the file is missing or damaged."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    header = len(_MAGIC) + 65
    if len(data) < header or not data.startswith(_MAGIC):
        return None
    digest, payload = data[len(_MAGIC) : header - 1], data[header:]
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        return None
    try:
        return torch.load(io.BytesIO(payload), weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable payload counts as damaged
        return None


def make_dataset(
    problem: str,
    n: int,
    *,
    resolution: int,
    seed: int,
    cache_dir: str | os.PathLike | None | bool = None,
    progress: bool | None = None,
    device: str | torch.device | None = None,
    store: str | os.PathLike | None = None,
    client: Any = None,
    **params: Any,
) -> PDEDataset:
    """Make (or load from the cache) ``n`` input/target pairs of a PDE problem.

    Parameters
    ----------
    problem
        ``"darcy"``, ``"burgers"`` or ``"navier_stokes"`` (see the module docstring for the
        pair layout).
    n
        Number of samples.
    resolution
        Grid size of the returned data: ``r x r`` Darcy nodes (boundary included), ``r``
        Burgers points, ``r x r`` Navier-Stokes points.
    seed
        Seed of the random inputs.
    cache_dir
        Folder of the cache; ``None`` uses :func:`default_cache_dir`, ``False`` disables it.
    progress
        Show a progress bar (default: only when ``n`` is large).
    device
        Where to generate (the stored tensors are on the CPU). The same seed gives the same
        inputs on every device; Darcy's default ``method="multigrid"`` (multigrid-preconditioned
        CG), ``"cg"`` and ``"two-level"`` solve on the device, ``"direct"`` always on the CPU
        (see :func:`labkit.pde.darcy.solve`).
    **params
        Problem parameters. Darcy: ``alpha=2, tau=3, a_plus=12, a_minus=3, f=1,
        solve_resolution=resolution, method="multigrid"`` (data solved on ``solve_resolution``
        nodes and subsampled, e.g. 421 -> 85 as in the FNO benchmark). Burgers: ``nu=0.1,
        t_final=1, alpha=2, tau=5, sigma=25`` (``u0 ~ N(0, 625 (-Delta + 25)^-2)``),
        ``solve_resolution``. Navier-Stokes: ``nu=1e-3, t_in=10, t_out=10, record_dt=1,
        alpha=2.5, tau=7, forcing="fno", solve_resolution`` (e.g. 256 for the 256 -> 64
        benchmark).
    store
        A folder to make the set in as a chunked, checksummed Zarr store on a Dask cluster
        (see :func:`labkit.data.make_store`); the result is then the store's streaming
        :func:`labkit.data.open_dataset`, with the same bytes as the in-memory set.
    client
        With ``store``: ``None`` (a local cluster for the call), a scheduler address or a
        ``distributed.Client`` (see :func:`labkit.cluster.dask_client`).

    Returns
    -------
    PDEDataset

    Examples
    --------
    >>> ds = make_dataset("darcy", 4, resolution=17, seed=0, cache_dir=False)
    >>> x, y = ds[0]
    >>> x.shape, y.shape, y.dtype
    (torch.Size([1, 17, 17]), torch.Size([1, 17, 17]), torch.float32)
    """
    check_choice("problem", problem, PROBLEMS)
    n = check_int("n", n, minimum=1)
    resolution = check_int("resolution", resolution, minimum=3 if problem == "darcy" else 4)
    seed = check_int("seed", seed, minimum=0)
    p = resolve_params(problem, resolution, params)
    if progress is None:
        progress = n >= 256
    _check_size(problem, n, resolution, p)
    if client is not None and store is None:
        raise ValueError("client applies to a store; give store=PATH as well")
    path = None
    if store is not None:
        cache_dir = False
    if cache_dir is not False:
        folder, writable = _prepare_cache_dir(
            default_cache_dir() if cache_dir in (None, True) else cache_dir
        )
        path = folder / f"{problem}-{cache_key(problem, n, resolution, seed, p)[:32]}.pt"
        stored = _read_verified(path)
        if stored is not None:
            why = _mismatch(stored, _expected_shapes(problem, n, resolution, p))
            if why is None:
                return PDEDataset(stored["inputs"], stored["targets"], problem, p)
            warnings.warn(
                f"cache file {path} does not match the request ({why}); regenerated",
                RuntimeWarning,
                stacklevel=2,
            )
        elif path.exists():
            warnings.warn(f"damaged cache file {path} regenerated", RuntimeWarning, stacklevel=2)
        if not writable:
            path = None  # a shared read-only cache: use the data, leave the folder alone
    if store is not None:
        from labkit.data import make_store, open_dataset

        make_store(problem, n, store, resolution=resolution, seed=seed, client=client,
                   progress=progress, device=device, **params)
        return open_dataset(store)
    try:
        inputs, targets = make_samples(
            problem, 0, n, resolution=resolution, seed=seed, params=p, progress=progress,
            device=device,
        )
    except ValueError as err:  # the solver's words, put in terms of this request
        raise ValueError(f"{problem} at resolution={resolution}: {err}") from err
    inputs = inputs.to(device="cpu", dtype=torch.float32).contiguous()
    targets = targets.to(device="cpu", dtype=torch.float32).contiguous()
    if path is not None:
        buffer = io.BytesIO()
        torch.save({"inputs": inputs, "targets": targets}, buffer)
        _write_atomic(path, buffer.getvalue())
    return PDEDataset(inputs, targets, problem, p)
