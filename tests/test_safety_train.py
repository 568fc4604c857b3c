"""Issue 21, training: checkpoints load all or nothing and refuse what cannot fit before
allocating; evaluate and fit refuse empty data, NaN inputs and NaN weights, non-scalar losses."""

from __future__ import annotations

import io
import os

import pytest
import torch
from torch.utils.data import TensorDataset

from labkit.operators import FNO, build_model
from labkit.train import (
    CheckpointError,
    TrainConfig,
    evaluate,
    fit,
    load_checkpoint,
    save_checkpoint,
)


def small_fno(width: int = 8) -> FNO:
    torch.manual_seed(0)
    return FNO(1, 1, modes=(4,), width=width, n_layers=2)


def _edit(path, **changes) -> None:
    """Rewrite a checkpoint's fields as a user with torch.load/torch.save could."""
    payload = torch.load(path, weights_only=True)
    payload.update(changes)
    torch.save(payload, path)


def _trained_adamw(tmp_path):
    model = small_fno()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 1, 16)).pow(2).sum().backward()
    opt.step()
    return save_checkpoint(tmp_path / "run.pt", model, opt, epoch=1)


def _state(model, opt):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        repr(opt.state_dict()),
    )


def _same(a, b) -> bool:
    return a[1] == b[1] and all(torch.equal(a[0][k], b[0][k]) for k in a[0])


def test_resume_with_another_optimizer_loads_nothing(tmp_path):
    path = _trained_adamw(tmp_path)
    fresh = FNO(1, 1, modes=(4,), width=8, n_layers=2)
    sgd = torch.optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9)
    before = _state(fresh, sgd)
    with pytest.raises(CheckpointError, match="AdamW optimizer, but optimizer is SGD.*nothing"):
        load_checkpoint(path, fresh, sgd)
    assert _same(before, _state(fresh, sgd)), "the weights must not be loaded half-way"
    # the same refusal for a file that does not name its optimizer class (older checkpoints)
    _edit(path, optimizer_class=None)
    with pytest.raises(CheckpointError, match="different optimizer"):
        load_checkpoint(path, fresh, sgd)
    assert _same(before, _state(fresh, sgd))
    # and through fit(resume=...)
    data = TensorDataset(torch.randn(4, 1, 16), torch.randn(4, 1, 16))
    with pytest.raises(CheckpointError, match="optimizer"):
        fit(fresh, data, config=TrainConfig(epochs=2, optimizer="sgd"), resume=path)


def test_weights_that_do_not_fit_load_nothing(tmp_path):
    path = _trained_adamw(tmp_path)
    payload = torch.load(path, weights_only=True)
    key = sorted(payload["model"])[-1]
    payload["model"][key] = torch.zeros(3)
    torch.save(payload, path)
    fresh = small_fno()
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(CheckpointError, match=f"weight '{key}' has shape"):
        load_checkpoint(path, fresh)
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in before.items())


def test_huge_or_stale_saved_arguments_are_refused_before_building(tmp_path):
    path = _trained_adamw(tmp_path)
    args = torch.load(path, weights_only=True)["arguments"]
    _edit(path, arguments={**args, "width": 200_000})
    with pytest.raises(CheckpointError, match=r"run.pt'.*arguments=.* implies model 'fno' of"):
        load_checkpoint(path)
    _edit(path, arguments={**args, "depth_of_field": 3})
    with pytest.raises(CheckpointError, match="saved arguments .* no longer fit model 'fno'"):
        load_checkpoint(path)


class _Payload:
    def __reduce__(self):
        return (os.system, ("true",))


def test_unsafe_checkpoint_keeps_the_reason_not_the_unsafe_advice(tmp_path):
    path = tmp_path / "evil.pt"
    buffer = io.BytesIO()
    torch.save({"format": "labkit-checkpoint", "x": _Payload()}, buffer)
    path.write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "evil.pt" in message and "system" in message
    assert "weights_only" not in message and "False" not in message


def test_evaluate_refuses_empty_data_nan_inputs_nan_weights_and_wrong_shapes():
    model = small_fno()
    x = torch.randn(4, 1, 16)
    with pytest.raises(ValueError, match="data is empty"):
        evaluate(model, TensorDataset(x[:0], x[:0]))
    bad = x.clone()
    bad[2, 0, 3] = float("nan")
    with pytest.raises(ValueError, match="data: batch 1 has NaN"):
        evaluate(model, TensorDataset(bad, x), batch_size=2)
    with pytest.raises(ValueError, match="x must have 1 channels"):
        evaluate(model, TensorDataset(torch.randn(4, 3, 16), x))
    broken = small_fno()
    with torch.no_grad():
        next(broken.parameters())[0].fill_(float("nan"))
    name = next(n for n, _ in broken.named_parameters())
    with pytest.raises(ValueError, match=f"model parameter '{name}' holds NaN"):
        evaluate(broken, TensorDataset(x, x))
    # the finite case still agrees with a direct computation of the relative L2 error
    y = 2 * x
    with torch.no_grad():
        pred = model(x)
        rel = ((pred - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)).mean()
    assert evaluate(model, TensorDataset(x, y)) == pytest.approx(float(rel), rel=1e-5)


def test_a_loss_that_is_not_a_scalar_is_named():
    model = build_model("fno", in_channels=1, out_channels=1, modes=(4,), width=4)
    data = TensorDataset(torch.randn(4, 1, 16), torch.randn(4, 1, 16))

    def per_sample(pred, target):
        return (pred - target).pow(2).flatten(1).mean(dim=1)

    with pytest.raises(TypeError, match=r"loss must return a scalar tensor, got shape \(2,\)"):
        fit(model, data, loss=per_sample, config=TrainConfig(epochs=1, batch_size=2))
    with pytest.raises(TypeError, match="loss must return a scalar"):
        evaluate(model, data, per_sample, batch_size=2)
