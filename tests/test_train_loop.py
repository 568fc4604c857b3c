"""fit: learning, bit-for-bit resume, NaN stops, bad input, out-of-memory back-off."""

import pytest
import torch
from torch.utils.data import TensorDataset

from labkit.operators import FNO
from labkit.train import (
    Callback,
    LiveLossPlot,
    LpLoss,
    NonFiniteLossError,
    TrainConfig,
    accumulate_gradients,
    evaluate,
    fit,
    load_checkpoint,
)


def smoothing_data(n: int = 32, grid: int = 32, seed: int = 0) -> TensorDataset:
    """u -> a low-pass filtered u: a linear operator an FNO can represent."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, grid, generator=g)
    xh = torch.fft.rfft(x)
    xh[..., 4:] = 0
    xh[..., 1:4] *= torch.tensor([0.5, -1.0, 2.0])
    return TensorDataset(x, torch.fft.irfft(xh, n=grid))


def small_fno() -> FNO:
    torch.manual_seed(0)
    return FNO(1, 1, modes=(6,), width=8, n_layers=2)


def params_of(model):
    return [p.detach().clone() for p in model.parameters()]


def test_fit_learns_and_reports():
    data = smoothing_data()
    model = small_fno()
    config = TrainConfig(epochs=20, lr=3e-2, batch_size=8)
    history = fit(model, data, smoothing_data(8, seed=1), config=config)
    assert history.step == list(range(1, 81))
    assert history.epochs == 20 and len(history.val_loss) == 20
    assert history.train_loss[0] > 0.9 and history.train_loss[-1] < 0.1
    assert history.val_loss[-1] < 0.1
    assert history.val_loss[-1] == pytest.approx(evaluate(model, smoothing_data(8, seed=1)))
    assert history.lr[0] == pytest.approx(3e-2) and history.lr[-1] < 1e-4  # cosine decay
    assert history.samples_per_s > 0 and history.peak_memory_gb is None
    assert set(history.to_dict()) >= {"train_loss", "val_loss", "lr", "device"}


class Interrupt(Callback):
    def __init__(self, after_epoch: int):
        self.after_epoch = after_epoch

    def on_epoch_end(self, state):
        if state.epoch + 1 == self.after_epoch:
            raise KeyboardInterrupt


def test_resume_is_bit_for_bit(tmp_path):
    data, val = smoothing_data(), smoothing_data(8, seed=1)
    settings = dict(config=TrainConfig(epochs=4, lr=1e-2, batch_size=8, seed=3))
    full = small_fno()
    full_history = fit(full, data, val, **settings)

    path = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        fit(small_fno(), data, val, checkpoint=path, callbacks=[Interrupt(2)], **settings)
    assert load_checkpoint(path).epoch == 2
    torch.manual_seed(123)  # a different global RNG state must not matter
    resumed = small_fno()
    history = fit(resumed, data, val, checkpoint=path, resume=path, **settings)
    assert all(torch.equal(a, b) for a, b in zip(params_of(full), params_of(resumed), strict=True))
    assert history.train_loss == full_history.train_loss
    assert history.val_loss == full_history.val_loss


class NaNAfter:
    def __init__(self, step: int):
        self.calls, self.step = 0, step

    def __call__(self, pred, target):
        self.calls += 1
        value = LpLoss()(pred, target)
        return value * float("nan") if self.calls >= self.step else value


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    path = tmp_path / "run.pt"
    with pytest.raises(NonFiniteLossError, match="at step 7 .*kept at") as info:
        fit(
            small_fno(),
            smoothing_data(),
            config=TrainConfig(epochs=3, batch_size=8),
            checkpoint=path,
            loss=NaNAfter(7),
        )
    assert info.value.step == 7 and info.value.epoch == 1
    # epoch 0 (steps 1-4) ended well, so the file now holds that epoch, not a NaN state
    saved = load_checkpoint(path)
    assert saved.epoch == 1 and saved.step == 4
    assert all(torch.isfinite(p).all() for p in saved.model.parameters())
    assert saved.extra["history"]["step"] == [1, 2, 3, 4]


def test_nan_input_and_bad_arguments():
    x = torch.randn(8, 1, 16)
    x[3, 0, 5] = float("nan")
    with pytest.raises(ValueError, match="train batch at step 1 has NaN or inf"):
        fit(small_fno(), TensorDataset(x, x), config=TrainConfig(epochs=1, batch_size=8))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="lr must be positive"):
        TrainConfig(lr=-1.0)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        fit(lambda x: x, smoothing_data())
    with pytest.raises(ValueError, match="schedule must be one of"):
        TrainConfig(schedule="linear")
    with pytest.raises(ValueError, match="x must have 1 channels"):
        fit(small_fno(), TensorDataset(torch.randn(4, 2, 16), torch.randn(4, 1, 16)))


def test_oom_backoff_halves_the_micro_batch_and_keeps_the_batch_gradient():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    sizes = []

    def step(micro, weight):
        mx, my = micro
        sizes.append(mx.shape[0])
        if mx.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        value = (model(mx) - my).square().mean()
        (weight * value).backward()
        return value

    loss, micro = accumulate_gradients(step, (x, y), 8, zero_grad=model.zero_grad)
    assert micro == 2 and sizes == [8, 4, 2, 2, 2, 2]
    got = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    full = (model(x) - y).square().mean()
    full.backward()
    torch.testing.assert_close(loss, full.detach())
    for g, p in zip(got, model.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad)


class OOMAbove(torch.nn.Module):
    """Wraps a model and raises a CUDA out-of-memory error for batches larger than ``limit``."""

    def __init__(self, inner, limit):
        super().__init__()
        self.inner, self.limit = inner, limit

    def forward(self, x):
        if x.shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.inner(x)


def test_fit_backs_off_and_matches_plain_accumulation():
    data = smoothing_data(16)
    backoff = OOMAbove(small_fno(), limit=2)
    config = TrainConfig(epochs=2, batch_size=8, lr=1e-2)
    history = fit(backoff, data, config=config)
    assert history.micro_batch == 2
    plain = small_fno()
    reference = fit(plain, data, config=config)
    for a, b in zip(params_of(backoff.inner), params_of(plain), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert history.train_loss == pytest.approx(reference.train_loss, rel=1e-4)


def test_live_plot_buffers_follow_the_history():
    plot = LiveLossPlot(every=2, display=False)
    history = fit(
        small_fno(),
        smoothing_data(16),
        smoothing_data(4, seed=1),
        config=TrainConfig(epochs=2, batch_size=4),
        callbacks=[plot],
    )
    train = plot.buffers["train"].data
    val = plot.buffers["val"].data
    assert list(train["step"]) == history.step and list(train["loss"]) == history.train_loss
    assert list(val["loss"]) == history.val_loss
