"""Datasets: layout, agreement with the solvers, the content-addressed cache and bad input."""

import warnings

import pytest
import torch

from labkit.pde import burgers, darcy, datasets, make_dataset


def test_darcy_pairs_are_channels_first_float32_and_solve_the_pde():
    ds = make_dataset("darcy", 3, resolution=17, seed=0, cache_dir=False)
    assert len(ds) == 3
    a, u = ds[1]
    assert a.shape == (1, 17, 17) and u.shape == (1, 17, 17) and u.dtype == torch.float32
    assert set(a.unique().tolist()) <= {3.0, 12.0}
    torch.testing.assert_close(u[0], darcy.solve(a[0].double()).float(), atol=1e-6, rtol=1e-5)


def test_darcy_two_level_solver_gives_the_same_data():
    direct = make_dataset("darcy", 3, resolution=33, seed=2, cache_dir=False)
    two_level = make_dataset("darcy", 3, resolution=33, seed=2, cache_dir=False, method="two-level")
    torch.testing.assert_close(two_level.targets, direct.targets, atol=1e-6, rtol=1e-5)


def test_darcy_subsamples_a_finer_solve():
    ds = make_dataset("darcy", 2, resolution=9, seed=1, cache_dir=False, solve_resolution=17)
    fine = make_dataset("darcy", 2, resolution=17, seed=1, cache_dir=False)
    torch.testing.assert_close(ds.targets, fine.targets[:, :, ::2, ::2])
    torch.testing.assert_close(ds.inputs, fine.inputs[:, :, ::2, ::2])


def test_burgers_and_navier_stokes_layouts():
    b = make_dataset("burgers", 2, resolution=64, seed=0, cache_dir=False, t_final=0.2)
    u0, u1 = b[0]
    assert u0.shape == (1, 64) and u1.shape == (1, 64)
    expected = burgers.simulate(u0.double(), nu=0.1, t_final=0.2)[:, -1]
    torch.testing.assert_close(u1.double(), expected, atol=1e-5, rtol=1e-4)
    ns = make_dataset(
        "navier_stokes",
        1,
        resolution=16,
        seed=0,
        cache_dir=False,
        solve_resolution=32,
        t_in=3,
        t_out=2,
        record_dt=0.05,
    )
    x, y = ns[0]
    assert x.shape == (3, 16, 16) and y.shape == (2, 16, 16)


def test_cache_is_reused_and_a_damaged_file_is_regenerated(tmp_path, monkeypatch):
    first = make_dataset("darcy", 2, resolution=9, seed=3, cache_dir=tmp_path)
    files = list(tmp_path.glob("darcy-*.pt"))
    assert len(files) == 1 and not list(tmp_path.glob(".*tmp"))

    def refuse(*args, **kwargs):
        raise AssertionError("the cached data should have been loaded")

    monkeypatch.setitem(datasets._GENERATORS, "darcy", refuse)
    again = make_dataset("darcy", 2, resolution=9, seed=3, cache_dir=tmp_path)
    torch.testing.assert_close(again.targets, first.targets)
    monkeypatch.undo()

    data = bytearray(files[0].read_bytes())
    data[-10] ^= 0xFF
    files[0].write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="damaged"):
        repaired = make_dataset("darcy", 2, resolution=9, seed=3, cache_dir=tmp_path)
    torch.testing.assert_close(repaired.targets, first.targets)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_dataset("darcy", 2, resolution=9, seed=3, cache_dir=tmp_path)


def test_cache_key_tracks_the_data_not_the_solver():
    p = datasets._resolve_params("darcy", 9, {})
    key = datasets.cache_key("darcy", 2, 9, 0, p)
    assert key == datasets.cache_key("darcy", 2, 9, 0, p | {"method": "cg"})
    assert key != datasets.cache_key("darcy", 2, 9, 0, p | {"a_plus": 10.0})
    assert key != datasets.cache_key("darcy", 2, 9, 1, p)


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(datasets.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        make_dataset("darcy", 1, resolution=9, seed=0, cache_dir=tmp_path)
    assert [p for p in tmp_path.iterdir() if not p.name.startswith(".probe")] == []


def test_unwritable_cache_dir_is_a_value_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cache_dir"):
        make_dataset("darcy", 1, resolution=9, seed=0, cache_dir=blocker / "sub")


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("heat", 2), {}, "problem"),
        (("darcy", 0), {}, "n must be"),
        (("darcy", 2), {"a_plus": -1.0}, "a_plus"),
        (("darcy", 2), {"viscosity": 1.0}, "unknown parameter"),
        (("darcy", 2), {"solve_resolution": 12}, "solve_resolution"),
        (("burgers", 2), {"nu": -0.1}, "nu"),
    ],
)
def test_bad_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_dataset(*args, resolution=9, seed=0, cache_dir=False, **kwargs)
