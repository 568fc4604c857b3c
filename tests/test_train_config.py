"""TrainConfig: every option of fit against an independent truth; the old keywords still work.

Truths used: the learning-rate formulas written out here, torch's own ``OneCycleLR``, the
gradient of the whole batch computed by hand, the first SGD/AdamW step written out, a run with
other runtime settings (workers, read-back interval) that must give the same numbers, and a
checkpoint file written by labkit before this redesign (``fixtures/train_v1``).
"""

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from test_train_loop import NaNAfter, params_of, small_fno, smoothing_data

from labkit.operators import FNO
from labkit.train import (
    Callback,
    CheckpointError,
    LpLoss,
    NonFiniteLossError,
    ProgressBar,
    TrainConfig,
    evaluate,
    fit,
    load_checkpoint,
)

FIXTURES = Path(__file__).parent / "fixtures" / "train_v1"
DATA = smoothing_data()  # 32 samples: 4 steps per epoch at batch size 8


class RecordingSGD(torch.optim.SGD):
    """SGD that records the learning rate each ``step`` actually uses."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.seen: list[float] = []

    def step(self, closure=None):
        self.seen.append(self.param_groups[0]["lr"])
        return super().step(closure)


def recording(lr, made):
    def build(params):
        made.append(RecordingSGD(params, lr))
        return made[-1]

    return build


def test_warmup_then_cosine_is_the_rate_the_optimizer_sees():
    made = []
    config = TrainConfig(
        epochs=3, batch_size=8, lr=0.1, optimizer=recording(0.1, made), warmup_steps=5
    )
    history = fit(small_fno(), DATA, config=config)
    total, warm = 12, 5
    expected = [
        0.1 * (k + 1) / warm
        if k < warm
        else 0.1 * 0.5 * (1 + math.cos(math.pi * (k - warm) / (total - warm)))
        for k in range(total)
    ]
    assert made[0].seen == pytest.approx(expected, rel=1e-12)
    assert history.lr == made[0].seen
    # warm-up under a constant schedule: the ramp, then lr
    made.clear()
    constant = config.replace(schedule="constant", optimizer=recording(0.1, made))
    fit(small_fno(), DATA, config=constant)
    assert made[0].seen == pytest.approx(expected[:warm] + [0.1] * (total - warm), rel=1e-12)


@pytest.mark.parametrize("warmup", [0, 4])
def test_onecycle_matches_torch_onecycle(warmup):
    history = fit(
        small_fno(),
        DATA,
        config=TrainConfig(
            epochs=3, batch_size=8, lr=0.05, schedule="onecycle", warmup_steps=warmup
        ),
    )
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0, momentum=0.9)
    pct = warmup / 12 if warmup else 0.3
    reference = torch.optim.lr_scheduler.OneCycleLR(probe, 0.05, total_steps=12, pct_start=pct)
    rates = []
    for _ in range(12):
        rates.append(probe.param_groups[0]["lr"])
        probe.step()
        reference.step()
    assert history.lr == pytest.approx(rates, rel=1e-12)
    assert history.lr[0] == pytest.approx(0.05 / 25) and max(history.lr) <= 0.05
    if warmup:
        assert history.lr[warmup - 1] == pytest.approx(0.05)


def test_onecycle_warmup_longer_than_the_run_is_refused_before_training():
    config = TrainConfig(epochs=1, batch_size=8, schedule="onecycle", warmup_steps=4)
    with pytest.raises(ValueError, match="warmup_steps must be less than the 4 steps"):
        fit(small_fno(), DATA, config=config)


class FirstGradients(Callback):
    def __init__(self):
        self.grads = None

    def on_step_end(self, state):
        if self.grads is None:
            self.grads = [p.grad.clone() for p in state.model.parameters()]


def test_micro_batches_give_the_gradient_of_the_whole_batch():
    config = TrainConfig(epochs=2, batch_size=8, lr=1e-2, grad_clip=None)
    whole, parts = FirstGradients(), FirstGradients()
    plain = small_fno()
    reference = fit(plain, DATA, config=config, callbacks=[whole])
    split = small_fno()
    history = fit(split, DATA, config=config.replace(micro_batch=3), callbacks=[parts])
    assert history.micro_batch == 3  # 3 + 3 + 2: unequal shares weighted by their size
    for a, b in zip(parts.grads, whole.grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    # and the gradient of the first batch (seed 0, epoch 0) written out by hand
    first = torch.randperm(32, generator=torch.Generator().manual_seed(0))[:8]
    net = small_fno()
    LpLoss()(net(DATA.tensors[0][first]), DATA.tensors[1][first]).backward()
    for a, p in zip(parts.grads, net.parameters(), strict=True):
        torch.testing.assert_close(a, p.grad, rtol=1e-5, atol=1e-7)
    for a, b in zip(params_of(split), params_of(plain), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert history.train_loss == pytest.approx(reference.train_loss, rel=1e-5)


def test_first_sgd_and_adamw_steps_follow_their_formulas():
    """weight_decay, grad_clip and the named optimizers, checked on one full-batch step."""
    x, y = DATA.tensors[0][:8], DATA.tensors[1][:8]
    one_batch = torch.utils.data.TensorDataset(x, y)
    start = params_of(small_fno())
    net = small_fno()
    LpLoss()(net(x), y).backward()
    grads = [p.grad.clone() for p in net.parameters()]
    norm = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
    clip, lr, wd = 0.5 * norm, 0.1, 0.01
    scale = clip / (norm + 1e-6)  # clip_grad_norm_ scales by max_norm / (norm + 1e-6)

    sgd = small_fno()
    config = TrainConfig(
        epochs=1, batch_size=8, lr=lr, optimizer="sgd", weight_decay=wd, grad_clip=clip,
        schedule="constant",
    )
    fit(sgd, one_batch, config=config)
    for p, p0, g in zip(sgd.parameters(), start, grads, strict=True):
        torch.testing.assert_close(p.detach(), p0 - lr * (scale * g + wd * p0))

    adamw = small_fno()
    fit(adamw, one_batch, config=config.replace(optimizer="adamw", grad_clip=None))
    for p, p0, g in zip(adamw.parameters(), start, grads, strict=True):
        # first Adam step: m / sqrt(v) = g / |g| (bias-corrected), decay applied first
        expected = p0 * (1 - lr * wd) - lr * g / (g.abs() + 1e-8)
        torch.testing.assert_close(p.detach(), expected, rtol=1e-4, atol=1e-6)


class EvalLog(Callback):
    def __init__(self, val):
        self.val, self.at, self.direct = val, [], []

    def on_eval(self, state):
        self.at.append(state.step)
        self.direct.append(evaluate(state.model, self.val))


def test_eval_every_evaluates_at_its_steps():
    val = smoothing_data(8, seed=1)
    log = EvalLog(val)
    config = TrainConfig(epochs=3, batch_size=8, lr=1e-2, eval_every=5)
    history = fit(small_fno(), DATA, val, config=config, callbacks=[log])
    assert history.val_step == log.at == [5, 10]
    assert history.val_loss == pytest.approx(log.direct, rel=1e-6)
    per_epoch = fit(small_fno(), DATA, val, config=config.replace(eval_every=None))
    assert per_epoch.val_step == [4, 8, 12]


class OutputDtypes(Callback):
    """Records the dtype of a hidden layer's output during training steps."""

    def __init__(self):
        self.dtypes = set()

    def on_train_start(self, state):
        state.model.skips[0].register_forward_hook(lambda m, i, o: self.dtypes.add(o.dtype))


def test_amp_runs_bf16_on_cpu_and_learns():
    seen = OutputDtypes()
    config = TrainConfig(epochs=4, batch_size=8, lr=1e-2, amp=True, device="cpu")
    history = fit(small_fno(), DATA, config=config, callbacks=[seen])
    assert seen.dtypes == {torch.bfloat16}
    assert all(math.isfinite(v) for v in history.train_loss)
    assert history.train_loss[-1] < 0.9 * history.train_loss[0]
    off = OutputDtypes()
    fit(small_fno(), DATA, config=config.replace(amp=None, epochs=1), callbacks=[off])
    assert off.dtypes == {torch.float32}  # default: autocast on CUDA only


def test_num_workers_and_sync_every_do_not_change_the_numbers():
    val = smoothing_data(8, seed=1)
    config = TrainConfig(epochs=2, batch_size=8, lr=1e-2, seed=4)
    base = fit(small_fno(), DATA, val, config=config)
    workers = fit(small_fno(), DATA, val, config=config.replace(num_workers=1))
    grouped = fit(small_fno(), DATA, val, config=config.replace(sync_every=3))
    for other in (workers, grouped):
        assert other.train_loss == base.train_loss and other.val_loss == base.val_loss
        assert other.step == base.step and other.lr == base.lr


class Closed(Callback):
    closed = False

    def on_close(self, state):
        self.closed = True


def test_nan_with_sync_every_names_the_step_it_came_from(tmp_path):
    path, closed = tmp_path / "run.pt", Closed()
    with pytest.raises(NonFiniteLossError, match="at step 7 ") as info:
        fit(
            small_fno(),
            DATA,
            loss=NaNAfter(7),
            config=TrainConfig(epochs=3, batch_size=8, sync_every=3),
            checkpoint=path,
            callbacks=[closed],
        )
    assert info.value.step == 7 and closed.closed
    assert load_checkpoint(path).extra["history"]["step"] == [1, 2, 3, 4]


class CountingLoss:
    def __init__(self):
        self.calls = 0

    def __call__(self, pred, target):
        self.calls += 1
        return (pred - target).square().mean()


def test_a_checkpoint_is_refused_before_any_step(tmp_path):
    x = torch.randn(8, 3)
    data = torch.utils.data.TensorDataset(x, x)
    loss = CountingLoss()
    path = tmp_path / "run.pt"
    with pytest.raises(TypeError, match="registry .*checkpoint='.*run.pt' needs it"):
        fit(torch.nn.Linear(3, 3), data, loss=loss, config=TrainConfig(epochs=1), checkpoint=path)
    assert loss.calls == 0 and not path.exists()
    # a file that is not a labkit checkpoint is not overwritten, and nothing trains
    notes = tmp_path / "notes.pt"
    notes.write_text("my notes")
    with pytest.raises(CheckpointError, match="notes.pt' already exists and is not a labkit"):
        fit(small_fno(), DATA, loss=loss, config=TrainConfig(epochs=1), checkpoint=notes)
    assert loss.calls == 0 and notes.read_text() == "my notes"


def test_resume_from_a_checkpoint_written_before_trainconfig(tmp_path):
    """fixtures/train_v1/fno_epoch2_of_4.pt: labkit 22e5590 ran
    ``fit(FNO(1, 1, modes=(6,), width=8, n_layers=2), smoothing_data(), smoothing_data(8, seed=1),
    epochs=4, lr=1e-2, batch_size=8, seed=3, checkpoint=...)`` (model seeded 0) and stopped after
    epoch 2. Resuming it must finish like an uninterrupted run of today's fit (to float32
    round-off: the first two epochs ran on another machine, whose kernels may sum in another
    order; a wrong optimizer, schedule or position would differ at the percent level)."""
    val = smoothing_data(8, seed=1)
    config = TrainConfig(epochs=4, lr=1e-2, batch_size=8, seed=3)
    full = small_fno()
    reference = fit(full, DATA, val, config=config)
    path = tmp_path / "old.pt"
    path.write_bytes((FIXTURES / "fno_epoch2_of_4.pt").read_bytes())
    torch.manual_seed(1)  # other initial weights and RNG state: all must come from the file
    resumed = FNO(1, 1, modes=(6,), width=8, n_layers=2)
    history = fit(resumed, DATA, val, config=config, checkpoint=path, resume=path)
    assert history.step == reference.step and history.lr == pytest.approx(reference.lr)
    assert history.train_loss == pytest.approx(reference.train_loss, rel=1e-5)
    assert history.val_loss == pytest.approx(reference.val_loss, rel=1e-5)
    for a, b in zip(params_of(resumed), params_of(full), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_old_keywords_warn_with_their_replacement_and_train_the_same():
    new = fit(small_fno(), DATA, config=TrainConfig(epochs=2, lr=1e-2, batch_size=8))
    with pytest.warns(DeprecationWarning) as caught:
        old = fit(small_fno(), DATA, epochs=2, lr=1e-2, batch_size=8, progress=False)
    message = str(caught[0].message)
    assert "config=TrainConfig(epochs=..., lr=..., batch_size=...)" in message
    assert "callbacks=[ProgressBar(enabled=...)]" in message
    assert caught[0].filename == __file__  # points at the caller
    assert old.train_loss == new.train_loss
    with pytest.raises(TypeError, match="config= and the deprecated keywords"):
        fit(small_fno(), DATA, config=TrainConfig(), epochs=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        fit(small_fno(), DATA, epoch=2)


def test_progress_bar_counts_every_step(capsys):
    fit(small_fno(), DATA, config=TrainConfig(epochs=3, batch_size=8),
        callbacks=[ProgressBar(enabled=True)])
    assert "12/12" in capsys.readouterr().err


def test_config_is_checked_once_and_frozen():
    with pytest.raises(TypeError, match="epochs must be an integer, got 2.5"):
        TrainConfig(epochs=2.5)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="micro_batch must be >= 1, got 0"):
        TrainConfig(micro_batch=0)
    with pytest.raises(ValueError, match="num_workers must be >= 0"):
        TrainConfig(num_workers=-1)
    with pytest.raises(ValueError, match="grad_clip must be positive"):
        TrainConfig(grad_clip=0.0)
    with pytest.raises(TypeError, match="amp must be bool"):
        TrainConfig(amp="yes")
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().lr = 1.0
    with pytest.raises(TypeError, match="config must be a TrainConfig"):
        fit(small_fno(), DATA, config={"epochs": 1})


def test_train_modules_import_each_other_without_a_cycle():
    """Every import between labkit.train modules (also those inside functions) forms no cycle."""
    import ast

    import labkit.train

    folder = Path(labkit.train.__file__).parent
    graph = {}
    for path in folder.glob("*.py"):
        if path.stem == "__init__":
            continue
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labkit.train."):
                names.add(node.module.rsplit(".", 1)[1])
            elif isinstance(node, ast.Import):
                names |= {a.name.rsplit(".", 1)[1] for a in node.names
                          if a.name.startswith("labkit.train.")}
        graph[path.stem] = names
    assert graph["loop"] >= {"callbacks", "config"} and "loop" not in graph["live"]

    def reaches(start, target, seen=()):
        return any(n == target or (n not in seen and reaches(n, target, (*seen, n)))
                   for n in graph.get(start, ()))

    cycles = sorted(name for name in graph if reaches(name, name))
    assert cycles == []
