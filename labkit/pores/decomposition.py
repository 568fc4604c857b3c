"""Diffusion and microbial decomposition of organic matter on a region graph.

Each node (region, voxel or ball) holds five carbon pools: dissolved organic matter (DOM),
soil organic matter (SOM), fresh organic matter (FOM), microbial biomass (MB) and CO2. A time
step alternates (operator splitting)

1. diffusion of DOM between touching nodes, flux ``D * s_ij / d_ij * (c_i - c_j)`` with
   ``c = DOM / V``, by implicit Euler solved with Jacobi-preconditioned conjugate gradients;
   the new DOM is formed from the fluxes, so the DOM total is kept to round-off whatever the
   solver tolerance;
2. microbial transformation in each node: growth on DOM (Monod), mortality to DOM and SOM,
   respiration to CO2, and SOM and FOM dissolving to DOM. Every transfer takes an amount from
   one pool and adds the same amount to another, so total carbon is conserved to round-off.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import LinearOperator, cg

from labkit._checks import check_int, check_nonnegative, check_positive, check_type
from labkit.pores.regions import RegionGraph

__all__ = [
    "POOLS",
    "DecompositionParams",
    "DecompositionResult",
    "diffusion_operator",
    "initial_state",
    "simulate_decomposition",
]

POOLS = ("dom", "som", "fom", "mb", "co2")


@dataclass
class DecompositionParams:
    """Rates of the decomposition model, in any consistent units (defaults: voxel lengths, a
    unit of time, carbon mass per unit volume).

    Attributes
    ----------
    diffusion : float
        DOM diffusion coefficient ``D`` (length**2 / time).
    uptake : float
        Maximum specific growth rate of MB on DOM, ``v_DOM`` (1 / time).
    half_saturation : float
        Monod half-saturation concentration ``K_ab`` (mass / volume).
    mortality : float
        Specific mortality rate ``mu`` (1 / time).
    dead_to_dom : float
        Fraction ``rho_m`` of dead biomass returned to DOM; the rest goes to SOM.
    respiration : float
        Specific respiration rate ``rho`` (1 / time), MB to CO2.
    som_dissolution, fom_dissolution : float
        Rates ``v_SOM`` and ``v_FOM`` (1 / time) at which SOM and FOM turn into DOM.
    """

    diffusion: float = 1.0
    uptake: float = 0.5
    half_saturation: float = 0.5
    mortality: float = 0.05
    dead_to_dom: float = 0.55
    respiration: float = 0.05
    som_dissolution: float = 0.002
    fom_dissolution: float = 0.01

    def __post_init__(self) -> None:
        check_positive("diffusion", self.diffusion)
        for name in ("uptake", "half_saturation", "mortality", "respiration"):
            check_nonnegative(name, getattr(self, name))
        for name in ("som_dissolution", "fom_dissolution", "dead_to_dom"):
            check_nonnegative(name, getattr(self, name))
        if self.dead_to_dom > 1:
            raise ValueError(f"dead_to_dom must lie in [0, 1], got {self.dead_to_dom}")
        if self.uptake > 0 and self.half_saturation == 0:
            raise ValueError("half_saturation must be positive when uptake > 0")

    @classmethod
    def diffusion_only(cls, diffusion: float = 1.0) -> DecompositionParams:
        """Parameters with every biological rate set to zero."""
        return cls(
            diffusion=diffusion,
            uptake=0.0,
            mortality=0.0,
            respiration=0.0,
            som_dissolution=0.0,
            fom_dissolution=0.0,
        )

    @property
    def fastest_rate(self) -> float:
        return max(
            self.uptake,
            self.mortality + self.respiration,
            self.som_dissolution,
            self.fom_dissolution,
        )

    def to_dict(self) -> dict:
        return asdict(self)


def _pool_masses(graph: RegionGraph, name: str, value) -> np.ndarray:
    n = graph.n_nodes
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        check_nonnegative(name, value)
        return graph.volumes * float(value)
    check_type(name, value, np.ndarray)
    if value.shape == graph.labels.shape:
        if np.any(value < 0) or not np.all(np.isfinite(value)):
            raise ValueError(f"{name} density field must be finite and non-negative")
        voxel_volume = float(np.prod(graph.voxel_size))
        mask = graph.labels > 0
        return np.bincount(
            graph.labels[mask] - 1, weights=value[mask] * voxel_volume, minlength=n
        ).astype(float)
    if value.shape == (n,):
        if np.any(value < 0) or not np.all(np.isfinite(value)):
            raise ValueError(f"{name} masses must be finite and non-negative")
        return value.astype(float)
    raise ValueError(
        f"{name} must be a density (number), a density field of shape {graph.labels.shape} "
        f"or per-node masses of shape ({n},), got shape {value.shape}"
    )


def initial_state(
    graph: RegionGraph, dom=0.0, som=0.0, fom=0.0, mb=0.0, co2=0.0
) -> dict[str, np.ndarray]:
    """Initial pool masses per node.

    Each pool is a uniform density (mass per volume), a 3-D density field on the graph's voxels
    (so that region, voxel and ball graphs of one volume start from the same carbon), or an
    array of per-node masses.

    Examples
    --------
    >>> import numpy as np
    >>> from labkit.pores import region_graph
    >>> labels = np.zeros((1, 1, 4), np.int32); labels[0, 0] = [1, 1, 2, 0]
    >>> state = initial_state(region_graph(labels), dom=2.0, mb=np.array([0.5, 0.0]))
    >>> state["dom"].tolist(), state["mb"].tolist()
    ([4.0, 2.0], [0.5, 0.0])
    """
    check_type("graph", graph, RegionGraph)
    given = {"dom": dom, "som": som, "fom": fom, "mb": mb, "co2": co2}
    return {name: _pool_masses(graph, name, value) for name, value in given.items()}


def diffusion_operator(graph: RegionGraph, diffusion: float) -> sparse.csr_matrix:
    """Graph Laplacian ``L`` with conductances ``D * s_ij / d_ij``: DOM flux out is ``L @ c``.

    Examples
    --------
    >>> import numpy as np
    >>> from labkit.pores import voxel_graph
    >>> v = np.zeros((3, 3, 4), bool); v[1, 1, :] = True
    >>> diffusion_operator(voxel_graph(v), 2.0).toarray()[0].tolist()
    [2.0, -2.0, 0.0, 0.0]
    """
    check_type("graph", graph, RegionGraph)
    check_positive("diffusion", diffusion)
    contacts = graph.contacts
    distances = np.maximum(contacts.distances, 0.5 * min(graph.voxel_size))
    conductance = diffusion * contacts.areas / distances
    g = contacts.matrix(graph.n_nodes, conductance)
    return (sparse.diags(np.asarray(g.sum(axis=1)).ravel()) - g).tocsr()


@dataclass
class DecompositionResult:
    """Time series of a decomposition run.

    Attributes
    ----------
    times : numpy.ndarray, shape (n_records,)
        Times at which ``pools`` were stored.
    pools : dict of str to numpy.ndarray, shape (n_records, n_nodes)
        Mass of each pool per node.
    step_times : numpy.ndarray, shape (n_steps + 1,)
        Every time step.
    totals : dict of str to numpy.ndarray, shape (n_steps + 1,)
        Total mass of each pool at every step.
    volumes : numpy.ndarray
        Node volumes (for concentrations ``pools["dom"] / volumes``).
    cg_iterations : int
        Total conjugate-gradient iterations.
    """

    times: np.ndarray
    pools: dict[str, np.ndarray]
    step_times: np.ndarray
    totals: dict[str, np.ndarray]
    volumes: np.ndarray
    cg_iterations: int

    @property
    def total_carbon(self) -> np.ndarray:
        """DOM + SOM + FOM + MB + CO2 at every step."""
        return sum(self.totals[name] for name in POOLS)

    @property
    def mass_balance_error(self) -> float:
        """Largest relative drift of total carbon from its initial value."""
        total = self.total_carbon
        return float(np.max(np.abs(total - total[0])) / abs(total[0])) if total[0] else 0.0

    def concentration(self, pool: str = "dom") -> np.ndarray:
        """Pool mass per volume per node, shape ``(n_records, n_nodes)``."""
        return self.pools[pool] / self.volumes

    def to_dict(self) -> dict:
        return {
            "n_nodes": int(len(self.volumes)),
            "n_steps": int(len(self.step_times) - 1),
            "t_final": float(self.step_times[-1]),
            "final_totals": {k: float(v[-1]) for k, v in self.totals.items()},
            "mass_balance_error": self.mass_balance_error,
            "cg_iterations": int(self.cg_iterations),
        }


def _biology_step(state: dict[str, np.ndarray], volumes, params: DecompositionParams, dt):
    dom, som, fom, mb, co2 = (state[name] for name in POOLS)
    if params.uptake > 0:
        c = dom / volumes
        growth = np.minimum(params.uptake * c / (params.half_saturation + c) * mb * dt, dom)
        dom -= growth
        mb += growth
    death = params.mortality * dt * mb
    to_dom = params.dead_to_dom * death
    mb -= death
    dom += to_dom
    som += death - to_dom
    respired = params.respiration * dt * mb
    mb -= respired
    co2 += respired
    dissolved = params.som_dissolution * dt * som
    som -= dissolved
    dom += dissolved
    dissolved = params.fom_dissolution * dt * fom
    fom -= dissolved
    dom += dissolved


def simulate_decomposition(
    graph: RegionGraph,
    params: DecompositionParams | None = None,
    t_final: float = 100.0,
    dt: float = 1.0,
    initial: dict[str, np.ndarray] | None = None,
    n_records: int = 101,
    rtol: float = 1e-10,
) -> DecompositionResult:
    """Simulate DOM diffusion and microbial decomposition on a region graph.

    Parameters
    ----------
    graph : RegionGraph
        From :func:`region_graph`, :func:`voxel_graph` or :func:`ball_graph`.
    params : DecompositionParams, optional
        Rates; defaults to ``DecompositionParams()``.
    t_final : float
        End time; the number of steps is ``ceil(t_final / dt)`` and ``dt`` is shrunk to fit.
    dt : float
        Time step. The biology is explicit, so ``dt * params.fastest_rate`` must be at most 1.
    initial : dict, optional
        Pool masses per node, e.g. from :func:`initial_state`; default: DOM at density 1 and MB
        at density 0.05 everywhere.
    n_records : int
        Number of evenly spaced times at which every node's pools are stored.
    rtol : float
        Relative residual of the conjugate-gradient solves.

    Returns
    -------
    DecompositionResult

    Examples
    --------
    >>> from labkit.pores import partition, region_graph, tube_network
    >>> net = tube_network(24, radius=2.0)
    >>> graph = region_graph(partition(net.volume))
    >>> run = simulate_decomposition(graph, t_final=20.0, dt=0.5)
    >>> run.mass_balance_error < 1e-12, bool(run.totals["co2"][-1] > 0)
    (True, True)
    """
    check_type("graph", graph, RegionGraph)
    params = DecompositionParams() if params is None else params
    check_type("params", params, DecompositionParams)
    check_positive("t_final", t_final)
    check_positive("dt", dt)
    n_records = check_int("n_records", n_records, minimum=2)
    check_positive("rtol", rtol)
    n_steps = max(1, math.ceil(t_final / dt - 1e-12))
    dt = t_final / n_steps
    if dt * params.fastest_rate > 1:
        raise ValueError(
            f"dt={dt} is too large for the biology: dt * fastest rate = "
            f"{dt * params.fastest_rate:.3g} must be <= 1"
        )
    if initial is None:
        initial = initial_state(graph, dom=1.0, mb=0.05)
    check_type("initial", initial, dict)
    missing = set(POOLS) - set(initial)
    if missing:
        raise ValueError(f"initial lacks the pools {sorted(missing)}")
    state = {name: np.array(initial[name], dtype=float) for name in POOLS}
    for name, values in state.items():
        if values.shape != (graph.n_nodes,):
            raise ValueError(f"initial[{name!r}] must have shape ({graph.n_nodes},)")
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(
                f"initial[{name!r}] must hold finite, non-negative masses; got NaN, inf or "
                "negative entries"
            )

    volumes = graph.volumes
    laplacian = diffusion_operator(graph, params.diffusion)
    system = (sparse.diags(volumes) + dt * laplacian).tocsr()
    inv_diag = 1.0 / system.diagonal()
    jacobi = LinearOperator(system.shape, matvec=lambda r: inv_diag * r, dtype=float)
    record_steps = np.unique(np.round(np.linspace(0, n_steps, n_records)).astype(int))
    pools = {name: np.zeros((len(record_steps), graph.n_nodes)) for name in POOLS}
    totals = {name: np.zeros(n_steps + 1) for name in POOLS}
    iterations = [0]

    def count(_):
        iterations[0] += 1

    record = 0
    for step in range(n_steps + 1):
        for name in POOLS:
            totals[name][step] = state[name].sum()
        if record < len(record_steps) and record_steps[record] == step:
            for name in POOLS:
                pools[name][record] = state[name]
            record += 1
        if step == n_steps:
            break
        dom = state["dom"]
        c, info = cg(system, dom, x0=dom / volumes, rtol=rtol, atol=0.0, M=jacobi, callback=count)
        if info != 0:
            raise RuntimeError(f"conjugate gradients did not converge (info={info})")
        state["dom"] = dom - dt * (laplacian @ c)
        _biology_step(state, volumes, params, dt)
    return DecompositionResult(
        times=record_steps * dt,
        pools=pools,
        step_times=np.arange(n_steps + 1) * dt,
        totals=totals,
        volumes=volumes.copy(),
        cg_iterations=iterations[0],
    )
