"""Seeded synthetic porous media and grey-level to binary conversion.

Volumes are 3-D boolean arrays with ``True`` on the pore phase. Every generator takes a
``seed`` so that the same call gives the same volume.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from labkit._checks import (
    check_binary_volume,
    check_choice,
    check_finite,
    check_int,
    check_number,
    check_positive,
    check_type,
    to_plain,
)

__all__ = [
    "TubeNetwork",
    "binarize",
    "blobs",
    "check_volume",
    "overlapping_spheres",
    "porosity",
    "tube_network",
]


def _check_shape(shape) -> tuple[int, int, int]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),) * 3
    check_type("shape", shape, (tuple, list))
    if len(shape) != 3:
        raise ValueError(f"shape must have 3 entries, got {len(shape)}")
    return tuple(check_int(f"shape[{i}]", s, minimum=3) for i, s in enumerate(shape))


def check_volume(volume, name: str = "volume") -> np.ndarray:
    """Return ``volume`` as a 3-D boolean array with both phases present.

    Raises ``TypeError`` for non-arrays and ``ValueError`` for arrays that are not 3-D, not
    binary (values other than 0/1 or True/False), all solid or all pore.

    Examples
    --------
    >>> import numpy as np
    >>> check_volume(np.eye(3, dtype=int)[None].repeat(3, 0)).dtype
    dtype('bool')
    """
    volume = check_binary_volume(name, volume)
    if volume.size == 0:
        raise ValueError(f"{name} is empty (shape {volume.shape}): it needs at least one voxel")
    n_pore = int(np.count_nonzero(volume))
    if n_pore == 0:
        raise ValueError(f"{name} is all solid: it has no pore voxel")
    if n_pore == volume.size:
        raise ValueError(f"{name} is all pore: it has no solid voxel")
    return volume


def porosity(volume: np.ndarray) -> float:
    """Fraction of pore voxels.

    Examples
    --------
    >>> round(porosity(blobs(24, porosity=0.4, seed=1)), 3)
    0.4
    """
    volume = check_volume(volume)
    return float(np.count_nonzero(volume) / volume.size)


def _threshold_at_fraction(field_: np.ndarray, fraction: float) -> np.ndarray:
    """Mark exactly ``round(fraction * size)`` voxels, the ones with the lowest values."""
    n_pore = int(round(fraction * field_.size))
    order = np.argpartition(field_.ravel(), n_pore - 1)[:n_pore]
    out = np.zeros(field_.size, dtype=bool)
    out[order] = True
    return out.reshape(field_.shape)


def blobs(
    shape: int | tuple[int, int, int],
    porosity: float = 0.5,
    blobiness: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Blob-like porous medium: smoothed Gaussian noise cut at the requested porosity.

    Parameters
    ----------
    shape : int or tuple of 3 ints
        Volume shape; an int gives a cube.
    porosity : float
        Pore fraction, strictly between 0 and 1; met to within one voxel.
    blobiness : float
        Larger values give smaller, more numerous blobs (the smoothing width is
        ``mean(shape) / (40 * blobiness)`` voxels).
    seed : int
        Seed of the random generator; the same seed gives the same volume.

    Returns
    -------
    numpy.ndarray of bool
        ``True`` on the pore phase.

    Examples
    --------
    >>> v = blobs((20, 24, 28), porosity=0.3, seed=3)
    >>> v.shape, round(float(v.mean()), 2)
    ((20, 24, 28), 0.3)
    """
    shape = _check_shape(shape)
    porosity = check_number("porosity", porosity, minimum=0, maximum=1, inclusive=False)
    check_positive("blobiness", blobiness)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(shape)
    sigma = np.mean(shape) / (40.0 * blobiness)
    smooth = ndimage.gaussian_filter(noise, sigma=sigma, mode="wrap")
    return _threshold_at_fraction(smooth, porosity)


def overlapping_spheres(
    shape: int | tuple[int, int, int],
    radius: float = 4.0,
    porosity: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """Pore space around randomly placed, overlapping solid spheres (a Boolean model).

    The number of sphere centres follows the Boolean-model relation
    ``porosity = exp(-n * 4/3 * pi * radius**3)``, so the porosity is met on average.

    Examples
    --------
    >>> v = overlapping_spheres(32, radius=3, porosity=0.6, seed=0)
    >>> bool(abs(v.mean() - 0.6) < 0.05)
    True
    """
    shape = _check_shape(shape)
    check_positive("radius", radius)
    porosity = check_number("porosity", porosity, minimum=0, maximum=1, inclusive=False)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    density = -np.log(porosity) / (4.0 / 3.0 * np.pi * radius**3)
    n_centres = max(1, int(round(density * np.prod(shape))))
    centres = np.zeros(shape, dtype=bool)
    index = tuple(rng.integers(0, s, n_centres) for s in shape)
    centres[index] = True
    return ndimage.distance_transform_edt(~centres) > radius


@dataclass
class TubeNetwork:
    """A tube network whose skeleton is known by construction.

    Attributes
    ----------
    volume : numpy.ndarray of bool
        The voxelised tubes (``True`` = pore).
    nodes : numpy.ndarray, shape (n_nodes, 3)
        Node positions in voxel coordinates.
    edges : numpy.ndarray, shape (n_edges, 2)
        Node index pairs joined by a straight tube; one edge is one skeleton branch.
    radius : float
        Tube radius in voxels.
    """

    volume: np.ndarray
    nodes: np.ndarray
    edges: np.ndarray
    radius: float
    degrees: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.degrees = np.bincount(self.edges.ravel(), minlength=len(self.nodes))

    @property
    def junctions(self) -> np.ndarray:
        """Indices of nodes where three or more tubes meet."""
        return np.flatnonzero(self.degrees >= 3)

    @property
    def endpoints(self) -> np.ndarray:
        """Indices of nodes where a single tube ends."""
        return np.flatnonzero(self.degrees == 1)

    def to_dict(self) -> dict:
        return to_plain(
            {
                "shape": self.volume.shape,
                "nodes": self.nodes,
                "edges": self.edges,
                "radius": self.radius,
                "n_junctions": len(self.junctions),
                "n_endpoints": len(self.endpoints),
                "n_branches": len(self.edges),
            }
        )


def _default_network(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A square loop in the middle plane with one vertical arm at each corner."""
    lo, mid, hi = 0.25 * (size - 1), 0.5 * (size - 1), 0.75 * (size - 1)
    top, bottom = 0.1 * (size - 1) + 2, 0.9 * (size - 1) - 2
    corners = [(mid, lo, lo), (mid, lo, hi), (mid, hi, hi), (mid, hi, lo)]
    arm_ends = [(top, lo, lo), (bottom, lo, hi), (top, hi, hi), (bottom, hi, lo)]
    nodes = np.round(np.array(corners + arm_ends, dtype=float))
    edges = np.array([(0, 1), (1, 2), (2, 3), (3, 0), (0, 4), (1, 5), (2, 6), (3, 7)])
    return nodes, edges


def tube_network(
    size: int = 48,
    radius: float = 2.5,
    nodes: np.ndarray | None = None,
    edges: np.ndarray | None = None,
) -> TubeNetwork:
    """Voxelise straight tubes (capsules) of one radius between given nodes.

    Without ``nodes``/``edges`` this builds a square loop in the middle plane of a ``size``-cube
    with one arm at each corner: 4 junctions, 4 end points and 8 branches.

    Parameters
    ----------
    size : int
        Edge length of the cubic volume.
    radius : float
        Tube radius in voxels.
    nodes : array, shape (n, 3), optional
        Node positions in voxel coordinates.
    edges : int array, shape (m, 2), optional
        Node index pairs to join.

    Examples
    --------
    >>> net = tube_network(40, radius=2.0)
    >>> len(net.junctions), len(net.endpoints), len(net.edges)
    (4, 4, 8)
    """
    size = check_int("size", size, minimum=12)
    check_positive("radius", radius)
    if (nodes is None) != (edges is None):
        raise ValueError("nodes and edges must be given together")
    if nodes is None:
        nodes, edges = _default_network(size)
    nodes = np.asarray(nodes, dtype=float)
    edges = np.asarray(edges, dtype=np.int64)
    if nodes.ndim != 2 or nodes.shape[1] != 3:
        raise ValueError(f"nodes must have shape (n, 3), got {nodes.shape}")
    if edges.ndim != 2 or edges.shape[1] != 2 or edges.size == 0:
        raise ValueError(f"edges must have shape (m, 2) with m >= 1, got {edges.shape}")
    if edges.min() < 0 or edges.max() >= len(nodes):
        raise ValueError(f"edges must index nodes 0..{len(nodes) - 1}")
    grid = np.stack(np.indices((size,) * 3), axis=-1).reshape(-1, 3).astype(float)
    nearest = np.full(len(grid), np.inf)
    for a, b in edges:
        p, q = nodes[a], nodes[b]
        d = q - p
        t = np.clip((grid - p) @ d / (d @ d), 0.0, 1.0)
        nearest = np.minimum(nearest, np.linalg.norm(grid - p - t[:, None] * d, axis=1))
    volume = (nearest <= radius).reshape((size,) * 3)
    return TubeNetwork(volume=volume, nodes=nodes, edges=edges, radius=float(radius))


def binarize(
    grey: np.ndarray,
    threshold: float | str = "otsu",
    pore: str = "dark",
) -> np.ndarray:
    """Turn a grey-level volume into a pore (``True``) / solid volume.

    Parameters
    ----------
    grey : numpy.ndarray
        3-D grey-level volume.
    threshold : float or "otsu"
        Grey value separating the phases, or ``"otsu"`` for Otsu's threshold.
    pore : {"dark", "bright"}
        Whether pores are the voxels below (``"dark"``, as in X-ray CT) or above the threshold.

    Examples
    --------
    >>> import numpy as np
    >>> grey = np.where(blobs(16, porosity=0.4, seed=0), 30.0, 200.0)
    >>> bool((binarize(grey) == (grey < 100)).all())
    True
    """
    check_type("grey", grey, np.ndarray)
    if grey.ndim != 3:
        raise ValueError(f"grey must be a 3-D array, got {grey.ndim} dimensions")
    if not np.issubdtype(grey.dtype, np.number) and grey.dtype != bool:
        raise TypeError(f"grey must be numeric, got dtype {grey.dtype}")
    check_choice("pore", pore, ("dark", "bright"))
    if grey.size == 0:
        raise ValueError(f"grey is empty (shape {grey.shape}): it needs at least one voxel")
    grey = check_finite("grey", grey.astype(np.float64, copy=False))
    if isinstance(threshold, str):
        check_choice("threshold", threshold, ("otsu",))
        if grey.min() == grey.max():
            raise ValueError("grey is constant: Otsu's threshold needs two grey levels")
        from skimage.filters import threshold_otsu

        threshold = float(threshold_otsu(grey))
    else:
        threshold = check_number("threshold", threshold)
    return grey <= threshold if pore == "dark" else grey > threshold
