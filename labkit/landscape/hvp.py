"""Hessian-vector products of a loss closure over a parameter dict.

Two ways to differentiate twice: forward-over-reverse (``torch.func.jvp`` of
``torch.func.grad``) and reverse-over-reverse (double backward with ``torch.autograd``, reusing
the gradient graph between products on a fixed batch). Which is faster depends on the model, so
``mode="auto"`` measures both once per closure and keeps the faster.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import torch
from torch.func import grad, jvp, vmap

from labkit._checks import check_choice, check_int

from .params import Params, check_like, flatten, unflatten

__all__ = ["HVP_MODES", "HessianOperator", "HVPModeTiming", "hvp", "hvp_batch", "select_hvp_mode"]

HVP_MODES = ("fwd-rev", "rev-rev")
_MODE_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _scalar_loss(loss_fn: Callable) -> Callable:
    def f(params):
        out = loss_fn(params)
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"loss_fn must return a scalar tensor, got {shape}")
        return out.reshape(())

    return f


def check_params(params: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Check that ``params`` is a non-empty dict of floating tensors that require grad."""
    if not isinstance(params, Mapping) or not params:
        raise TypeError(f"params must be a non-empty dict of tensors, got {type(params).__name__}")
    for name, p in params.items():
        if not isinstance(p, torch.Tensor) or not p.is_floating_point():
            raise TypeError(f"params[{name!r}] must be a floating-point tensor")
        if not bool(torch.isfinite(p.detach()).all()):
            raise ValueError(
                f"params[{name!r}] holds NaN or inf entries, so every Hessian product would be "
                "NaN; reload or re-initialise the model"
            )
        if not p.requires_grad:
            raise ValueError(
                f"params[{name!r}] does not require grad; pass only trainable parameters "
                "(loss_closure returns them with requires_grad=True)"
            )
    return dict(params)


def _parts(loss_fn):
    """``(n_samples, loss_fn)`` per batch, lazily (a loader is not held in memory at once)."""
    if hasattr(loss_fn, "parts"):
        return loss_fn.parts()
    return iter([(1, loss_fn)])


def _single_batch(loss_fn) -> bool:
    if hasattr(loss_fn, "single_batch"):
        return bool(loss_fn.single_batch)
    if hasattr(loss_fn, "loss_fn"):
        return _single_batch(loss_fn.loss_fn)
    return not hasattr(loss_fn, "parts")


class HessianOperator:
    """The Hessian of ``loss_fn`` at ``params`` as a linear operator on parameter dicts.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(params) -> scalar tensor``. A :class:`~labkit.landscape.LossClosure` over a
        loader accumulates products batch by batch (weighted by batch size).
    params : dict of tensors
        Where the Hessian is taken; tensors must require grad.
    mode : {"auto", "fwd-rev", "rev-rev"}
        How to differentiate twice; ``"auto"`` times both once (see :func:`select_hvp_mode`).

    Attributes
    ----------
    n_hvp : int
        Number of Hessian-vector products computed so far (a batch of ``m`` vectors counts
        ``m``).

    Examples
    --------
    >>> import torch
    >>> params = {"x": torch.tensor([1.0, 2.0], requires_grad=True)}
    >>> H = HessianOperator(lambda p: (p["x"] ** 3).sum(), params, mode="rev-rev")
    >>> H({"x": torch.tensor([1.0, 1.0])})["x"]
    tensor([ 6., 12.])
    """

    def __init__(self, loss_fn: Callable, params: Mapping[str, torch.Tensor], mode: str = "auto"):
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
        self.params = check_params(params)
        check_choice("mode", mode, ("auto", *HVP_MODES))
        self.loss_fn = loss_fn
        self.mode = select_hvp_mode(loss_fn, self.params).mode if mode == "auto" else mode
        self.n_hvp = 0
        self.numel = sum(p.numel() for p in self.params.values())
        self._graph = None
        self._single = _single_batch(loss_fn)

    def _reverse_graph(self, f):
        p = {k: v.detach().requires_grad_(True) for k, v in self.params.items()}
        with torch.enable_grad():
            g = torch.autograd.grad(_scalar_loss(f)(p), list(p.values()), create_graph=True)
        used = [(name, gi) for name, gi in zip(p, g, strict=True) if gi.requires_grad]
        return p, used

    def _rev_rev(self, f, v: Params, batched: bool) -> Params:
        single = self._single
        if single and self._graph is not None:
            p, used = self._graph
        else:
            p, used = self._reverse_graph(f)
            if single:
                self._graph = (p, used)
        if not used:
            return {k: torch.zeros_like(v[k]) for k in p}
        hv = torch.autograd.grad(
            [gi for _, gi in used],
            list(p.values()),
            grad_outputs=[v[name] for name, _ in used],
            retain_graph=single,
            allow_unused=True,
            materialize_grads=True,
            is_grads_batched=batched,
        )
        return {k: h.detach() for k, h in zip(p, hv, strict=True)}

    def _fwd_rev(self, f, v: Params, batched: bool) -> Params:
        p = {k: t.detach() for k, t in self.params.items()}
        g = grad(_scalar_loss(f))

        def one(u):
            return jvp(g, (p,), (u,))[1]

        return vmap(one)(v) if batched else one(v)

    def _apply(self, v: Params, batched: bool) -> Params:
        method = self._rev_rev if self.mode == "rev-rev" else self._fwd_rev
        total, count = None, 0
        for n, f in _parts(self.loss_fn):
            hv = method(f, v, batched)
            total = {k: n * t if total is None else total[k] + n * t for k, t in hv.items()}
            count += n
        out = {k: t / count for k, t in total.items()}
        self.n_hvp += next(iter(v.values())).shape[0] if batched else 1
        for name, t in out.items():
            if not bool(torch.isfinite(t).all()):
                raise ValueError(
                    f"Hessian-vector product #{self.n_hvp} is not finite in parameter {name!r}; "
                    "the loss or its curvature overflows at these parameters"
                )
        return out

    def __call__(self, v: Mapping[str, torch.Tensor]) -> Params:
        """Return ``H v`` for a dict ``v`` shaped like the parameters."""
        check_like("v", v, self.params)
        return self._apply({k: v[k] for k in self.params}, batched=False)

    def batch(self, vs: Mapping[str, torch.Tensor], chunk_size: int | None = None) -> Params:
        """Return ``H v_i`` for stacked vectors ``vs[name]`` of shape ``(m, *param.shape)``.

        The ``m`` products run vectorised (``vmap`` or batched gradients) in chunks of
        ``chunk_size`` vectors, which bounds the memory.
        """
        m = next(iter(vs.values())).shape[0]
        check_like("vs", {k: t[0] for k, t in vs.items()}, self.params)
        step = m if chunk_size is None else check_int("chunk_size", chunk_size, minimum=1)
        chunks = [
            self._chunk({k: vs[k][i : i + step] for k in self.params}) for i in range(0, m, step)
        ]
        return {k: torch.cat([c[k] for c in chunks]) for k in self.params}

    def _chunk(self, vs: Params) -> Params:
        try:
            return self._apply(vs, batched=True)
        except (RuntimeError, NotImplementedError):
            m = next(iter(vs.values())).shape[0]
            outs = [self._apply({k: t[i] for k, t in vs.items()}, batched=False) for i in range(m)]
            return {k: torch.stack([o[k] for o in outs]) for k in vs}

    def matvec(self, x: torch.Tensor) -> torch.Tensor:
        """``H x`` for a flat vector ``x``."""
        return flatten(self._apply(unflatten(x, self.params), batched=False))

    def matmat(self, X: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """``X H`` for flat row vectors ``X`` of shape ``(m, D)`` (``H`` is symmetric)."""
        vs = {
            k: t.reshape(X.shape[0], *p.shape)
            for (k, p), t in zip(
                self.params.items(),
                torch.split(X, [p.numel() for p in self.params.values()], 1),
                strict=True,
            )
        }
        out = self.batch(vs, chunk_size)
        return torch.cat([out[k].reshape(X.shape[0], -1) for k in self.params], dim=1)


def hvp(
    loss_fn: Callable[[Params], torch.Tensor],
    params: Mapping[str, torch.Tensor],
    v: Mapping[str, torch.Tensor],
    mode: str = "auto",
) -> Params:
    """Hessian-vector product ``H v`` of ``loss_fn`` at ``params``.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(params) -> scalar tensor`` (see :func:`loss_closure`).
    params : dict of tensors
        Point where the Hessian is taken; every tensor must require grad.
    v : dict of tensors
        Same names and shapes as ``params``.
    mode : {"auto", "fwd-rev", "rev-rev"}
        Forward-over-reverse, reverse-over-reverse, or the faster of the two for this closure.

    Returns
    -------
    dict of tensors
        ``H v``, shaped like ``params``.

    Examples
    --------
    >>> import torch
    >>> params = {"w": torch.tensor([1.0, -1.0], requires_grad=True)}
    >>> hvp(lambda p: (p["w"] ** 4).sum(), params, {"w": torch.ones(2)}, mode="fwd-rev")["w"]
    tensor([12., 12.])
    """
    return HessianOperator(loss_fn, params, mode)(v)


def hvp_batch(
    loss_fn: Callable[[Params], torch.Tensor],
    params: Mapping[str, torch.Tensor],
    vs: Mapping[str, torch.Tensor],
    mode: str = "auto",
    chunk_size: int | None = None,
) -> Params:
    """Hessian-vector products for several vectors at once.

    ``vs[name]`` has shape ``(m, *params[name].shape)``; the result has the same shapes.

    Examples
    --------
    >>> import torch
    >>> params = {"w": torch.tensor([1.0, 2.0], requires_grad=True)}
    >>> hvp_batch(lambda p: (p["w"] ** 2).sum(), params, {"w": torch.eye(2)}, mode="rev-rev")["w"]
    tensor([[2., 0.],
            [0., 2.]])
    """
    return HessianOperator(loss_fn, params, mode).batch(vs, chunk_size)


@dataclass
class HVPModeTiming:
    """Seconds per Hessian-vector product in each mode, and the faster mode."""

    mode: str
    seconds: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


def select_hvp_mode(
    loss_fn: Callable[[Params], torch.Tensor],
    params: Mapping[str, torch.Tensor],
    repeats: int = 1,
) -> HVPModeTiming:
    """Time both HVP modes on ``loss_fn`` and return the faster (cached per closure).

    Each mode runs one warm-up product, then ``repeats`` timed ones; the best time counts.
    A mode that fails (an operator without forward-mode AD, say) is skipped.

    Examples
    --------
    >>> import torch
    >>> params = {"w": torch.ones(3, requires_grad=True)}
    >>> select_hvp_mode(lambda p: (p["w"] ** 3).sum(), params).mode in HVP_MODES
    True
    """
    try:
        cached = _MODE_CACHE.get(loss_fn)
    except TypeError:
        cached = None
    if cached is not None:
        return cached
    params = check_params(params)
    v = {k: torch.randn_like(p) for k, p in params.items()}
    seconds, errors = {}, {}
    for mode in HVP_MODES:
        op = HessianOperator(loss_fn, params, mode)
        try:
            op(v)
            best = float("inf")
            for _ in range(check_int("repeats", repeats, minimum=1)):
                t0 = time.perf_counter()
                op(v)
                best = min(best, time.perf_counter() - t0)
            seconds[mode] = best
        except (RuntimeError, NotImplementedError) as err:
            errors[mode] = err
    if not seconds:
        raise RuntimeError(f"no Hessian-vector product mode works for this loss: {errors}")
    result = HVPModeTiming(min(seconds, key=seconds.get), seconds)
    try:
        _MODE_CACHE[loss_fn] = result
    except TypeError:
        pass
    return result
