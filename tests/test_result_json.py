"""The results' ``to_dict`` (now ``_checks.to_plain``) gives the same JSON as the hand-written
bodies it replaced: each expected dict below is the old body, built from the fields with
numpy's and torch's ``tolist``."""

from __future__ import annotations

import json

import numpy as np
import torch


def same_json(result, expected: dict) -> None:
    assert json.dumps(result.to_dict()) == json.dumps(expected)


def test_pde_results():
    from labkit.pde import darcy
    from labkit.pde.fields import darcy_coefficient
    from labkit.pde.krylov import cg

    matrix = torch.tensor([[4.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    res = cg(lambda x: x @ matrix, torch.tensor([[1.0, 2.0], [0.5, -1.0]], dtype=torch.float64))
    same_json(
        res,
        {
            "iterations": res.iterations.tolist(),
            "residual": res.residual.tolist(),
            "converged": res.converged.tolist(),
        },
    )
    seq = darcy.solve_sequence(darcy_coefficient(9, batch=3, seed=0, dtype=torch.float64))
    same_json(
        seq,
        {
            "iterations": seq.iterations.tolist(),
            "total_iterations": int(seq.iterations.sum()),
            "order": seq.order.tolist(),
            "seconds": seq.seconds,
        },
    )


def test_landscape_results():
    from labkit.landscape.directions import pca_directions
    from labkit.landscape.intrinsic import IntrinsicDimensionResult
    from labkit.landscape.spectrum import BlockSpectra, top_eigenvalues
    from labkit.landscape.surface import SurfaceResult

    params = {"w": torch.tensor([1.0, -0.5, 0.25], requires_grad=True)}
    eig = top_eigenvalues(lambda p: (torch.tensor([3.0, 2.0, 1.0]) * p["w"] ** 2).sum(), params)
    same_json(
        eig,
        {
            "eigenvalues": [float(x) for x in eig.eigenvalues],
            "residuals": [float(x) for x in eig.residuals],
            "converged": eig.converged,
            "which": eig.which,
            "n_hvp": eig.n_hvp,
            "n_iter": eig.n_iter,
            "seconds": eig.seconds,
            "mode": eig.mode,
        },
    )
    blocks = BlockSpectra(
        blocks={"0": ["0.weight", "0.bias"]},
        eigenvalues={"0": np.array([2.5, 0.1], dtype=np.float32)},
        densities={"0": None},
        n_hvp=12,
        seconds=0.25,
    )
    same_json(
        blocks,
        {
            "blocks": blocks.blocks,
            "eigenvalues": {"0": [float(x) for x in blocks.eigenvalues["0"]]},
            "n_hvp": 12,
            "seconds": 0.25,
        },
    )
    traj = [{"w": torch.tensor([float(t), 0.5 * t, 0.1 * t * t])} for t in range(5)]
    pca = pca_directions(traj, 2)
    same_json(
        pca,
        {
            "explained_variance_ratio": [float(x) for x in pca.explained_variance_ratio],
            "path": pca.path.tolist(),
        },
    )
    surface = SurfaceResult(
        coords=[np.linspace(-1, 1, 3), np.linspace(-1, 1, 4)],
        loss=np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
        origin_loss=0.5,
        normalization="filter",
        n_evals=12,
        chunk_size=4,
        vectorized=True,
        seconds=0.01,
        directions=[{"w": torch.ones(2)}],
    )
    same_json(
        surface,
        {
            "coords": [c.tolist() for c in surface.coords],
            "loss": surface.loss.tolist(),
            "origin_loss": 0.5,
            "normalization": "filter",
            "n_evals": 12,
            "chunk_size": 4,
            "vectorized": True,
            "seconds": 0.01,
            "first_layer_factored": False,
            "method": "vmap",
        },
    )
    sweep = IntrinsicDimensionResult(
        dims=np.array([2, 8], dtype=np.int64),
        seeds=[0, 1],
        scores=np.array([[0.1, 0.2], [0.8, 0.9]]),
        baseline=0.95,
        threshold=0.9,
        d_int90=8,
        seconds=1.5,
        baseline_scores=[0.95],
    )
    same_json(
        sweep,
        {
            "dims": [2, 8],
            "seeds": [0, 1],
            "scores": sweep.scores.tolist(),
            "baseline": 0.95,
            "threshold": 0.9,
            "d_int90": 8,
            "seconds": 1.5,
        },
    )


def test_pores_and_train_results():
    from labkit.pores.io import Volume
    from labkit.pores.volumes import tube_network
    from labkit.train.distributed import DistributedContext

    net = tube_network(12, radius=1.5)
    same_json(
        net,
        {
            "shape": list(net.volume.shape),
            "nodes": net.nodes.tolist(),
            "edges": net.edges.tolist(),
            "radius": net.radius,
            "n_junctions": int(len(net.junctions)),
            "n_endpoints": int(len(net.endpoints)),
            "n_branches": int(len(net.edges)),
        },
    )
    volume = Volume(np.zeros((2, 3, 4), dtype=np.uint8), (0.5, 0.5, 2.0), "scan.npy")
    same_json(
        volume,
        {"shape": [2, 3, 4], "dtype": "uint8", "voxel_size": [0.5, 0.5, 2.0], "source": "scan.npy"},
    )
    context = DistributedContext(rank=1, world_size=4, local_rank=1)
    same_json(context, {"rank": 1, "world_size": 4, "local_rank": 1})
