"""Surface explorer: a 2-D loss surface as contours, a 3-D surface and 1-D slices through it.

The input is any object or mapping with 1-D ``x`` (length nx), 1-D ``y`` (length ny) and
``loss`` of shape ``[ny, nx]``, ``loss[i, j]`` being the loss at ``(x[j], y[i])`` (rows follow
``y``, as in an image). A result stored the other way round (``[nx, ny]``) is read with
``indexing="ij"``. A result with ``coords = [x, y]`` instead of ``x`` and ``y`` (as
``labkit.landscape.loss_surface`` returns) is read with ``indexing="ij"`` by default.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from labkit._checks import check_choice
from labkit.viz import theme
from labkit.viz._inputs import as_array, get_field

__all__ = ["SurfaceSlice", "surface_explorer", "surface_grid", "surface_slice"]


@dataclass
class SurfaceSlice:
    """A 1-D slice of the surface: the coordinate along it and the loss, at a fixed value."""

    axis: str
    fixed: float
    coords: np.ndarray
    loss: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """Return the slice as plain lists."""
        return {
            "axis": self.axis,
            "fixed": self.fixed,
            "coords": self.coords.tolist(),
            "loss": self.loss.tolist(),
        }


def surface_grid(
    result: Any, *, indexing: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``x``, ``y`` and ``loss`` as ``[ny, nx]`` after checking their shapes.

    Examples
    --------
    >>> x, y, loss = surface_grid({"x": [0, 1, 2], "y": [0, 1], "loss": np.zeros((3, 2))},
    ...                           indexing="ij")
    >>> loss.shape
    (2, 3)
    """
    coords = get_field(result, "coords", None)
    if coords is not None and get_field(result, "x", None) is None:
        if len(coords) != 2:
            raise ValueError(f"result.coords must hold 2 coordinate arrays, got {len(coords)}")
        x, y = coords
        indexing = "ij" if indexing is None else indexing
    else:
        x, y = get_field(result, "x"), get_field(result, "y")
    indexing = "xy" if indexing is None else indexing
    check_choice("indexing", indexing, ("xy", "ij"))
    x = as_array("result.x", x, ndim=1)
    y = as_array("result.y", y, ndim=1)
    loss = as_array("result.loss", get_field(result, "loss"), ndim=2)
    if indexing == "ij":
        loss = loss.T
    if loss.shape != (len(y), len(x)):
        want = (len(y), len(x)) if indexing == "xy" else (len(x), len(y))
        raise ValueError(
            f"result.loss must have shape {want} for indexing={indexing!r}, got "
            f"{loss.shape if indexing == 'xy' else loss.T.shape}"
        )
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"result.x and result.y need at least 2 points, got {len(x)} and {len(y)}")
    return x, y, loss


def surface_slice(result: Any, *, along: str = "x", index: int = 0, indexing: str | None = None):
    """Return the 1-D slice along ``along`` at grid index ``index`` of the other coordinate.

    Examples
    --------
    >>> r = {"x": [0.0, 1.0, 2.0], "y": [0.0, 1.0], "loss": [[0, 1, 4], [1, 2, 5]]}
    >>> surface_slice(r, along="x", index=1).loss.tolist()
    [1.0, 2.0, 5.0]
    >>> surface_slice(r, along="y", index=2).loss.tolist()
    [4.0, 5.0]
    """
    check_choice("along", along, ("x", "y"))
    x, y, loss = surface_grid(result, indexing=indexing)
    other = y if along == "x" else x
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"index must be an integer, got {index!r}")
    if not 0 <= index < len(other):
        raise ValueError(f"index must be in [0, {len(other) - 1}], got {index}")
    if along == "x":
        return SurfaceSlice("x", float(y[index]), x, loss[index, :])
    return SurfaceSlice("y", float(x[index]), y, loss[:, index])


def _surface_png(x, y, z, *, elevation: float, azimuth: float, zlabel: str) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 3.6), dpi=90)
    ax = fig.add_subplot(projection="3d")
    xx, yy = np.meshgrid(x, y)
    ax.plot_surface(xx, yy, z, cmap=theme.CMAP, linewidth=0, antialiased=True)
    ax.view_init(elev=elevation, azim=azimuth)
    ax.set_xlabel("x (direction 1)")
    ax.set_ylabel("y (direction 2)")
    ax.set_zlabel(zlabel)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def surface_explorer(
    result: Any, *, indexing: str | None = None, log_loss: bool = False, title: str = "loss surface"
):
    """Explore a 2-D loss surface: contours with a movable slice, the slice, and a 3-D view.

    Parameters
    ----------
    result
        Object or mapping with ``x``, ``y`` and ``loss`` (see the module docstring).
    indexing
        ``"xy"`` when ``loss`` is ``[ny, nx]``, ``"ij"`` when it is ``[nx, ny]``; default
        ``"ij"`` for results with ``coords``, else ``"xy"``.
    log_loss
        Show ``log10(loss)`` (needs a positive loss).
    title
        Title above the explorer.

    Returns
    -------
    panel.layout.Column
        Widgets for the slice direction and position and the 3-D view angle, and the plots.

    Examples
    --------
    >>> from labkit.viz.demo import demo_surface
    >>> type(surface_explorer(demo_surface(n=11))).__name__
    'Column'
    """
    theme.setup()
    import holoviews as hv
    import panel as pn

    x, y, loss = surface_grid(result, indexing=indexing)
    zlabel = "loss"
    if log_loss:
        if np.any(loss <= 0):
            raise ValueError("log_loss needs a positive result.loss")
        loss, zlabel = np.log10(loss), "log10 loss"
    grid = {"x": x, "y": y, "loss": loss}
    along = pn.widgets.RadioButtonGroup(options=["x", "y"], value="x")
    position = pn.widgets.IntSlider(
        label="slice index", start=0, end=len(y) - 1, value=len(y) // 2, width=260
    )
    elevation = pn.widgets.IntSlider(label="elevation", start=0, end=90, value=30, width=180)
    azimuth = pn.widgets.IntSlider(
        label="azimuth", start=-180, end=180, value=-60, step=5, width=180
    )

    def fit_position(event) -> None:
        n = len(y) if event.new == "x" else len(x)
        position.value = min(position.value, n - 1)
        position.end = n - 1

    along.param.watch(fit_position, "value")
    image = hv.Image(
        loss[::-1], bounds=(x[0], y[0], x[-1], y[-1]), kdims=["x", "y"], vdims=[zlabel]
    )
    contours = hv.operation.contours(image, levels=15, overlaid=False).opts(
        cmap="gray", line_alpha=0.6, show_legend=False
    )
    base = image.opts(cmap=theme.CMAP, colorbar=True) * contours

    def marker(axis: str, index: int):
        cut = surface_slice(
            grid, along=axis, index=min(index, (len(y) if axis == "x" else len(x)) - 1)
        )
        line = hv.HLine(cut.fixed) if axis == "x" else hv.VLine(cut.fixed)
        return line.opts(color=theme.ACCENT, line_width=3)

    def slice_plot(axis: str, index: int):
        cut = surface_slice(
            grid, along=axis, index=min(index, (len(y) if axis == "x" else len(x)) - 1)
        )
        other = "y" if axis == "x" else "x"
        return hv.Curve((cut.coords, cut.loss), axis, zlabel).opts(
            **theme.plot_opts(
                title=f"slice at {other} = {cut.fixed:.3g}",
                color=theme.ACCENT,
                line_width=2,
                framewise=True,
            )
        )

    contour_plot = (base * hv.DynamicMap(pn.bind(marker, along, position))).opts(
        **theme.plot_opts(
            width=theme.HEIGHT + 100, title=f"{zlabel} around the solution", show_grid=False
        )
    )
    surface_png = pn.pane.PNG(
        pn.bind(
            lambda e, a: _surface_png(x, y, loss, elevation=e, azimuth=a, zlabel=zlabel),
            elevation,
            azimuth,
        ),
        width=420,
    )
    return pn.Column(
        pn.pane.Markdown(f"## {title}"),
        pn.Row(pn.Column("slice along", along), position, elevation, azimuth),
        pn.Row(
            pn.pane.HoloViews(contour_plot),
            pn.pane.HoloViews(hv.DynamicMap(pn.bind(slice_plot, along, position))),
        ),
        surface_png,
    )
