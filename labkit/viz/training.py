"""Training monitor: loss curves (raw and smoothed), learning rate and throughput per step.

The history is any object or mapping with

- ``loss`` (or ``train_loss``): training loss per step (required),
- ``steps`` (or ``step``, optional): the step numbers, default ``0..len(loss)-1``,
- ``lr``, ``throughput`` (optional): learning rate and samples per second per step,
- ``val_loss`` with ``val_steps`` (or ``val_step``), optional: validation losses and the steps
  they were taken at.

``labkit.train.fit``'s ``History`` fits as it is.

With ``refresh_ms`` the monitor re-reads the history on a timer, so a history that a training
loop keeps appending to is drawn live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from labkit.viz import theme
from labkit.viz._inputs import as_array, get_any

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
    if not isinstance(smoothing, (int, float, np.floating)) or not 0.0 <= smoothing < 1.0:
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

    steps: np.ndarray
    loss: np.ndarray
    smoothed: np.ndarray
    lr: np.ndarray | None
    throughput: np.ndarray | None
    val_steps: np.ndarray | None
    val_loss: np.ndarray | None

    def to_dict(self) -> dict[str, Any]:
        """Return the view as plain lists."""
        return {k: None if v is None else v.tolist() for k, v in self.__dict__.items()}


def _optional(history: Any, name: str, length: int | None, *aliases: str) -> np.ndarray | None:
    value = get_any(history, (name, *aliases), None)
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
    >>> v = training_view({"loss": [4.0, 3.0, 2.0, 1.0]}, smoothing=0.0, window=(1, 2))
    >>> v.steps.tolist(), v.loss.tolist()
    ([1.0, 2.0], [3.0, 2.0])
    """
    loss = get_any(history, ("loss", "train_loss"), argname="history")
    loss = as_array("history.loss", loss, ndim=1)
    n = len(loss)
    steps = _optional(history, "steps", n, "step")
    steps = np.arange(n, dtype=float) if steps is None else steps
    smoothed = ema(loss, smoothing)
    lr, speed = _optional(history, "lr", n), _optional(history, "throughput", n)
    val_loss = _optional(history, "val_loss", None)
    val_steps = _optional(
        history, "val_steps", None if val_loss is None else len(val_loss), "val_step"
    )
    if val_loss is not None and val_steps is None:
        raise ValueError("history.val_steps must be given with history.val_loss")
    lo, hi = (steps[0], steps[-1]) if window is None else (float(window[0]), float(window[1]))
    if hi < lo:
        raise ValueError(f"window must be (start, stop) with start <= stop, got {window}")
    keep = (steps >= lo) & (steps <= hi)
    cut = lambda a: None if a is None else a[keep]  # noqa: E731
    val_keep = None if val_steps is None else (val_steps >= lo) & (val_steps <= hi)
    return TrainingView(
        steps[keep],
        loss[keep],
        smoothed[keep],
        cut(lr),
        cut(speed),
        None if val_keep is None else val_steps[val_keep],
        None if val_keep is None else val_loss[val_keep],
    )


def follow_history(history: Any, window: Any, tick: Any):
    """Return a callback that re-reads ``history`` and redraws: the step window grows with it.

    ``window`` is the step-range slider (its upper end follows the newest step when it was at
    the end) and ``tick`` a hidden counter that the plots depend on.
    """

    def refresh() -> None:
        steps = training_view(history, smoothing=0.0).steps
        at_end = window.value[1] >= window.end
        window.end = max(int(steps[-1]), window.start + 1)
        if at_end:
            window.value = (window.value[0], int(steps[-1]))
        tick.value += 1

    return refresh


def training_monitor(history: Any, *, smoothing: float = 0.9, refresh_ms: int | None = None):
    """Watch a training run: loss (raw and smoothed), learning rate and throughput.

    Parameters
    ----------
    history
        Object or mapping with per-step ``loss`` and optional ``steps``, ``lr``,
        ``throughput``, ``val_loss``/``val_steps``.
    smoothing
        Initial EMA smoothing of the loss and the throughput, in [0, 1).
    refresh_ms
        If given, re-read ``history`` every ``refresh_ms`` milliseconds (live training).

    Returns
    -------
    panel.layout.Column
        A smoothing slider, a step-window slider and up to three plots. Its ``refresh()``
        re-reads ``history`` now (what the timer calls).

    Examples
    --------
    >>> from labkit.viz.demo import demo_history
    >>> type(training_monitor(demo_history(n_steps=30))).__name__
    'Column'
    """
    theme.setup()
    import holoviews as hv
    import panel as pn

    first = training_view(history, smoothing=smoothing)
    if refresh_ms is not None and (isinstance(refresh_ms, bool) or int(refresh_ms) < 50):
        raise ValueError(f"refresh_ms must be an integer >= 50, got {refresh_ms!r}")
    start, stop = int(first.steps[0]), int(first.steps[-1])
    smooth = pn.widgets.FloatSlider(
        label="smoothing", start=0.0, end=0.99, step=0.01, value=smoothing, width=220
    )
    window = pn.widgets.IntRangeSlider(
        label="steps", start=start, end=max(stop, start + 1), value=(start, stop), width=300
    )
    tick = pn.widgets.IntInput(value=0, visible=False)
    positive = bool(np.all(first.loss > 0))

    def loss_plot(s: float, w: tuple[int, int], _tick: int):
        v = training_view(history, smoothing=s, window=w)
        raw = hv.Curve((v.steps, v.loss), "step", "loss", label="train").opts(
            color=theme.PALETTE[0], alpha=0.3
        )
        smoothed = hv.Curve((v.steps, v.smoothed), "step", "loss", label=f"EMA {s:.2f}").opts(
            color=theme.PALETTE[0], line_width=2
        )
        overlay = raw * smoothed
        if v.val_loss is not None and len(v.val_loss):
            overlay = overlay * hv.Curve(
                (v.val_steps, v.val_loss), "step", "loss", label="val"
            ).opts(color=theme.ACCENT, line_width=2)
        return overlay.opts(
            **theme.plot_opts(
                title="loss", logy=positive, framewise=True, legend_position="top_right"
            )
        )

    def series_plot(name: str, label: str, color: str, smoothed: bool):
        def plot(s: float, w: tuple[int, int], _tick: int):
            v = training_view(history, smoothing=0.0, window=w)
            values = getattr(v, name)
            values = ema(values, s) if smoothed else values
            return hv.Curve((v.steps, values), "step", label).opts(
                **theme.plot_opts(title=label, height=220, color=color, framewise=True)
            )

        return plot

    plots = [pn.pane.HoloViews(hv.DynamicMap(pn.bind(loss_plot, smooth, window, tick)))]
    for name, label, color, smoothed in (
        ("lr", "learning rate", theme.PALETTE[2], False),
        ("throughput", theme.axis_label("throughput", "samples/s"), theme.PALETTE[3], True),
    ):
        if getattr(first, name) is not None:
            fn = series_plot(name, label, color, smoothed)
            # An unsmoothed series does not depend on the smoothing slider: not redrawn by it.
            bound = pn.bind(fn, smooth if smoothed else 0.0, window, tick)
            plots.append(pn.pane.HoloViews(hv.DynamicMap(bound)))

    def summary(w: tuple[int, int], _tick: int) -> str:
        v = training_view(history, smoothing=0.0, window=w)
        text = f"steps {int(v.steps[0])}–{int(v.steps[-1])}: last loss {v.loss[-1]:.4g}"
        if v.throughput is not None:
            text += f", median throughput {np.median(v.throughput):.4g} samples/s"
        return text

    layout = pn.Column(
        pn.pane.Markdown("## training monitor"),
        pn.Row(smooth, window, tick),
        pn.pane.Markdown(pn.bind(summary, window, tick)),
        plots[0],
        pn.Row(*plots[1:]),
    )
    layout.refresh = follow_history(history, window, tick)
    if refresh_ms is not None:
        pn.state.add_periodic_callback(layout.refresh, period=int(refresh_ms))
    return layout
