"""Training monitor: loss curves (raw and smoothed) and the learning rate per step.

The history is a :class:`labkit.train.History` (what ``fit`` returns), or any object or mapping
with its fields:

- ``train_loss``: training loss per step (required),
- ``step`` (optional): the step numbers, default ``0..len(train_loss)-1``,
- ``lr`` (optional): learning rate per step,
- ``val_loss`` with ``val_step`` (optional): validation losses and the steps they were taken
  at,
- ``samples_per_s`` (optional): the run's throughput, shown in the summary.

With ``refresh_ms`` the monitor re-reads the history on a timer, so a history that a training
loop keeps appending to is drawn live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from labkit._checks import check_int, check_number
from labkit.viz import theme
from labkit.viz._inputs import as_array, get_field

__all__ = ["TrainingView", "ema", "follow_history", "training_monitor", "training_view"]


def ema(values: Any, smoothing: float) -> np.ndarray:
    """Return the bias-corrected exponential moving average of ``values``.

    ``s_t = smoothing * s_{t-1} + (1 - smoothing) * v_t`` started at 0 and divided by
    ``1 - smoothing**(t+1)``, so the first value is kept and a constant series stays constant.

    Examples
    --------
    >>> ema([1.0, 1.0, 1.0], 0.9).tolist()
    [1.0, 1.0, 1.0]
    >>> ema([0.0, 2.0], 0.5).tolist()
    [0.0, 1.3333333333333333]
    """
    values = as_array("values", values, ndim=1)
    smoothing = check_number("smoothing", smoothing, minimum=0.0)
    if smoothing >= 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}")
    out = np.empty_like(values)
    state = 0.0
    for t, v in enumerate(values):
        state = smoothing * state + (1.0 - smoothing) * v
        out[t] = state / (1.0 - smoothing ** (t + 1))
    return out


@dataclass
class TrainingView:
    """The slice of a history that the monitor draws."""

    step: np.ndarray
    train_loss: np.ndarray
    smoothed: np.ndarray
    lr: np.ndarray | None
    val_step: np.ndarray | None
    val_loss: np.ndarray | None

    def to_dict(self) -> dict[str, Any]:
        """Return the view as plain lists."""
        return {k: None if v is None else v.tolist() for k, v in self.__dict__.items()}


def _optional(history: Any, name: str, length: int | None) -> np.ndarray | None:
    value = get_field(history, name, None)
    if value is None or len(value) == 0:
        return None
    array = as_array(f"history.{name}", value, ndim=1)
    if length is not None and len(array) != length:
        raise ValueError(
            f"history.{name} must have one entry per step ({length}), got {len(array)}"
        )
    return array


def training_view(
    history: Any, *, smoothing: float = 0.9, window: tuple[int, int] | None = None
) -> TrainingView:
    """Return the steps in ``window`` (inclusive, by step number) with the smoothed loss.

    The smoothing runs over the whole history before the window is cut, so moving the window
    does not change the smoothed values.

    Examples
    --------
    >>> v = training_view({"train_loss": [4.0, 3.0, 2.0, 1.0]}, smoothing=0.0, window=(1, 2))
    >>> v.step.tolist(), v.train_loss.tolist()
    ([1.0, 2.0], [3.0, 2.0])
    """
    loss = get_field(history, "train_loss", argname="history")
    loss = as_array("history.train_loss", loss, ndim=1)
    n = len(loss)
    steps = _optional(history, "step", n)
    steps = np.arange(n, dtype=float) if steps is None else steps
    smoothed = ema(loss, smoothing)
    lr = _optional(history, "lr", n)
    val_loss = _optional(history, "val_loss", None)
    val_steps = _optional(history, "val_step", None if val_loss is None else len(val_loss))
    if val_loss is not None and val_steps is None:
        raise ValueError("history.val_step must be given with history.val_loss")
    lo, hi = (steps[0], steps[-1]) if window is None else (float(window[0]), float(window[1]))
    if hi < lo:
        raise ValueError(f"window must be (start, stop) with start <= stop, got {window}")
    keep = (steps >= lo) & (steps <= hi)
    val_keep = None if val_steps is None else (val_steps >= lo) & (val_steps <= hi)
    return TrainingView(
        steps[keep],
        loss[keep],
        smoothed[keep],
        None if lr is None else lr[keep],
        None if val_keep is None else val_steps[val_keep],
        None if val_keep is None else val_loss[val_keep],
    )


def follow_history(history: Any, window: Any, tick: Any):
    """Return a callback that re-reads ``history`` and redraws: the step window grows with it.

    ``window`` is the step-range slider (its upper end follows the newest step when it was at
    the end) and ``tick`` a hidden counter that the plots depend on.
    """

    def refresh() -> None:
        steps = training_view(history, smoothing=0.0).step
        at_end = window.value[1] >= window.end
        window.end = max(int(steps[-1]), window.start + 1)
        if at_end:
            window.value = (window.value[0], int(steps[-1]))
        tick.value += 1

    return refresh


def training_monitor(history: Any, *, smoothing: float = 0.9, refresh_ms: int | None = None):
    """Watch a training run: loss (raw and smoothed, with the validation loss) and learning rate.

    Parameters
    ----------
    history
        A ``labkit.train.History``, or an object or mapping with its fields: per-step
        ``train_loss`` and optional ``step``, ``lr``, ``val_loss``/``val_step``,
        ``samples_per_s``.
    smoothing
        Initial EMA smoothing of the loss, in [0, 1).
    refresh_ms
        If given, re-read ``history`` every ``refresh_ms`` milliseconds (live training).

    Returns
    -------
    panel.layout.Column
        A smoothing slider, a step-window slider and up to two plots. Its ``refresh()``
        re-reads ``history`` now (what the timer calls).

    Examples
    --------
    >>> import panel as pn
    >>> monitor = training_monitor({"train_loss": [1.0, 0.5, 0.3], "lr": [0.1, 0.1, 0.05]})
    >>> monitor.select(pn.widgets.IntRangeSlider)[0].value
    (0, 2)
    """
    theme.setup()
    import holoviews as hv
    import panel as pn

    first = training_view(history, smoothing=smoothing)
    if refresh_ms is not None:
        refresh_ms = check_int("refresh_ms", refresh_ms, minimum=50)
    start, stop = int(first.step[0]), int(first.step[-1])
    smooth = pn.widgets.FloatSlider(
        label="smoothing", start=0.0, end=0.99, step=0.01, value=smoothing, width=220
    )
    window = pn.widgets.IntRangeSlider(
        label="steps", start=start, end=max(stop, start + 1), value=(start, stop), width=300
    )
    tick = pn.widgets.IntInput(value=0, visible=False)
    positive = bool(np.all(first.train_loss > 0))

    def loss_plot(s: float, w: tuple[int, int], _tick: int):
        v = training_view(history, smoothing=s, window=w)
        raw = hv.Curve((v.step, v.train_loss), "step", "loss", label="train").opts(
            color=theme.PALETTE[0], alpha=0.3
        )
        smoothed = hv.Curve((v.step, v.smoothed), "step", "loss", label=f"EMA {s:.2f}").opts(
            color=theme.PALETTE[0], line_width=2
        )
        overlay = raw * smoothed
        if v.val_loss is not None and len(v.val_loss):
            overlay = overlay * hv.Curve(
                (v.val_step, v.val_loss), "step", "loss", label="val"
            ).opts(color=theme.ACCENT, line_width=2)
        return overlay.opts(
            **theme.plot_opts(
                title="loss", logy=positive, framewise=True, legend_position="top_right"
            )
        )

    def lr_plot(w: tuple[int, int], _tick: int):
        v = training_view(history, smoothing=0.0, window=w)
        return hv.Curve((v.step, v.lr), "step", "learning rate").opts(
            **theme.plot_opts(
                title="learning rate", height=220, color=theme.PALETTE[2], framewise=True
            )
        )

    plots = [pn.pane.HoloViews(hv.DynamicMap(pn.bind(loss_plot, smooth, window, tick)))]
    if first.lr is not None:
        # The learning rate does not depend on the smoothing slider: not redrawn by it.
        plots.append(pn.pane.HoloViews(hv.DynamicMap(pn.bind(lr_plot, window, tick))))

    def summary(w: tuple[int, int], _tick: int) -> str:
        v = training_view(history, smoothing=0.0, window=w)
        text = f"steps {int(v.step[0])}–{int(v.step[-1])}: last loss {v.train_loss[-1]:.4g}"
        speed = get_field(history, "samples_per_s", None)
        if speed is not None:
            text += f", {float(speed):.4g} samples/s over the run"
        return text

    layout = pn.Column(
        pn.pane.Markdown("## training monitor"),
        pn.Row(smooth, window, tick),
        pn.pane.Markdown(pn.bind(summary, window, tick)),
        *plots,
    )
    layout.refresh = follow_history(history, window, tick)
    if refresh_ms is not None:
        pn.state.add_periodic_callback(layout.refresh, period=refresh_ms)
    return layout
