"""3-D views of pore volumes, skeletons and regions with pyvista.

Every function returns (or adds to) a :class:`pyvista.Plotter`, so the same view shows in
JupyterLab through the trame backend, as a static image with ``pyvista.set_jupyter_backend(
"static")``, or off-screen with ``plotter.show(screenshot="view.png")``. Voxel ``(i, j, k)`` of
an array sits at ``(i, j, k) * voxel_size`` in the scene.
"""

from __future__ import annotations

import inspect

import numpy as np

from labkit._checks import check_choice, check_int, check_labels, check_positive, check_type
from labkit.pores.io import check_voxel_size
from labkit.pores.skeleton import SkeletonGraph
from labkit.pores.volumes import check_volume

__all__ = [
    "branch_lines",
    "light_surface",
    "pore_surface",
    "region_view",
    "skeleton_scene",
    "skeleton_tubes",
    "surface_mesh",
    "tube_mesh",
]


def _plotter(plotter, window_size=(600, 500)):
    import pyvista as pv

    if plotter is None:
        return pv.Plotter(window_size=list(window_size))
    check_type("plotter", plotter, pv.Plotter)
    return plotter


def surface_mesh(volume: np.ndarray, voxel_size=1.0):
    """Pore-solid interface as a triangle mesh (marching cubes at level 0.5)."""
    import pyvista as pv

    volume = check_volume(volume)
    voxel_size = check_voxel_size(voxel_size)
    padded = np.pad(volume, 1).astype(np.float32)
    grid = pv.ImageData(
        dimensions=padded.shape,
        spacing=voxel_size,
        origin=tuple(-s for s in voxel_size),
    )
    grid.point_data["pore"] = padded.ravel(order="F")
    return grid.contour([0.5], scalars="pore")


def pore_surface(
    volume: np.ndarray,
    voxel_size=1.0,
    plotter=None,
    color: str = "tan",
    opacity: float = 1.0,
    clip_normal: tuple[float, float, float] | None = None,
    clip_origin: tuple[float, float, float] | None = None,
):
    """Show the pore-solid interface, optionally cut by a clipping plane.

    Examples
    --------
    >>> import pyvista as pv
    >>> from labkit.pores import tube_network
    >>> pl = pore_surface(tube_network(24).volume, clip_normal=(1, 0, 0))
    >>> isinstance(pl, pv.Plotter)
    True
    >>> pl.close()
    """
    check_positive("opacity", opacity)
    mesh = surface_mesh(volume, voxel_size)
    if clip_normal is not None:
        mesh = mesh.clip(normal=clip_normal, origin=clip_origin or mesh.center)
    pl = _plotter(plotter)
    pl.add_mesh(mesh, color=color, opacity=opacity, smooth_shading=True, name="pore surface")
    return pl


def tube_mesh(graph: SkeletonGraph, radius: float = 0.5):
    """Skeleton branches as tubes with a ``branch`` cell array (the branch index)."""
    import pyvista as pv

    check_type("graph", graph, SkeletonGraph)
    check_positive("radius", radius)
    spacing = np.asarray(graph.voxel_size)
    n_junctions = len(graph.junctions)
    points, lines, branch_ids = [], [], []
    offset = 0
    for k, branch in enumerate(graph.branches):
        path = [branch.voxels.astype(float)]
        start, end = branch.nodes
        if 0 <= start < n_junctions:
            path.insert(0, graph.junctions[[start]])
        if 0 <= end < n_junctions:
            path.append(graph.junctions[[end]])
        path = np.concatenate(path) * spacing
        if len(path) < 2:
            continue
        points.append(path)
        lines.append(np.concatenate([[len(path)], offset + np.arange(len(path))]))
        branch_ids.append(k)
        offset += len(path)
    if not points:
        raise ValueError("graph has no branch with two or more points to draw")
    poly = pv.PolyData(np.concatenate(points), lines=np.concatenate(lines))
    poly.cell_data["branch"] = np.asarray(branch_ids)
    return poly.tube(radius=radius * float(spacing.min()), n_sides=8)


def skeleton_tubes(
    graph: SkeletonGraph,
    radius: float = 0.5,
    plotter=None,
    cmap: str = "tab20",
    show_nodes: bool = True,
):
    """Show the skeleton as tubes coloured by branch, with junctions and end points as spheres.

    Examples
    --------
    >>> from labkit.pores import skeleton_graph, skeletonize, tube_network
    >>> g = skeleton_graph(skeletonize(tube_network(24).volume))
    >>> pl = skeleton_tubes(g)
    >>> pl.close()
    """
    import pyvista as pv

    tubes = tube_mesh(graph, radius)
    pl = _plotter(plotter)
    pl.add_mesh(
        tubes, scalars="branch", cmap=cmap, categories=True, show_scalar_bar=False, name="skeleton"
    )
    if show_nodes:
        spacing = np.asarray(graph.voxel_size)
        for name, pts, color in (
            ("junctions", graph.junctions, "crimson"),
            ("endpoints", graph.endpoints, "black"),
        ):
            if len(pts):
                cloud = pv.PolyData(np.asarray(pts, dtype=float) * spacing)
                pl.add_mesh(
                    cloud,
                    color=color,
                    point_size=4 * radius * 4,
                    render_points_as_spheres=True,
                    name=name,
                )
    return pl


def region_view(
    labels: np.ndarray,
    values: np.ndarray | None = None,
    voxel_size=1.0,
    plotter=None,
    color_by: str = "label",
    cmap: str | None = None,
    clip_normal: tuple[float, float, float] | None = None,
    clip_origin: tuple[float, float, float] | None = None,
    interactive_clip: bool = False,
    clim: tuple[float, float] | None = None,
    opacity: float = 1.0,
):
    """Show pore regions as voxels coloured by label or by a value per region.

    Parameters
    ----------
    labels : numpy.ndarray of int
        0 on solid, regions ``1..n``.
    values : numpy.ndarray, shape (n,), optional
        A value per region (e.g. a DOM concentration); needed for ``color_by="value"``.
    color_by : {"label", "value"}
        Colour regions by their label (categorical) or by ``values``.
    clip_normal, clip_origin : optional
        A fixed clipping plane (normal, point on the plane; default the centre).
    interactive_clip : bool
        Add a draggable clipping-plane widget instead (for the trame backend).
    clim : (float, float), optional
        Colour range for ``color_by="value"``.
    opacity : float
        Opacity of the region surfaces, in (0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((4, 4, 4), np.int32); labels[1:3, 1:3, 1:3] = [[[1, 2]] * 2] * 2
    >>> pl = region_view(labels, values=np.array([0.1, 0.9]), color_by="value")
    >>> pl.close()
    """
    import pyvista as pv

    labels = check_labels("labels", labels)
    voxel_size = check_voxel_size(voxel_size)
    check_choice("color_by", color_by, ("label", "value"))
    check_positive("opacity", opacity)
    n = int(labels.max())
    grid = pv.ImageData(
        dimensions=tuple(s + 1 for s in labels.shape),
        spacing=voxel_size,
        origin=tuple(-0.5 * s for s in voxel_size),
    )
    grid.cell_data["region"] = labels.ravel(order="F")
    scalars = "region"
    if color_by == "value":
        if values is None:
            raise ValueError("values must be given when color_by='value'")
        values = np.asarray(values, dtype=float)
        if values.shape != (n,):
            raise ValueError(f"values must have shape ({n},), got {values.shape}")
        grid.cell_data["value"] = np.concatenate([[np.nan], values])[labels.ravel(order="F")]
        scalars = "value"
    cells = grid.threshold(0.5, scalars="region")
    if "algorithm" in inspect.signature(cells.extract_surface).parameters:
        mesh = cells.extract_surface(algorithm="dataset_surface")
    else:  # pragma: no cover - pyvista < 0.47
        mesh = cells.extract_surface()
    pl = _plotter(plotter)
    style = {
        "scalars": scalars,
        "cmap": cmap or ("tab20" if color_by == "label" else "viridis"),
        "show_scalar_bar": color_by == "value",
        "name": "regions",
        "opacity": opacity,
    }
    if clim is not None:
        style["clim"] = clim
    if interactive_clip:
        pl.add_mesh_clip_plane(mesh, normal=clip_normal or "x", **style)
    else:
        if clip_normal is not None:
            mesh = mesh.clip(normal=clip_normal, origin=clip_origin or mesh.center)
        pl.add_mesh(mesh, **style)
    return pl


def branch_lines(graph):
    """The skeleton as a :class:`pyvista.PolyData` of polylines, one per branch, in physical units.

    Each polyline runs through its branch's voxels, from the junction it starts at to the one
    it ends at (end points are the last voxel); its cell array ``branch`` holds the branch's
    index in ``graph.branches``. Branches of fewer than two points are left out.

    Examples
    --------
    >>> from labkit.pores import skeleton_graph, skeletonize, tube_network
    >>> g = skeleton_graph(skeletonize(tube_network(24).volume))
    >>> lines = branch_lines(g)
    >>> lines.n_cells == len(g.branches), lines.n_points >= sum(len(b.voxels) for b in g.branches)
    (True, True)
    """
    import pyvista as pv

    check_type("graph", graph, SkeletonGraph)
    spacing = np.asarray(graph.voxel_size, dtype=float)
    n_junctions = len(graph.junctions)
    paths, branch_ids = [], []
    for k, branch in enumerate(graph.branches):
        start, end = branch.nodes
        path = [branch.voxels.astype(float)]
        if 0 <= start < n_junctions:
            path.insert(0, graph.junctions[[start]])
        if 0 <= end < n_junctions:
            path.append(graph.junctions[[end]])
        path = np.concatenate(path)
        if len(path) >= 2:
            paths.append(path * spacing)
            branch_ids.append(k)
    if not paths:
        raise ValueError("graph has no branch with two or more points to draw")
    starts = np.cumsum([0] + [len(p) for p in paths[:-1]])
    cells = np.concatenate(
        [np.r_[len(p), s + np.arange(len(p))] for p, s in zip(paths, starts, strict=True)]
    )
    lines = pv.PolyData(np.concatenate(paths), lines=cells)
    lines.cell_data["branch"] = np.asarray(branch_ids)
    return lines


def light_surface(mesh, max_triangles: int = 20_000):
    """``mesh`` (a triangle surface) decimated to at most ``max_triangles`` triangles.

    Quadric decimation (VTK's) keeps the shape where it bends; a mesh already within the bound
    is returned as it is. Point normals are left out: vtk.js shades the faces without them.

    Examples
    --------
    >>> import pyvista as pv
    >>> sphere = pv.Sphere(theta_resolution=60, phi_resolution=60)
    >>> sphere.n_cells > 2000, light_surface(sphere, 2000).n_cells <= 2000
    (True, True)
    """
    check_int("max_triangles", max_triangles, minimum=4)
    mesh = mesh.triangulate()
    if mesh.n_cells > max_triangles:
        mesh = mesh.decimate(1.0 - max_triangles / mesh.n_cells)
        while mesh.n_cells > max_triangles:  # quadric decimation may stop a few short
            mesh = mesh.decimate(1.0 - max_triangles / mesh.n_cells * 0.99)
    if "Normals" in mesh.point_data:
        del mesh.point_data["Normals"]
    return mesh


def skeleton_scene(
    volume,
    graph,
    *,
    max_triangles: int = 20_000,
    line_width: float = 5.0,
    window_size: tuple[int, int] = (600, 500),
):
    """A pyvista plotter showing the pore surface and the skeleton, light enough for the book.

    The pore surface (translucent, at most ``max_triangles`` triangles) and the skeleton as one
    polyline per branch coloured by branch (tubes in pyvista's picture, wide lines in vtk.js),
    with junctions in red and end points in black; voxels are ``graph.voxel_size`` apart, as in
    the other views here. It is the skeleton view the course book can turn
    (:mod:`labkit.course.book_scenes`). At 40^3 voxels its vtk.js export is about a fifth of
    the tubes-and-full-surface scene's, and its size is bounded by ``max_triangles`` and the
    skeleton's length rather than by the volume's surface.

    Examples
    --------
    >>> from labkit.pores import skeleton_graph, skeletonize, tube_network
    >>> net = tube_network(24)
    >>> pl = skeleton_scene(net.volume, skeleton_graph(skeletonize(net.volume)))
    >>> sorted(pl.actors)
    ['endpoints', 'junctions', 'pore surface', 'skeleton']
    >>> pl.close()
    """
    import pyvista as pv

    lines = branch_lines(graph)  # checks graph
    surface = light_surface(surface_mesh(volume, graph.voxel_size), max_triangles)
    pl = pv.Plotter(window_size=list(window_size))
    pl.add_mesh(surface, color="tan", opacity=0.25, name="pore surface")
    pl.add_mesh(
        lines,
        scalars="branch",
        cmap="tab20",
        categories=True,
        show_scalar_bar=False,
        line_width=line_width,
        render_lines_as_tubes=True,
        name="skeleton",
    )
    spacing = np.asarray(graph.voxel_size, dtype=float)
    for name, points, color in (
        ("junctions", graph.junctions, "crimson"),
        ("endpoints", graph.endpoints, "black"),
    ):
        if len(points):
            pl.add_points(
                np.asarray(points, dtype=float) * spacing,
                color=color,
                point_size=1.4 * line_width,
                render_points_as_spheres=True,
                name=name,
            )
    return pl
