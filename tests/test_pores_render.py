"""Off-screen 3-D views of pores, skeletons and regions (pyvista through EGL)."""

import numpy as np
import pytest

import labkit.pores as lp

pv = pytest.importorskip("pyvista")
pv.OFF_SCREEN = True
render = pytest.importorskip("labkit.pores.render")


@pytest.fixture(scope="module")
def tubes():
    net = lp.tube_network(24, 2.0)
    skel = lp.skeletonize(net.volume)
    return net, lp.skeleton_graph(skel), lp.partition(net.volume, skel)


def _drawn_fraction(path):
    from matplotlib.image import imread

    image = imread(path)[..., :3]
    background = image[0, 0]
    return float(np.mean(np.any(np.abs(image - background) > 0.02, axis=-1)))


def test_meshes_match_the_volume_and_skeleton(tubes):
    net, graph, _ = tubes
    surface = render.surface_mesh(net.volume)
    lo, hi = np.argwhere(net.volume).min(0), np.argwhere(net.volume).max(0)
    assert np.allclose(surface.bounds[::2], lo - 0.5, atol=0.51)
    assert np.allclose(surface.bounds[1::2], hi + 0.5, atol=0.51)
    tubes_mesh = render.tube_mesh(graph, radius=0.4)
    assert set(np.unique(tubes_mesh.cell_data["branch"])) == set(range(len(graph.branches)))


def test_views_render_off_screen(tubes, tmp_path):
    net, graph, labels = tubes
    pl = render.pore_surface(net.volume, opacity=0.3)
    render.skeleton_tubes(graph, plotter=pl)
    pl.show(screenshot=tmp_path / "pores.png")
    assert _drawn_fraction(tmp_path / "pores.png") > 0.02

    pl = render.region_view(labels, clip_normal=(1, 0, 0))
    pl.show(screenshot=tmp_path / "labels.png")
    values = np.linspace(0, 1, int(labels.max()))
    pl = render.region_view(labels, values, color_by="value", interactive_clip=True)
    pl.show(screenshot=tmp_path / "values.png")
    for name in ("labels.png", "values.png"):
        assert _drawn_fraction(tmp_path / name) > 0.02


def test_bad_view_arguments(tubes):
    _, _, labels = tubes
    with pytest.raises(ValueError, match="values must be given"):
        render.region_view(labels, color_by="value")
    with pytest.raises(ValueError, match="values must have shape"):
        render.region_view(labels, np.ones(2), color_by="value")
    with pytest.raises(ValueError, match="color_by"):
        render.region_view(labels, color_by="size")
