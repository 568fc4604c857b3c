"""3-D pore space: synthetic volumes, curvilinear skeletons, skeleton regions, region graphs and
a microbial-decomposition simulation on them.

Volumes are 3-D boolean arrays, ``True`` = pore.

Examples
--------
>>> import labkit.pores as lp
>>> net = lp.tube_network(32, radius=2.0)
>>> skel = lp.skeletonize(net.volume)
>>> labels = lp.partition(net.volume, skel)
>>> graph = lp.region_graph(labels)
>>> len(lp.skeleton_graph(skel).branches), graph.n_nodes
(8, 8)
"""

from labkit.pores.chunked import thin_chunked
from labkit.pores.chunked_pipeline import Analysis, analyse
from labkit.pores.decomposition import (
    POOLS,
    DecompositionParams,
    DecompositionResult,
    diffusion_operator,
    initial_state,
    simulate_decomposition,
)
from labkit.pores.io import Volume, check_voxel_size, load_npy, load_raw, load_tiff, save_npy
from labkit.pores.lazy import LazyVolume, blobs_to_zarr, open_volume
from labkit.pores.network import ball_graph, inscribed_radii, node_of, voxel_graph
from labkit.pores.regions import (
    Contacts,
    RegionGraph,
    disconnected_regions,
    merge_fragments,
    partition,
    region_graph,
)
from labkit.pores.skeleton import (
    Branch,
    BranchTable,
    SkeletonGraph,
    prune,
    skeleton_graph,
    skeletonize,
)
from labkit.pores.subfield import thin_subfield
from labkit.pores.volumes import (
    TubeNetwork,
    binarize,
    blobs,
    check_volume,
    overlapping_spheres,
    porosity,
    tube_network,
)

__all__ = [
    "POOLS",
    "Analysis",
    "LazyVolume",
    "analyse",
    "blobs_to_zarr",
    "open_volume",
    "thin_chunked",
    "thin_subfield",
    "Branch",
    "BranchTable",
    "Contacts",
    "DecompositionParams",
    "DecompositionResult",
    "RegionGraph",
    "SkeletonGraph",
    "TubeNetwork",
    "Volume",
    "ball_graph",
    "binarize",
    "blobs",
    "check_volume",
    "check_voxel_size",
    "diffusion_operator",
    "disconnected_regions",
    "initial_state",
    "inscribed_radii",
    "load_npy",
    "load_raw",
    "load_tiff",
    "merge_fragments",
    "node_of",
    "overlapping_spheres",
    "partition",
    "porosity",
    "prune",
    "region_graph",
    "save_npy",
    "simulate_decomposition",
    "skeleton_graph",
    "skeletonize",
    "tube_network",
    "voxel_graph",
]
