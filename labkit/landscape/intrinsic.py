"""Intrinsic dimension (Li, Farkhoor, Liu & Yosinski 2018): train ``theta = theta0 + P theta_d``
in random subspaces of growing dimension ``d`` and find the smallest ``d`` that reaches 90 % of
the performance of direct training (``d_int90``)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from labkit._checks import check_int, check_positive, check_type, to_plain

from .fastfood import make_projection
from .params import Params, flatten, numel, unflatten

__all__ = [
    "IntrinsicDimensionResult",
    "SubspaceModel",
    "SubspaceTask",
    "accuracy",
    "intrinsic_dimension",
    "relative_l2_score",
]


class SubspaceModel(nn.Module):
    """``model`` with its parameters ``theta0 + P theta_d``; only ``theta_d`` is trained.

    Parameters
    ----------
    model : torch.nn.Module
        The network (copied; its own parameters are frozen at their current values
        ``theta0``).
    d : int
        Subspace dimension.
    projection : {"fastfood", "dense", "sparse"}
        The random projection ``P`` (see :func:`make_projection`).
    seed : int
        Seed of ``P``.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(4, 2)
    >>> sub = SubspaceModel(net, d=3)
    >>> x = torch.randn(5, 4)
    >>> torch.equal(sub(x), net(x)), [n for n, p in sub.named_parameters() if p.requires_grad]
    (True, ['theta_d'])
    """

    def __init__(self, model: nn.Module, d: int, projection: str = "fastfood", seed: int = 0):
        super().__init__()
        check_type("model", model, nn.Module)
        self.model = copy.deepcopy(model).requires_grad_(False)
        theta0 = {k: v.detach() for k, v in self.model.named_parameters()}
        first = next(iter(theta0.values()))
        self.shapes = {k: v.shape for k, v in theta0.items()}
        self.register_buffer("theta0", flatten(theta0).clone())
        self.projection = make_projection(projection, numel(theta0), d, seed, first.dtype).to(
            first.device
        )
        self.theta_d = nn.Parameter(torch.zeros(d, dtype=first.dtype, device=first.device))

    def parameters_dict(self) -> Params:
        """The model's parameters ``theta0 + P theta_d`` as a dict."""
        like = {k: torch.empty(s, device=self.theta0.device) for k, s in self.shapes.items()}
        return unflatten(self.theta0 + self.projection(self.theta_d), like)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        buffers = dict(self.model.named_buffers())
        return functional_call(self.model, {**buffers, **self.parameters_dict()}, (x,))


def accuracy(output: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of correct class predictions."""
    return float((output.argmax(-1) == target).double().mean())


def relative_l2_score(output: torch.Tensor, target: torch.Tensor) -> float:
    """``max(0, 1 - ||output - target|| / ||target||)`` per sample, averaged: 1 is perfect."""
    err = (output - target).flatten(1).norm(dim=1) / target.flatten(1).norm(dim=1)
    return float((1.0 - err).clamp_min(0.0).mean())


def _fresh(model: nn.Module | Callable[[], nn.Module], seed: int) -> nn.Module:
    torch.manual_seed(seed)
    if isinstance(model, nn.Module):
        model = copy.deepcopy(model)
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        return model
    return model()


@dataclass
class SubspaceTask:
    """One training run for :func:`intrinsic_dimension`: ``task(d, seed) -> score``.

    ``d=None`` trains the model directly (the baseline); an integer ``d`` trains ``theta_d``
    of a :class:`SubspaceModel`. The initial weights come from ``seed``: a module is
    re-initialised with ``reset_parameters``, a factory ``model()`` is called under
    ``torch.manual_seed(seed)``. Training is Adam on mini-batches; the score (higher is better)
    is ``score(model(x_val), y_val)``. Everything here pickles, so a task runs in a process pool.
    ``threads`` (default 1) is passed to ``torch.set_num_threads`` in the process that runs the
    task, so that parallel runs do not oversubscribe the cores.
    """

    model: nn.Module | Callable[[], nn.Module]
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy
    score: Callable[[torch.Tensor, torch.Tensor], float] = accuracy
    projection: str = "fastfood"
    steps: int = 300
    lr: float = 1e-2
    batch_size: int = 128
    threads: int | None = 1

    def __call__(self, d: int | None, seed: int) -> float:
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        net = _fresh(self.model, seed)
        model = net if d is None else SubspaceModel(net, d, self.projection, seed=seed)
        trainable = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(trainable, lr=self.lr)
        gen = torch.Generator().manual_seed(seed)
        n = len(self.x_train)
        model.train()
        for _ in range(self.steps):
            idx = torch.randint(0, n, (min(self.batch_size, n),), generator=gen)
            opt.zero_grad()
            self.loss(model(self.x_train[idx]), self.y_train[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            return float(self.score(model(self.x_val), self.y_val))


@dataclass
class IntrinsicDimensionResult:
    """Scores of a sweep over ``dims`` x ``seeds`` and the intrinsic dimension ``d_int90``.

    ``d_int90`` is the smallest ``d`` whose mean score reaches ``threshold * baseline``
    (``None`` if no ``d`` of the sweep does).
    """

    dims: np.ndarray
    seeds: list[int]
    scores: np.ndarray
    baseline: float
    threshold: float
    d_int90: int | None
    seconds: float
    baseline_scores: list[float] = field(default_factory=list)

    @property
    def mean_scores(self) -> np.ndarray:
        return self.scores.mean(axis=1)

    def to_dict(self) -> dict:
        return to_plain(self, omit=("baseline_scores",))


def intrinsic_dimension(
    task: Callable[[int | None, int], float],
    dims: Iterable[int],
    *,
    seeds: Sequence[int] = (0,),
    baseline: float | None = None,
    threshold: float = 0.9,
    executor: Executor | None = None,
    progress: bool = True,
) -> IntrinsicDimensionResult:
    """Sweep subspace dimensions ``dims`` over ``seeds`` and find ``d_int90``.

    Parameters
    ----------
    task : callable
        ``task(d, seed) -> score`` (higher is better); ``task(None, seed)`` trains directly.
        :class:`SubspaceTask` is one; it must pickle to run in a process pool.
    dims : iterable of int
        Subspace dimensions to try.
    seeds : sequence of int
        Repeats per dimension; scores are averaged over seeds.
    baseline : float, optional
        Score of direct training; default: the mean of ``task(None, seed)`` over ``seeds``.
    threshold : float
        Fraction of the baseline to reach (0.9 for ``d_int90``).
    executor : concurrent.futures.Executor, optional
        Where the ``(d, seed)`` runs go: default a local ``ProcessPoolExecutor``; pass a
        ``ThreadPoolExecutor``, or ``dask.distributed.Client(...).get_executor()`` for a
        cluster. An executor you pass is not shut down.
    progress : bool
        Show a progress bar over the runs.

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> task = lambda d, seed: 1.0 if d is None else min(1.0, d / 100)
    >>> with ThreadPoolExecutor(1) as pool:
    ...     res = intrinsic_dimension(task, [10, 50, 90, 200], executor=pool, progress=False)
    >>> res.d_int90, res.baseline
    (90, 1.0)
    """
    if not callable(task):
        raise TypeError(f"task must be callable, got {type(task).__name__}")
    dims = np.array(sorted({check_int("dims", d, minimum=1) for d in dims}), dtype=np.int64)
    if dims.size == 0:
        raise ValueError("dims must hold at least one dimension")
    seeds = [check_int("seeds", s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    check_positive("threshold", threshold)
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor, got {executor!r}")
    t0 = time.perf_counter()
    own = executor is None
    pool = ProcessPoolExecutor() if own else executor
    jobs = [(None, s) for s in seeds] if baseline is None else []
    jobs += [(int(d), s) for d in dims for s in seeds]
    try:
        futures = {pool.submit(task, d, s): (d, s) for d, s in jobs}
        done = as_completed(futures)
        if progress:
            from tqdm.auto import tqdm

            done = tqdm(done, total=len(futures), desc="intrinsic dimension")
        results = {futures[f]: float(f.result()) for f in done}
    finally:
        if own:
            pool.shutdown(cancel_futures=True)
    baseline_scores = [results[(None, s)] for s in seeds] if baseline is None else []
    base = float(np.mean(baseline_scores)) if baseline is None else float(baseline)
    scores = np.array([[results[(int(d), s)] for s in seeds] for d in dims])
    reached = np.nonzero(scores.mean(axis=1) >= threshold * base)[0]
    return IntrinsicDimensionResult(
        dims=dims,
        seeds=seeds,
        scores=scores,
        baseline=base,
        threshold=threshold,
        d_int90=int(dims[reached[0]]) if reached.size else None,
        seconds=time.perf_counter() - t0,
        baseline_scores=baseline_scores,
    )
