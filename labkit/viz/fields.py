"""Field viewer: 1-D or 2-D fields, prediction against truth and their error, one sample at a time.

``truth`` (and ``prediction``) are arrays or tensors ``[n, nx]`` or ``[n, nx, ny]`` whose first
axis is a sample or a time index; a slider walks along it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from labkit._checks import check_int
from labkit.viz import theme
from labkit.viz._inputs import as_array

__all__ = ["FieldFrame", "field_frame", "field_viewer", "relative_l2"]


@dataclass
class FieldFrame:
    """One frame of the viewer: truth, prediction, error and the relative L2 error."""

    truth: np.ndarray
    prediction: np.ndarray | None
    error: np.ndarray | None
    rel_l2: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the frame as plain lists and numbers."""
        as_list = lambda a: None if a is None else a.tolist()  # noqa: E731
        return {
            "truth": as_list(self.truth),
            "prediction": as_list(self.prediction),
            "error": as_list(self.error),
            "rel_l2": self.rel_l2,
        }


def relative_l2(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Return ``||prediction - truth||_2 / ||truth||_2`` (0 when both are zero).

    Examples
    --------
    >>> relative_l2(np.array([3.0, 4.0]), np.array([0.0, 4.0]))
    0.75
    """
    diff, truth = np.ravel(prediction - truth), np.ravel(truth)
    scale = max(float(np.max(np.abs(diff), initial=0.0)), float(np.max(np.abs(truth), initial=0.0)))
    if 0.0 < scale < np.inf:  # scaled so that squares of large values do not overflow
        diff, truth = diff / scale, truth / scale
    num = float(np.linalg.norm(diff))
    den = float(np.linalg.norm(truth))
    if den == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return num / den


def _check_fields(truth: Any, prediction: Any) -> tuple[np.ndarray, np.ndarray | None]:
    truth = as_array("truth", truth, ndim=(2, 3))
    if prediction is None:
        return truth, None
    prediction = as_array("prediction", prediction, ndim=(2, 3))
    if prediction.shape != truth.shape:
        raise ValueError(
            f"prediction must have the shape of truth {truth.shape}, got {prediction.shape}"
        )
    return truth, prediction


def field_frame(
    truth: Any, prediction: Any = None, *, index: int = 0, absolute: bool = False
) -> FieldFrame:
    """Return frame ``index`` of ``truth``/``prediction`` with the (absolute) error.

    Examples
    --------
    >>> t = np.ones((2, 4)); p = t + 0.5
    >>> frame = field_frame(t, p, index=1)
    >>> frame.error.tolist(), frame.rel_l2
    ([0.5, 0.5, 0.5, 0.5], 0.5)
    """
    truth, prediction = _check_fields(truth, prediction)
    index = check_int("index", index, minimum=0, maximum=truth.shape[0] - 1)
    t = truth[index]
    if prediction is None:
        return FieldFrame(t, None, None, None)
    p = prediction[index]
    error = p - t
    return FieldFrame(t, p, np.abs(error) if absolute else error, relative_l2(p, t))


def _index_slider(pn, index_name: str, values: np.ndarray):
    """A slider that shows ``values`` (when evenly spaced integers) or the frame index.

    Returns the slider and the map from its value to the frame index.
    """
    n = len(values)
    steps = np.diff(values)
    if n > 1 and np.all(values == np.round(values)) and np.all(steps == steps[0]) and steps[0] > 0:
        start, step = int(values[0]), int(steps[0])
        slider = pn.widgets.IntSlider(
            label=index_name, start=start, end=int(values[-1]), step=step, value=start, width=300
        )
        return slider, lambda v: (int(v) - start) // step
    label = index_name if np.array_equal(values, np.arange(n)) else f"{index_name} (frame)"
    slider = pn.widgets.IntSlider(label=label, start=0, end=max(n - 1, 1), value=0, width=300)
    return slider, lambda v: min(int(v), n - 1)


def field_viewer(
    truth: Any,
    prediction: Any = None,
    *,
    name: str = "u",
    unit: str | None = None,
    index_name: str = "sample",
    index_values: Any = None,
    extent: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
):
    """View fields frame by frame: truth, prediction and error side by side.

    Parameters
    ----------
    truth, prediction
        Arrays or tensors ``[n, nx]`` (1-D) or ``[n, nx, ny]`` (2-D); ``prediction`` optional.
    name, unit
        The field's name and unit, used in labels (e.g. ``"vorticity"``, ``"1/s"``).
    index_name, index_values
        What the first axis is (``"sample"`` or ``"time"``) and its values (default 0..n-1).
    extent
        ``(x0, y0, x1, y1)`` of the domain; 1-D fields use ``x0, x1`` with the periodic grid
        ``x_j = x0 + j (x1 - x0) / nx``.

    Returns
    -------
    panel.layout.Column
        A slider over the first axis, an error-mode switch and plots that update in place.

    Examples
    --------
    >>> from labkit.viz.demo import demo_fields
    >>> f = demo_fields(nx=32, n_times=4)
    >>> import panel as pn
    >>> viewer = field_viewer(f.truth, f.prediction, index_name="time", index_values=f.times)
    >>> viewer.select(pn.widgets.IntSlider)[0].label  # uneven times: the slider walks frames
    'time (frame)'
    """
    theme.setup()
    import holoviews as hv
    import panel as pn

    truth, prediction = _check_fields(truth, prediction)
    n = truth.shape[0]
    values = (
        np.arange(n) if index_values is None else as_array("index_values", index_values, ndim=1)
    )
    if len(values) != n:
        raise ValueError(f"index_values must have length {n} (truth.shape[0]), got {len(values)}")
    x0, y0, x1, y1 = (float(v) for v in extent)
    label = theme.axis_label(name, unit)
    slider, to_index = _index_slider(pn, index_name, values)
    mode = pn.widgets.RadioButtonGroup(options=["signed", "absolute"], value="signed")
    lo, hi = float(truth.min()), float(truth.max())
    if prediction is not None:
        lo, hi = min(lo, float(prediction.min())), max(hi, float(prediction.max()))
        err_max = float(np.abs(prediction - truth).max()) or 1.0

    def plot_1d(i: int, error_mode: str):
        frame = field_frame(truth, prediction, index=i, absolute=error_mode == "absolute")
        x = x0 + (x1 - x0) * np.arange(truth.shape[1]) / truth.shape[1]
        title = f"{index_name} = {values[i]:.4g}"
        curves = hv.Curve((x, frame.truth), "x", label, label="truth").opts(
            color=theme.PALETTE[0], line_width=2
        )
        if frame.prediction is not None:
            curves = curves * hv.Curve((x, frame.prediction), "x", label, label="prediction").opts(
                color=theme.ACCENT, line_width=2, line_dash="dashed"
            )
        legend = {} if frame.prediction is None else {"legend_position": "top_right"}
        main = curves.opts(**theme.plot_opts(title=title, ylim=(lo, hi), **legend))
        if frame.error is None:
            return main
        err = hv.Curve((x, frame.error), "x", theme.axis_label(f"error in {name}", unit))
        err = err.opts(
            **theme.plot_opts(
                title=f"relative L2 error {frame.rel_l2:.3g}",
                color=theme.PALETTE[2],
                framewise=True,
            )
        )
        return (main + err).opts(shared_axes=False)

    def image(a: np.ndarray, vdim: str, title: str, cmap: str, clim: tuple[float, float]):
        return hv.Image(a.T[::-1], bounds=(x0, y0, x1, y1), kdims=["x", "y"], vdims=[vdim]).opts(
            **theme.plot_opts(
                width=theme.HEIGHT + 20,
                height=theme.HEIGHT - 50,
                colorbar=True,
                show_grid=False,
                title=title,
            ),
            cmap=cmap,
            clim=clim,
        )

    def plot_2d(i: int, error_mode: str):
        frame = field_frame(truth, prediction, index=i, absolute=error_mode == "absolute")
        panels = [
            image(
                frame.truth, label, f"truth, {index_name} = {values[i]:.4g}", theme.CMAP, (lo, hi)
            )
        ]
        if frame.prediction is not None:
            panels.append(image(frame.prediction, label, "prediction", theme.CMAP, (lo, hi)))
            absolute = error_mode == "absolute"
            panels.append(
                image(
                    frame.error,
                    theme.axis_label(f"error in {name}", unit),
                    f"error (rel. L2 {frame.rel_l2:.3g})",
                    theme.CMAP if absolute else theme.DIVERGING_CMAP,
                    (0.0, err_max) if absolute else (-err_max, err_max),
                )
            )
        return hv.Layout(panels).opts(shared_axes=False)

    plot = plot_1d if truth.ndim == 2 else plot_2d
    dmap = hv.DynamicMap(pn.bind(lambda v, m: plot(to_index(v), m), slider, mode))
    widgets = [slider] + ([pn.Column("error", mode)] if prediction is not None else [])
    header = f"## {name}: {'prediction vs truth' if prediction is not None else 'fields'}"
    return pn.Column(pn.pane.Markdown(header), pn.Row(*widgets), pn.pane.HoloViews(dmap))
