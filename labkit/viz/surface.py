"""Surface explorer: a 2-D loss surface as contours, a 3-D surface and 1-D slices through it.

The input is any object or mapping with 1-D ``x`` (length nx), 1-D ``y`` (length ny) and
``loss`` of shape ``[ny, nx]``, ``loss[i, j]`` being the loss at ``(x[j], y[i])`` (rows follow
``y``, as in an image). A result stored the other way round (``[nx, ny]``) is read with
``indexing="ij"``. A result with ``coords = [x, y]`` instead of ``x`` and ``y`` (as
``labkit.landscape.loss_surface`` returns) is read with ``indexing="ij"`` by default.

The explorer takes one surface or a mapping ``{name: surface}`` (e.g. filter-normalised and raw
directions, or two models) with a picker, and zooms in on the centre of the grid.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from labkit._checks import check_choice, check_int, check_number
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
    result: Any, *, indexing: str | None = None, zoom: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``x``, ``y`` and ``loss`` as ``[ny, nx]`` after checking their shapes.

    ``zoom`` in (0, 1] keeps the grid points within ``zoom`` times the half-width of each axis
    from its centre (at least the 2 nearest).

    Examples
    --------
    >>> x, y, loss = surface_grid({"x": [0, 1, 2], "y": [0, 1], "loss": np.zeros((3, 2))},
    ...                           indexing="ij")
    >>> loss.shape
    (2, 3)
    >>> surface_grid({"x": [-2, -1, 0, 1, 2], "y": [0, 1], "loss": np.zeros((2, 5))},
    ...              zoom=0.5)[0].tolist()
    [-1.0, 0.0, 1.0]
    """
    zoom = check_number("zoom", zoom, minimum=0.0, maximum=1.0)
    if zoom == 0.0:
        raise ValueError("zoom must lie in (0, 1], got 0.0")
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
    keep_x, keep_y = _central(x, zoom), _central(y, zoom)
    return x[keep_x], y[keep_y], loss[np.ix_(keep_y, keep_x)]


def _central(c: np.ndarray, zoom: float) -> np.ndarray:
    """Indices of the points of ``c`` within ``zoom`` half-widths of its centre (2 at least)."""
    centre, half = 0.5 * (c.min() + c.max()), 0.5 * (c.max() - c.min())
    distance = np.abs(c - centre)
    keep = np.nonzero(distance <= zoom * half * (1 + 1e-9))[0]
    return keep if len(keep) >= 2 else np.sort(np.argsort(distance, kind="stable")[:2])


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
    index = check_int("index", index, minimum=0, maximum=len(other) - 1)
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
    """Explore 2-D loss surfaces: contours with a movable slice, the slice, and a 3-D view.

    Parameters
    ----------
    result
        A surface: a ``SurfaceResult`` or an object or mapping with ``x``, ``y`` and ``loss``
        (see the module docstring); or a mapping ``{name: surface}`` of several, with a picker.
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
        Widgets for the surface, the slice direction and position, the zoom and the 3-D view
        angle, and the plots.

    Examples
    --------
    >>> import numpy as np, panel as pn
    >>> x = np.linspace(-1, 1, 5)
    >>> app = surface_explorer({"bowl": {"x": x, "y": x, "loss": x[:, None] ** 2 + x ** 2}})
    >>> app.select(pn.widgets.IntSlider)[0].end  # slice index over the 5 rows
    4
    """
    theme.setup()
    import holoviews as hv
    import panel as pn

    several = isinstance(result, Mapping) and all(
        get_field(result, key, None) is None for key in ("loss", "coords", "x")
    )
    surfaces = {str(k): v for k, v in result.items()} if several else {"surface": result}
    if not surfaces:
        raise ValueError("result must hold at least one surface, got an empty mapping")
    zlabel = "log10 loss" if log_loss else "loss"
    for name, surface in surfaces.items():
        _, _, loss = surface_grid(surface, indexing=indexing)
        if log_loss and np.any(loss <= 0):
            raise ValueError(f"log_loss needs a positive result.loss ({name})")

    @lru_cache(maxsize=32)
    def grid_of(name: str, zoom: float) -> dict[str, np.ndarray]:
        x, y, loss = surface_grid(surfaces[name], indexing=indexing, zoom=zoom)
        return {"x": x, "y": y, "loss": np.log10(loss) if log_loss else loss}

    first = grid_of(next(iter(surfaces)), 1.0)
    which = pn.widgets.Select(
        label="surface", options=list(surfaces), width=220, visible=len(surfaces) > 1
    )
    along = pn.widgets.RadioButtonGroup(options=["x", "y"], value="x")
    position = pn.widgets.IntSlider(
        label="slice index", start=0, end=len(first["y"]) - 1, value=len(first["y"]) // 2,
        width=260,
    )  # fmt: skip
    zoom = pn.widgets.FloatSlider(
        label="zoom", start=0.1, end=1.0, step=0.05, value=1.0, width=180
    )
    elevation = pn.widgets.IntSlider(label="elevation", start=0, end=90, value=30, width=180)
    azimuth = pn.widgets.IntSlider(
        label="azimuth", start=-180, end=180, value=-60, step=5, width=180
    )

    def fit_position(*_events) -> None:
        grid = grid_of(which.value, zoom.value)
        n = len(grid["y"] if along.value == "x" else grid["x"])
        position.value = min(position.value, n - 1)
        position.end = n - 1

    for widget in (which, along, zoom):
        widget.param.watch(fit_position, "value")

    def contours(name: str, z: float):
        grid = grid_of(name, z)
        x, y = grid["x"], grid["y"]
        image = hv.Image(
            grid["loss"][::-1], bounds=(x[0], y[0], x[-1], y[-1]), kdims=["x", "y"], vdims=[zlabel]
        )
        lines = hv.operation.contours(image, levels=15, overlaid=False).opts(
            cmap="gray", line_alpha=0.6, show_legend=False
        )
        return image.opts(cmap=theme.CMAP, colorbar=True) * lines

    def marker(name: str, z: float, axis: str, index: int):
        grid = grid_of(name, z)
        n = len(grid["y"] if axis == "x" else grid["x"])
        cut = surface_slice(grid, along=axis, index=min(index, n - 1))
        line = hv.HLine(cut.fixed) if axis == "x" else hv.VLine(cut.fixed)
        return line.opts(color=theme.ACCENT, line_width=3)

    # The contours are redrawn only for a new surface or zoom; a slice move redraws the marker.
    contour_plot = (
        hv.DynamicMap(pn.bind(contours, which, zoom))
        * hv.DynamicMap(pn.bind(marker, which, zoom, along, position))
    ).opts(
        **theme.plot_opts(
            width=theme.HEIGHT + 100,
            title=f"{zlabel} around the solution",
            show_grid=False,
            framewise=True,
        )
    )

    def slice_plot(name: str, z: float, axis: str, index: int):
        grid = grid_of(name, z)
        n = len(grid["y"] if axis == "x" else grid["x"])
        cut = surface_slice(grid, along=axis, index=min(index, n - 1))
        other = "y" if axis == "x" else "x"
        return hv.Curve((cut.coords, cut.loss), axis, zlabel).opts(
            **theme.plot_opts(
                title=f"slice at {other} = {cut.fixed:.3g}",
                color=theme.ACCENT,
                line_width=2,
                framewise=True,
            )
        )

    def surface_png(name: str, z: float, e: int, a: int) -> bytes:
        grid = grid_of(name, z)
        return _surface_png(
            grid["x"], grid["y"], grid["loss"], elevation=e, azimuth=a, zlabel=zlabel
        )

    return pn.Column(
        pn.pane.Markdown(f"## {title}"),
        pn.Row(which, pn.Column("slice along", along), position, zoom, elevation, azimuth),
        pn.Row(
            pn.pane.HoloViews(contour_plot),
            pn.pane.HoloViews(hv.DynamicMap(pn.bind(slice_plot, which, zoom, along, position))),
        ),
        pn.pane.PNG(pn.bind(surface_png, which, zoom, elevation, azimuth), width=420),
    )
