"""Pore viewer: a 3-D label volume drawn with pyvista, coloured and clipped by widgets.

The input is an integer array ``[nx, ny, nz]``: 0 on solid, a positive label per pore region
(``labkit.pores.partition`` gives one); a boolean pore volume is shown as one region. Given a
``rerun`` function (e.g. the pipeline from volume to labels) and its ``parameters``, the viewer
gets a slider per parameter and re-runs the pipeline when one moves (results are cached).

The 3-D view is rendered off-screen by pyvista into an image, so it works in any browser and on
a headless server; a 2-D slice at the clipping plane is drawn with holoviews next to it.
Optional per-label ``values`` (e.g. a concentration) give a third colouring.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from labkit._checks import check_callable, check_choice, check_int, check_labels
from labkit.viz import theme

__all__ = ["PoreView", "pore_view", "pore_viewer", "render_pores"]

AXES = ("x", "y", "z")


@dataclass
class PoreView:
    """The part of the volume kept by the clipping plane and the value shown per voxel."""

    axis: str
    position: int
    kept: np.ndarray
    values: np.ndarray
    slice_values: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """Return the view as plain lists."""
        return {
            "axis": self.axis,
            "position": self.position,
            "kept": self.kept.tolist(),
            "values": self.values.tolist(),
            "slice_values": self.slice_values.tolist(),
        }


def _labels(labels: Any) -> np.ndarray:
    """``labels`` checked by ``labkit._checks.check_labels``; a boolean volume is one region."""
    if isinstance(labels, np.ndarray) and labels.dtype == bool:
        labels = labels.astype(np.uint8)
    return check_labels("labels", labels).astype(np.int64)


def _voxel_values(labels: np.ndarray, colour: str, values: np.ndarray | None) -> np.ndarray:
    if colour == "region":
        return np.where(labels > 0, labels, np.nan)
    if colour == "pore":
        return (labels > 0).astype(float)
    return np.where(labels > 0, values[labels], np.nan)


def pore_view(
    labels: Any,
    *,
    axis: str = "z",
    position: int | None = None,
    colour: str = "region",
    values: Any = None,
) -> PoreView:
    """Clip ``labels`` at ``position`` along ``axis`` (voxels with index <= position stay).

    ``colour`` is ``"region"`` (the label), ``"pore"`` (1 on pore) or ``"values"`` (``values``
    indexed by label; ``values[0]`` is ignored).

    Examples
    --------
    >>> labels = np.zeros((4, 4, 4), int); labels[1:3, 1:3, :] = 2
    >>> v = pore_view(labels, axis="z", position=1)
    >>> v.kept.shape, float(np.nanmax(v.slice_values))
    ((4, 4, 2), 2.0)
    """
    labels = _labels(labels)
    check_choice("axis", axis, AXES)
    names = ("region", "pore") + (() if values is None else ("values",))
    check_choice("colour", colour, names)
    a = AXES.index(axis)
    n = labels.shape[a]
    position = n - 1 if position is None else position
    position = check_int("position", position, minimum=0, maximum=n - 1)
    if values is not None:
        values = np.asarray(values, dtype=float)
        if values.ndim != 1 or len(values) <= labels.max():
            raise ValueError(
                f"values must be 1-D with an entry per label 0..{labels.max()}, got {values.shape}"
            )
    kept = np.take(labels, np.arange(position + 1), axis=a)
    voxel_values = _voxel_values(kept, colour, values)
    slice_values = np.take(_voxel_values(labels, colour, values), position, axis=a)
    return PoreView(axis, int(position), kept, voxel_values, slice_values)


@lru_cache(maxsize=1)
def _plotter(width: int, height: int):
    import pyvista as pv

    plotter = pv.Plotter(off_screen=True, window_size=(width, height))
    plotter.disable_anti_aliasing()
    plotter.ren_win.SetMultiSamples(0)  # software GL: multisampling triples the render time
    return plotter


@lru_cache(maxsize=1)
def _render_thread():
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="labkit-pyvista")


def render_pores(
    view: PoreView,
    *,
    voxel_size: float = 1.0,
    size: tuple[int, int] = (460, 400),
    cmap: str | None = None,
) -> np.ndarray:
    """Render the pore voxels of ``view`` off-screen with pyvista; return an RGB image array.

    The rendering runs on one dedicated thread, which owns the cached plotter's OpenGL context:
    in a Jupyter kernel widget callbacks may arrive on another thread than the cell that built
    the viewer, and a context used from another thread draws garbage.
    """
    return _render_thread().submit(_render, view, voxel_size, size, cmap).result()


def _render(
    view: PoreView, voxel_size: float, size: tuple[int, int], cmap: str | None
) -> np.ndarray:
    import pyvista as pv

    grid = pv.ImageData(dimensions=np.array(view.kept.shape) + 1, spacing=(voxel_size,) * 3)
    grid.cell_data["label"] = view.kept.ravel(order="F")
    grid.cell_data["value"] = np.nan_to_num(view.values).ravel(order="F")
    pores = grid.threshold(0.5, scalars="label").extract_surface(algorithm=None)
    plotter = _plotter(*size)
    plotter.clear()
    plotter.set_background("white")
    if pores.n_points:
        plotter.add_mesh(
            pores,
            scalars="value",
            cmap=cmap or theme.CMAP,
            show_scalar_bar=False,
            smooth_shading=False,
        )
    plotter.add_mesh(grid.outline(), color="black")
    plotter.camera_position = "iso"
    plotter.reset_camera()
    return plotter.screenshot(return_img=True)


def _png(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="png")
    return buffer.getvalue()


def _parameter_sliders(pn, parameters: Any) -> dict[str, Any]:
    """A slider per ``name: (start, end, step, value)``; integer sliders when all are ints."""
    if not isinstance(parameters, Mapping) or not parameters:
        raise TypeError(
            "parameters must be a non-empty mapping name -> (start, end, step, value), got "
            f"{type(parameters).__name__}"
        )
    sliders = {}
    for name, spec in parameters.items():
        if not isinstance(spec, (tuple, list)) or len(spec) != 4:
            raise TypeError(f"parameters[{name!r}] must be (start, end, step, value), got {spec!r}")
        start, end, step, value = spec
        if not start <= value <= end or step <= 0:
            raise ValueError(
                f"parameters[{name!r}] must have start <= value <= end and step > 0, got {spec}"
            )
        whole = all(isinstance(v, (int, np.integer)) for v in spec)
        kind = pn.widgets.IntSlider if whole else pn.widgets.FloatSlider
        sliders[str(name)] = kind(
            label=str(name), start=start, end=end, step=step, value=value, width=200
        )
    return sliders


def pore_viewer(
    labels: Any = None,
    *,
    values: Any = None,
    value_name: str = "concentration",
    voxel_size: float = 1.0,
    unit: str = "voxel",
    title: str = "pore space",
    rerun: Callable[..., Any] | None = None,
    parameters: Mapping[str, tuple] | None = None,
):
    """View a labelled pore volume in 3-D with a clipping plane and a choice of colouring.

    Parameters
    ----------
    labels
        Integer array ``[nx, ny, nz]``, 0 on solid, one positive label per region (a boolean
        pore volume is one region). With ``rerun``: default ``rerun`` at the initial
        parameter values.
    values
        Optional value per label (index = label), e.g. a concentration, as a third colouring.
    value_name
        Name of ``values`` in the colour selector's help text and the slice's colour bar.
    voxel_size, unit
        Edge length of a voxel and its unit, for the axes.
    title
        Title above the viewer.
    rerun
        ``rerun(**parameter values) -> labels``: the pipeline that made ``labels``, run again
        (on the kernel or server, results cached) when a parameter slider moves.
    parameters
        With ``rerun``: ``{name: (start, end, step, value)}``, one slider per keyword of
        ``rerun``; ``value`` is where the slider starts.

    Returns
    -------
    panel.layout.Column
        Colour and clipping widgets (and the parameter sliders), the 3-D image and the 2-D
        slice at the clipping plane.

    Examples
    --------
    >>> import panel as pn
    >>> from labkit.viz.demo import demo_pores
    >>> viewer = pore_viewer(rerun=demo_pores, parameters={"n": (16, 24, 8, 16)})
    >>> viewer.select(pn.widgets.IntSlider)[0].end  # clip slider over the 16 voxels along z
    15
    """
    theme.setup()
    import holoviews as hv
    import panel as pn

    sliders: dict[str, Any] = {}
    if rerun is not None:
        check_callable("rerun", rerun)
        if values is not None:
            raise ValueError("values must be None with rerun (values are indexed by labels)")
        sliders = _parameter_sliders(pn, parameters)

        @lru_cache(maxsize=16)
        def run(*args: Any) -> np.ndarray:
            return _labels(rerun(**dict(zip(sliders, args, strict=True))))

        if labels is None:
            labels = run(*(w.value for w in sliders.values()))
    elif parameters is not None:
        raise ValueError("parameters need rerun, the function they are passed to")
    if labels is None:
        raise TypeError("labels must be a 3-D integer array (or give rerun), got None")
    state = {"labels": _labels(labels)}
    pore_view(state["labels"], values=values)
    colours = ["region", "pore"] + ([] if values is None else ["values"])
    colour = pn.widgets.Select(label="colour by", options=colours, value="region", width=160)
    axis = pn.widgets.RadioButtonGroup(options=list(AXES), value="z")
    nz = state["labels"].shape[2]
    position = pn.widgets.IntSlider(
        label="clip at", start=0, end=nz - 1, value=nz // 2, width=260
    )
    tick = pn.widgets.IntInput(value=0, visible=False)  # counts re-runs: the plots follow it

    def fit_position(*_events) -> None:
        n = state["labels"].shape[AXES.index(axis.value)]
        position.value = min(position.value, n - 1)
        position.end = n - 1

    def on_parameter(*_events) -> None:
        state["labels"] = run(*(w.value for w in sliders.values()))
        fit_position()
        tick.value += 1

    axis.param.watch(fit_position, "value")
    for slider in sliders.values():
        slider.param.watch(on_parameter, "value_throttled")

    def cmap_for(c: str) -> str:
        return {"region": theme.LABEL_CMAP, "pore": "gray_r"}.get(c, theme.CMAP)

    def view_for(c: str, a: str, p: int) -> PoreView:
        labels = state["labels"]
        p = min(p, labels.shape[AXES.index(a)] - 1)
        return pore_view(labels, axis=a, position=p, colour=c, values=values)

    def image_3d(c: str, a: str, p: int, _tick: int) -> bytes:
        view = view_for(c, a, p)
        return _png(render_pores(view, voxel_size=voxel_size, cmap=cmap_for(c)))

    def slice_2d(c: str, a: str, p: int, _tick: int):
        view = view_for(c, a, p)
        shape = state["labels"].shape
        u, v = [ax for ax in AXES if ax != a]
        extent = [voxel_size * s for i, s in enumerate(shape) if AXES[i] != a]
        vdim = {"region": "region label", "pore": "pore (1) / solid (0)"}.get(c, value_name)
        return hv.Image(
            view.slice_values.T[::-1],
            bounds=(0, 0, *extent),
            kdims=[theme.axis_label(u, unit), theme.axis_label(v, unit)],
            vdims=[vdim],
        ).opts(
            **theme.plot_opts(
                width=theme.HEIGHT + 80,
                title=f"slice {a} = {view.position}",
                show_grid=False,
                colorbar=c != "region",
                framewise=True,
            ),
            cmap=cmap_for(c),
            clipping_colors={"NaN": "white"},
        )

    def summary(_tick: int) -> str:
        labels = state["labels"]
        return (
            f"{int(labels.max())} regions, porosity {np.count_nonzero(labels) / labels.size:.3f}"
        )

    widgets = [colour, pn.Column("clip along", axis), position, tick]
    return pn.Column(
        pn.pane.Markdown(f"## {title}"),
        pn.Row(*widgets),
        *([pn.Row(*sliders.values())] if sliders else []),
        pn.pane.Markdown(pn.bind(summary, tick)),
        pn.Row(
            pn.pane.PNG(pn.bind(image_3d, colour, axis, position, tick), width=460),
            pn.pane.HoloViews(
                hv.DynamicMap(pn.bind(slice_2d, colour, axis, position, tick))
            ),
        ),
    )
