"""Checkpoints: round trip, atomic writes, and clear errors for damaged or foreign files."""

import pytest
import torch

from labkit.operators import FNO, UNet
from labkit.train import CheckpointError, load_checkpoint, save_checkpoint
from labkit.train import checkpoint as checkpoint_module


def small_fno(width: int = 8) -> FNO:
    torch.manual_seed(0)
    return FNO(1, 1, modes=(4,), width=width, n_layers=2)


def test_round_trip_rebuilds_the_model_from_the_registry(tmp_path):
    model = small_fno()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 1, 16)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path / "run.pt", model, opt, epoch=2, step=7, extra={"note": "x"})
    loaded = load_checkpoint(path)
    assert (loaded.name, loaded.epoch, loaded.step, loaded.extra) == ("fno", 2, 7, {"note": "x"})
    x = torch.randn(3, 1, 16)
    assert torch.equal(loaded.model(x), model(x))
    fresh = small_fno()
    opt2 = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    load_checkpoint(path, fresh, opt2)
    state, state2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert all(torch.equal(state[k]["exp_avg"], state2[k]["exp_avg"]) for k in state)
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # no temporary files left


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "run.pt", small_fno(), epoch=1)
    before = path.read_bytes()

    def broken_save(obj, handle):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, small_fno(), epoch=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]


def test_damaged_file_gives_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "run.pt", small_fno())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "text.pt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_foreign_files_are_refused(tmp_path):
    torch.save({"state_dict": small_fno().state_dict()}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a labkit checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "pickled.pt")  # code, not data
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "pickled.pt")


def test_checkpoint_from_another_model_leaves_the_model_untouched(tmp_path):
    path = save_checkpoint(tmp_path / "unet.pt", UNet(1, 1, width=4, depth=1))
    model = small_fno()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match="holds model 'unet'"):
        load_checkpoint(path, model)
    wider = save_checkpoint(tmp_path / "wide.pt", small_fno(width=12))
    with pytest.raises(CheckpointError, match="'width': 12"):
        load_checkpoint(wider, model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_unregistered_models_cannot_be_saved(tmp_path):
    with pytest.raises(TypeError, match="registry"):
        save_checkpoint(tmp_path / "x.pt", torch.nn.Linear(2, 2))
    assert not list(tmp_path.iterdir())
