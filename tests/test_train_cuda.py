"""Device helpers: selection, reports and batch transfer (CPU paths)."""

import pytest
import torch

from labkit.train import device_report, peak_memory, select_device, to_device


def test_select_device_defaults_and_errors():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device().type == expected
    assert select_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device must name a torch device"):
        select_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")


def test_device_report_and_transfer():
    report = device_report("cpu")
    assert report.to_dict()["device"] == "cpu" and report.torch_version == torch.__version__
    assert peak_memory(torch.device("cpu")) is None
    batch = {"x": torch.ones(2), "pair": (torch.zeros(1), [torch.ones(3)]), "name": "a"}
    moved = to_device(batch, torch.device("cpu"))
    assert moved["name"] == "a" and isinstance(moved["pair"], tuple)
    assert torch.equal(moved["pair"][1][0], torch.ones(3))
