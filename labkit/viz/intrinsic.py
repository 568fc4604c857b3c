"""Intrinsic-dimension explorer: accuracy against subspace dimension d, with the d_int line.

The input is the ``IntrinsicDimensionResult`` of ``labkit.landscape.intrinsic_dimension``
(``dims`` ``[n_d]``, ``scores`` ``[n_d, n_seeds]`` and ``baseline``), or a list of
``(d, accuracy)`` points (several seeds per d allowed) with the full-space ``baseline``.
``d_int`` at a fraction ``f`` is the smallest d whose mean accuracy reaches ``f * baseline``
(Li et al. 2018 use f = 0.9: d_int90); the explorer also shows the value interpolated linearly
in ``log d`` between the two bracketing dimensions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from labkit._checks import check_number
from labkit.viz import theme
from labkit.viz._inputs import as_array, get_field

__all__ = ["IntrinsicDimension", "intrinsic_dimension_at", "intrinsic_explorer", "mean_by_dim"]


@dataclass
class IntrinsicDimension:
    """``d_int`` at ``fraction`` of ``baseline``: the first measured d and the interpolated one.

    Both are ``nan`` when no measured d reaches the threshold.
    """

    fraction: float
    threshold: float
    d_int: float
    d_int_interpolated: float

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict of numbers."""
        return dict(self.__dict__)


def _points(points: Any) -> np.ndarray:
    if not isinstance(points, (list, tuple, np.ndarray)):
        dims = as_array("points.dims", get_field(points, "dims", argname="points"), ndim=1)
        scores = get_field(points, "scores", argname="points")
        scores = as_array("points.scores", scores, ndim=(1, 2)).reshape(len(dims), -1)
        points = [(d, s) for d, row in zip(dims, scores, strict=True) for s in row]
    array = as_array("points", points, ndim=2)
    if array.shape[1] != 2:
        raise ValueError(f"points must be (d, accuracy) pairs, got shape {array.shape}")
    if np.any(array[:, 0] < 1):
        raise ValueError("points must have dimensions d >= 1")
    return array


def mean_by_dim(points: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct dimensions (ascending) and the mean accuracy at each.

    Examples
    --------
    >>> mean_by_dim([(2, 0.5), (1, 0.2), (2, 0.7)])
    (array([1., 2.]), array([0.2, 0.6]))
    """
    array = _points(points)
    dims = np.unique(array[:, 0])
    means = np.array([array[array[:, 0] == d, 1].mean() for d in dims])
    return dims, means


def intrinsic_dimension_at(
    points: Any, baseline: float, fraction: float = 0.9
) -> IntrinsicDimension:
    """Return d_int at ``fraction`` of ``baseline`` from ``(d, accuracy)`` points.

    Examples
    --------
    >>> pts = [(1, 0.1), (10, 0.5), (100, 0.95), (1000, 1.0)]
    >>> r = intrinsic_dimension_at(pts, baseline=1.0, fraction=0.9)
    >>> r.d_int, round(r.d_int_interpolated, 3)
    (100.0, 77.426)
    """
    baseline = check_number("baseline", baseline)
    fraction = check_number("fraction", fraction, minimum=0.0, maximum=1.0)
    if fraction == 0.0:
        raise ValueError("fraction must lie in (0, 1], got 0.0")
    dims, means = mean_by_dim(points)
    threshold = float(fraction * baseline)
    reached = np.nonzero(means >= threshold - 1e-12 * abs(threshold))[0]  # rounding of means
    if len(reached) == 0:
        return IntrinsicDimension(float(fraction), threshold, math.nan, math.nan)
    k = int(reached[0])
    if k == 0:
        return IntrinsicDimension(float(fraction), threshold, float(dims[0]), float(dims[0]))
    a, b = math.log(dims[k - 1]), math.log(dims[k])
    t = (threshold - means[k - 1]) / (means[k] - means[k - 1])
    return IntrinsicDimension(float(fraction), threshold, float(dims[k]), math.exp(a + t * (b - a)))


def intrinsic_explorer(
    points: Any,
    baseline: float | None = None,
    *,
    fraction: float = 0.9,
    title: str = "intrinsic dimension",
):
    """Explore accuracy against subspace dimension with a movable d_int threshold.

    Parameters
    ----------
    points
        An ``IntrinsicDimensionResult`` (``dims``, ``scores``, ``baseline``), or
        ``(d, accuracy)`` pairs.
    baseline
        Full-space accuracy; read from ``points.baseline`` when not given.
    fraction
        Initial threshold as a fraction of the baseline (0.9 gives d_int90).
    title
        Title above the explorer.

    Returns
    -------
    panel.layout.Column
        A threshold slider, a summary and the plot of accuracy against d (log axis).

    Examples
    --------
    >>> import panel as pn
    >>> app = intrinsic_explorer([(1, 0.2), (4, 0.95), (16, 1.0)], baseline=1.0)
    >>> app.select(pn.widgets.FloatSlider)[0].value  # the threshold, a fraction of the baseline
    0.9
    """
    theme.setup()
    import holoviews as hv
    import panel as pn

    if baseline is None:
        baseline = float(get_field(points, "baseline", argname="points"))
    intrinsic_dimension_at(points, baseline, fraction)
    array = _points(points)
    dims, means = mean_by_dim(points)
    slider = pn.widgets.FloatSlider(
        label="fraction of baseline", start=0.5, end=1.0, step=0.01, value=fraction, width=300
    )
    xdim, ydim = hv.Dimension("d", label="subspace dimension d"), "accuracy"
    runs = hv.Scatter((array[:, 0], array[:, 1]), xdim, ydim, label="runs").opts(
        color=theme.PALETTE[0], alpha=0.4, size=6
    )
    mean = hv.Curve((dims, means), xdim, ydim, label="mean over seeds").opts(
        color=theme.PALETTE[0], line_width=2
    )
    full = hv.HLine(float(baseline)).opts(color="gray", line_dash="dashed", line_width=1.5)

    def lines(f: float):
        r = intrinsic_dimension_at(points, baseline, f)
        d = r.d_int_interpolated if math.isfinite(r.d_int_interpolated) else dims[-1]
        alpha = 1.0 if math.isfinite(r.d_int_interpolated) else 0.0
        return hv.HLine(r.threshold).opts(color=theme.ACCENT, line_width=2) * hv.VLine(d).opts(
            color=theme.ACCENT, line_width=2, line_dash="dotted", alpha=alpha
        )

    def summary(f: float) -> str:
        r = intrinsic_dimension_at(points, baseline, f)
        pct = round(100 * f)
        if not math.isfinite(r.d_int):
            return f"no measured d reaches {pct} % of the baseline ({baseline:.4g})"
        return (
            f"**d_int{pct} = {r.d_int:.0f}** (first measured d with mean accuracy ≥ "
            f"{r.threshold:.4g}); interpolated in log d: {r.d_int_interpolated:.1f}"
        )

    plot = (runs * mean * full * hv.DynamicMap(pn.bind(lines, slider))).opts(
        **theme.plot_opts(
            width=theme.WIDTH + 120,
            logx=True,
            title="accuracy vs subspace dimension",
            legend_position="bottom_right",
        )
    )
    return pn.Column(
        pn.pane.Markdown(f"## {title}"),
        slider,
        pn.pane.Markdown(pn.bind(summary, slider)),
        pn.pane.HoloViews(plot),
    )
