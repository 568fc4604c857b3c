"""Checkpoints saved before the models were made faithful (issue 17) still load, or say why not.

``tests/fixtures/operators_v1`` holds small checkpoints written by the models as they were,
each with a fixed input and the output the model gave then (see the README there). A model whose
saved arguments still describe the same architecture must load and give the same output; the
LSM and MgNO, whose architectures changed, must refuse with a message that names the changed
argument.

``tests/fixtures/operators_v2`` holds one small checkpoint per registered model written before
``labkit/operators`` was split into ``layers/`` and ``models/`` (issue 16); each must load and
give the output saved with it.
"""

from pathlib import Path

import pytest
import torch

from labkit.operators import list_models
from labkit.train import load_checkpoint
from labkit.train.checkpoint import read_checkpoint

FIXTURES = Path(__file__).parent / "fixtures" / "operators_v1"
FIXTURES_V2 = Path(__file__).parent / "fixtures" / "operators_v2"


@pytest.mark.parametrize("name", ["fno", "sfno", "unet"])
def test_old_checkpoints_load_and_give_the_saved_output(name):
    loaded = load_checkpoint(FIXTURES / f"{name}.pt")
    assert loaded.name == name
    model = loaded.model.eval()
    with torch.no_grad():
        out = model(loaded.extra["input"])
    torch.testing.assert_close(out, loaded.extra["output"], rtol=1e-5, atol=1e-6)


def test_old_unet_checkpoints_rebuild_the_classic_unet():
    for fixtures in (FIXTURES, FIXTURES_V2):
        loaded = load_checkpoint(fixtures / "unet.pt")
        assert "style" not in read_checkpoint(fixtures / "unet.pt")["arguments"]
        assert loaded.arguments["style"] == "classic" and loaded.model.style == "classic"


def test_old_fno_checkpoint_keeps_its_two_layer_lift():
    loaded = load_checkpoint(FIXTURES / "fno.pt")
    assert loaded.arguments["lifting_ratio"] == 2 and loaded.arguments["projection_ratio"] == 2
    assert len(loaded.model.lifting) == 3  # linear, activation, linear


@pytest.mark.parametrize("name,argument", [("lsm", "patches"), ("mgno", "levels")])
def test_old_lsm_and_mgno_checkpoints_fail_naming_the_changed_argument(name, argument):
    saved = read_checkpoint(FIXTURES / f"{name}.pt")
    assert argument in saved["arguments"]
    message = f"argument '{argument}' of model '{name}' is no longer accepted"
    with pytest.raises(ValueError, match=message):
        load_checkpoint(FIXTURES / f"{name}.pt")


def test_every_registered_model_has_a_pre_split_checkpoint():
    assert sorted(p.stem for p in FIXTURES_V2.glob("*.pt")) == list_models()


@pytest.mark.parametrize("name", list_models())
def test_pre_split_checkpoints_load_and_give_the_saved_output(name):
    loaded = load_checkpoint(FIXTURES_V2 / f"{name}.pt")
    assert loaded.name == name
    model = loaded.model.eval()
    with torch.no_grad():
        out = model(loaded.extra["input"])
    torch.testing.assert_close(out, loaded.extra["output"], rtol=1e-5, atol=1e-6)
