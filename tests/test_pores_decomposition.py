"""Diffusion and microbial decomposition on region, voxel and ball graphs."""

import numpy as np
import pytest
from scipy import sparse
from scipy.integrate import solve_ivp

import labkit.pores as lp


@pytest.fixture(scope="module")
def tubes():
    net = lp.tube_network(32, 2.0)
    labels = lp.partition(net.volume)
    return net, labels, lp.region_graph(labels)


def test_total_carbon_is_conserved_over_a_long_run(tubes):
    net, labels, graph = tubes
    rng = np.random.default_rng(0)
    initial = lp.initial_state(
        graph,
        dom=np.where(labels == 3, 2.0, 0.0),
        som=rng.uniform(0, 1, graph.n_nodes),
        fom=0.3,
        mb=0.05,
    )
    run = lp.simulate_decomposition(
        graph, lp.DecompositionParams(), 2000.0, dt=0.5, initial=initial
    )
    assert len(run.step_times) == 4001
    assert run.mass_balance_error < 1e-10
    assert run.totals["co2"][-1] > 0.1 * run.total_carbon[0]
    assert all(np.all(run.pools[p] >= -1e-12) for p in lp.POOLS)
    voxels = lp.voxel_graph(net.volume)
    initial = lp.initial_state(voxels, dom=np.where(labels == 3, 2.0, 0.0), mb=0.05, fom=0.3)
    run = lp.simulate_decomposition(voxels, t_final=200.0, dt=1.0, initial=initial)
    assert run.mass_balance_error < 1e-10


def test_two_node_diffusion_matches_the_implicit_euler_closed_form():
    labels = np.zeros((1, 1, 5), np.int32)
    labels[0, 0, :4] = [1, 1, 1, 2]
    graph = lp.region_graph(labels, voxel_size=(1.0, 1.0, 2.0))
    v1, v2 = graph.volumes  # 6 and 2
    g = 0.7 * 1.0 * 1.0 / graph.contacts.distances[0]  # D * s / d, s = 1 x 1 face
    initial = lp.initial_state(graph, dom=np.array([6.0, 0.0]))
    dt, n = 0.25, 40
    run = lp.simulate_decomposition(
        graph, lp.DecompositionParams.diffusion_only(0.7), dt * n, dt, initial, n_records=n + 1
    )
    c = run.concentration("dom")
    factor = 1.0 / (1.0 + g * dt * (1 / v1 + 1 / v2))
    assert np.allclose(c[:, 0] - c[:, 1], 1.0 * factor ** np.arange(n + 1), rtol=1e-9)
    assert np.allclose(run.pools["dom"].sum(axis=1), 6.0, rtol=1e-14)


def test_voxel_graph_is_the_seven_point_finite_volume_laplacian():
    shape = (4, 5, 6)
    volume = np.zeros((6, 7, 8), bool)
    volume[1:-1, 1:-1, 1:-1] = True
    h = (1.0, 2.0, 0.5)
    graph = lp.voxel_graph(volume, voxel_size=h)

    def neumann(n, step):
        d = sparse.diags(
            [-np.ones(n - 1), np.r_[1, 2 * np.ones(n - 2), 1], -np.ones(n - 1)], [-1, 0, 1]
        )
        return d / step**2

    eye = [sparse.identity(n) for n in shape]
    lap = (
        sparse.kron(sparse.kron(neumann(shape[0], h[0]), eye[1]), eye[2])
        + sparse.kron(sparse.kron(eye[0], neumann(shape[1], h[1])), eye[2])
        + sparse.kron(sparse.kron(eye[0], eye[1]), neumann(shape[2], h[2]))
    )
    ours = lp.diffusion_operator(graph, 1.0) / np.prod(h)
    assert abs(ours - lap).max() < 1e-12


def test_biology_matches_the_ode_and_converges_at_first_order():
    labels = np.ones((2, 2, 2), np.int32)
    labels[0, 0, 0] = 0
    graph = lp.region_graph(labels)
    p = lp.DecompositionParams(
        uptake=0.8,
        half_saturation=0.4,
        mortality=0.1,
        dead_to_dom=0.3,
        respiration=0.05,
        som_dissolution=0.02,
        fom_dissolution=0.05,
    )
    V = graph.volumes[0]
    y0 = np.array([1.0, 0.5, 2.0, 0.2, 0.0]) * V  # dom som fom mb co2

    def rhs(_, y):
        dom, som, fom, mb, _co2 = y
        c = dom / V
        growth = p.uptake * c / (p.half_saturation + c) * mb
        death = p.mortality * mb
        return [
            -growth + p.dead_to_dom * death + p.som_dissolution * som + p.fom_dissolution * fom,
            (1 - p.dead_to_dom) * death - p.som_dissolution * som,
            -p.fom_dissolution * fom,
            growth - death - p.respiration * mb,
            p.respiration * mb,
        ]

    t_final = 20.0
    exact = solve_ivp(rhs, (0, t_final), y0, rtol=1e-11, atol=1e-13).y[:, -1]
    errors = []
    for dt in (0.02, 0.01):
        initial = {k: np.array([v]) for k, v in zip(lp.POOLS, y0, strict=True)}
        run = lp.simulate_decomposition(graph, p, t_final, dt, initial, n_records=2)
        final = np.array([run.pools[k][-1, 0] for k in lp.POOLS])
        errors.append(np.max(np.abs(final - exact)) / np.max(np.abs(exact)))
    assert errors[1] < 5e-3
    assert 1.6 < errors[0] / errors[1] < 2.4


def test_region_diffusion_approaches_the_voxel_reference(tubes):
    net, labels, regions = tubes
    voxels = lp.voxel_graph(net.volume)
    balls = lp.ball_graph(net.volume, labels)
    owner = lp.node_of(voxels, labels)
    start = np.where(labels == 5, 1.0, 0.0)
    params = lp.DecompositionParams.diffusion_only(1.0)
    runs = {
        g.kind: lp.simulate_decomposition(
            g, params, 3000.0, 5.0, lp.initial_state(g, dom=start), n_records=31
        )
        for g in (regions, voxels, balls)
    }
    reference = (
        np.stack(
            [
                np.bincount(owner, weights=d, minlength=regions.n_nodes)
                for d in runs["voxel"].pools["dom"]
            ]
        )
        / regions.volumes
    )
    equilibrium = start.sum() / net.volume.sum()
    for kind in ("region", "ball"):
        c = runs[kind].concentration("dom")
        gap = np.abs(c - reference).max(axis=1)
        assert gap[0] == 0.0  # same start, regional averages
        assert gap[-1] < 1e-3 * gap[1:].max()
        assert np.all(gap[10:] <= gap[9] + 1e-15)  # the gap keeps shrinking after a transient
        assert np.allclose(c[-1], equilibrium, rtol=1e-4)
    assert np.allclose(reference[-1], equilibrium, rtol=1e-4)


def test_bad_simulation_inputs(tubes):
    _, labels, graph = tubes
    with pytest.raises(ValueError, match="dt=.* too large"):
        lp.simulate_decomposition(graph, lp.DecompositionParams(uptake=5.0), 10.0, dt=1.0)
    with pytest.raises(ValueError, match="t_final"):
        lp.simulate_decomposition(graph, t_final=0.0)
    with pytest.raises(ValueError, match="diffusion"):
        lp.DecompositionParams(diffusion=0.0)
    with pytest.raises(ValueError, match="dead_to_dom"):
        lp.DecompositionParams(dead_to_dom=1.5)
    with pytest.raises(ValueError, match="initial lacks"):
        lp.simulate_decomposition(graph, initial={"dom": np.ones(graph.n_nodes)})
    with pytest.raises(ValueError, match="dom must be a density"):
        lp.initial_state(graph, dom=np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        lp.initial_state(graph, mb=-np.ones(graph.n_nodes))
    with pytest.raises(TypeError, match="graph"):
        lp.simulate_decomposition(labels)
