"""Issue 21, data: caches are checked against the request, read-only caches are read, huge
requests are refused before allocating."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from labkit.pde import datasets, make_dataset
from labkit.pde.fields import gaussian_random_field, neumann_random_field


def _cache_file(folder: Path, problem: str, n: int, resolution: int, seed: int) -> Path:
    p = datasets._resolve_params(problem, resolution, {})
    return folder / f"{problem}-{datasets.cache_key(problem, n, resolution, seed, p)[:32]}.pt"


def _store(path: Path, inputs: torch.Tensor, targets: torch.Tensor) -> None:
    buffer = io.BytesIO()
    torch.save({"inputs": inputs, "targets": targets}, buffer)
    datasets._write_atomic(path, buffer.getvalue())  # the right hash over the wrong content


@pytest.mark.parametrize(
    "inputs, targets, why",
    [
        (torch.zeros(2, 1, 5, 5), torch.zeros(2, 1, 5, 5), "has shape"),
        (torch.zeros(1, 1, 9, 9), torch.zeros(1, 1, 9, 9), "has shape"),
        (torch.zeros(2, 1, 9, 9), torch.full((2, 1, 9, 9), float("nan")), "NaN"),
        (torch.zeros(2, 1, 9, 9, dtype=torch.float64), torch.zeros(2, 1, 9, 9), "dtype"),
    ],
    ids=["wrong-shape", "wrong-length", "nan", "wrong-dtype"],
)
def test_cache_content_is_checked_against_the_request(tmp_path, inputs, targets, why):
    truth = make_dataset("darcy", 2, resolution=9, seed=5, cache_dir=False)
    path = _cache_file(tmp_path, "darcy", 2, 9, 5)
    _store(path, inputs, targets)
    with pytest.warns(RuntimeWarning, match=f"does not match the request.*{why}"):
        got = make_dataset("darcy", 2, resolution=9, seed=5, cache_dir=tmp_path)
    torch.testing.assert_close(got.targets, truth.targets, rtol=0, atol=0)
    # the regenerated file replaced the wrong one and is now loaded as it is
    again = make_dataset("darcy", 2, resolution=9, seed=5, cache_dir=tmp_path)
    torch.testing.assert_close(again.inputs, truth.inputs, rtol=0, atol=0)


def _refuse(*args, **kwargs):
    raise AssertionError("the cached data should have been read")


@pytest.fixture
def read_only(tmp_path):
    """Make a folder read-only for this process (root too: the immutable attribute)."""
    done = []

    def protect(folder: Path) -> None:
        if os.geteuid() == 0:
            if shutil.which("chattr") is None:
                pytest.skip("running as root without chattr: cannot make a folder read-only")
            subprocess.run(["chattr", "+i", str(folder)], check=True)
            done.append(lambda: subprocess.run(["chattr", "-i", str(folder)], check=True))
        else:
            folder.chmod(0o555)
            done.append(lambda: folder.chmod(0o755))
        try:
            (folder / ".probe").touch()
        except OSError:
            return
        pytest.skip("this file system does not make the folder read-only")

    yield protect
    for undo in done:
        undo()


def test_a_valid_cache_in_a_read_only_folder_is_read(tmp_path, read_only, monkeypatch):
    shared = tmp_path / "shared"
    truth = make_dataset("darcy", 2, resolution=9, seed=6, cache_dir=shared)
    before = sorted(p.name for p in shared.iterdir())
    read_only(shared)
    monkeypatch.setitem(datasets._GENERATORS, "darcy", _refuse)
    got = make_dataset("darcy", 2, resolution=9, seed=6, cache_dir=shared)
    torch.testing.assert_close(got.targets, truth.targets, rtol=0, atol=0)
    monkeypatch.undo()
    # a miss in a read-only cache is computed and simply not stored
    other = make_dataset("darcy", 1, resolution=9, seed=7, cache_dir=shared)
    assert other.inputs.shape == (1, 1, 9, 9)
    assert sorted(p.name for p in shared.iterdir()) == before


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: gaussian_random_field((100_000, 100_000), alpha=2, tau=3), "shape"),
        (lambda: neumann_random_field((100_000, 100_000), alpha=2, tau=3), "shape"),
        (
            lambda: make_dataset("darcy", 1, resolution=80_001, seed=0, cache_dir=False),
            "resolution",
        ),
        (
            lambda: make_dataset(
                "darcy", 1, resolution=9, seed=0, cache_dir=False, solve_resolution=80_001
            ),
            "solve_resolution",
        ),
        (
            lambda: make_dataset("burgers", 10**12, resolution=64, seed=0, cache_dir=False),
            "resolution",
        ),
    ],
    ids=["grf", "neumann", "darcy", "darcy-solve", "burgers-n"],
)
def test_huge_requests_are_refused_before_allocating(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument}=.* implies .* [GT]B, more than the"):
        call()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"alpha": 0.1, "tau": 1e-200}, "give a field beyond the range"),
        ({"alpha": 144.0, "tau": 141.0}, "range"),
        ({"alpha": 1.0, "tau": 1.3e154}, "tau must be at most"),
    ],
)
def test_spectrum_parameters_that_overflow_are_named(kwargs, match):
    for draw in (gaussian_random_field, neumann_random_field):
        with pytest.raises(ValueError, match=match):
            draw((8, 8), seed=0, **kwargs)


def test_darcy_solve_on_an_empty_batch_is_named():
    from labkit.pde import darcy

    with pytest.raises(ValueError, match=r"a must hold at least one coefficient, got shape \(0,"):
        darcy.solve(np.ones((0, 5, 5)))
