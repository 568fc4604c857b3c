"""Scaling fields to order one before training: fitted on the training set, undone on outputs.

:class:`FieldNormaliser` is ``x -> (x - shift) / scale`` with ``shift`` and ``scale`` the mean
and standard deviation of the training fields, taken per grid point (the FNO paper's
``UnitGaussianNormalizer``), per channel, or over everything. Its state is a plain dict of
tensors and builtins, so it can travel in a checkpoint's ``extra``.
"""

from __future__ import annotations

from typing import Any

import torch

from labkit._checks import check_choice, check_nonnegative

__all__ = ["FieldNormaliser"]

MODES = ("pixel", "channel", "global")


class FieldNormaliser:
    """Affine scaling ``(x - shift) / scale`` of fields ``[n, C, *grid]``, fitted on training data.

    ``scale`` is the standard deviation of the training fields plus ``eps`` (``torch.std``,
    over the samples and, as ``mode`` says, the grid and the channels) and ``shift`` their mean
    (or 0 with ``center=False``, which only rescales, so a field that vanishes on the boundary
    still does).

    Parameters
    ----------
    mode : {"pixel", "channel", "global"}
        ``"pixel"``: one mean and deviation per channel and grid point (over the samples), the
        FNO paper's ``UnitGaussianNormalizer``; tied to the training grid. ``"channel"``: one per
        channel (over samples and grid); ``"global"``: one number for everything. These two
        apply on any grid, e.g. for zero-shot super-resolution.
    center : bool
        Subtract the mean (``True``) or only divide by the deviation (``False``).
    eps : float
        Added to the deviation, so constant fields (a Dirichlet boundary) do not divide by 0.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[[1.0, 3.0]], [[3.0, 7.0]]])  # two samples, one channel, two points
    >>> norm = FieldNormaliser("pixel", eps=0.0).fit(x)
    >>> norm.shift[0].tolist(), norm.scale[0].tolist()  # per point: means 2, 5; deviations
    ([2.0, 5.0], [1.4142135381698608, 2.8284270763397217])
    >>> norm.transform(x)[:, 0]
    tensor([[-0.7071, -0.7071],
            [ 0.7071,  0.7071]])
    >>> torch.allclose(norm.inverse(norm.transform(x)), x)
    True
    >>> round(FieldNormaliser("global", center=False, eps=0.0).fit(x).transform(x).std().item(), 6)
    1.0
    >>> again = FieldNormaliser.from_state_dict(norm.state_dict())
    >>> torch.equal(again.transform(x), norm.transform(x))
    True
    """

    def __init__(self, mode: str = "pixel", center: bool = True, eps: float = 1e-5) -> None:
        self.mode = check_choice("mode", mode, MODES)
        if not isinstance(center, bool):
            raise TypeError(f"center must be a bool, got {type(center).__name__}")
        self.center = center
        self.eps = float(check_nonnegative("eps", eps))
        self.shift: torch.Tensor | None = None
        self.scale: torch.Tensor | None = None

    def __repr__(self) -> str:
        fitted = "fitted" if self.scale is not None else "not fitted"
        return (f"FieldNormaliser(mode={self.mode!r}, center={self.center}, eps={self.eps}; "
                f"{fitted})")

    def _axes(self, ndim: int) -> tuple[int, ...]:
        """Axes the statistics are taken over."""
        if self.mode == "pixel":
            return (0,)
        if self.mode == "channel":
            return (0, *range(2, ndim))
        return tuple(range(ndim))

    def fit(self, x: torch.Tensor) -> FieldNormaliser:
        """Take the mean and deviation of the training fields ``x`` ``[n, C, *grid]``."""
        _check_fields("x", x)
        if x.shape[0] < 2:
            raise ValueError(f"x must hold at least 2 samples to take a deviation, got "
                             f"{x.shape[0]}")
        data = x.detach().double()
        axes = self._axes(x.ndim)
        std = data.std(dim=axes, keepdim=True)
        mean = data.mean(dim=axes, keepdim=True)
        self.scale = (std + self.eps).squeeze(0).to(x.dtype)
        self.shift = (mean if self.center else torch.zeros_like(mean)).squeeze(0).to(x.dtype)
        return self

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.scale is None or self.shift is None:
            raise RuntimeError("this FieldNormaliser is not fitted: call fit(train_fields) first")
        _check_fields("x", x)
        if x.ndim != self.scale.ndim + 1:
            raise ValueError(f"x must have {self.scale.ndim + 1} dims [n, C, *grid] as the "
                             f"fields it was fitted on, got shape {tuple(x.shape)}")
        fitted = tuple(self.scale.shape)
        if any(f not in (1, n) for f, n in zip(fitted, x.shape[1:], strict=True)):
            raise ValueError(f"x must have fields of shape {fitted} (mode={self.mode!r} is tied "
                             f"to them; 'channel' or 'global' fit any grid), got "
                             f"{tuple(x.shape[1:])}")
        return self.shift.to(x.device, x.dtype), self.scale.to(x.device, x.dtype)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - shift) / scale``."""
        shift, scale = self._stats(x)
        return (x - shift) / scale

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """``y * scale + shift``: fields back in physical units (e.g. a model's prediction)."""
        shift, scale = self._stats(y)
        return y * scale + shift

    def state_dict(self) -> dict[str, Any]:
        """Plain data (tensors and builtins) that :meth:`from_state_dict` rebuilds it from."""
        return {"mode": self.mode, "center": self.center, "eps": self.eps,
                "shift": self.shift, "scale": self.scale}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> FieldNormaliser:
        """A normaliser with the settings and statistics of :meth:`state_dict`."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        missing = sorted({"mode", "center", "eps", "shift", "scale"} - set(state))
        if missing:
            raise ValueError(f"state must hold the keys of state_dict(); missing {missing}")
        norm = cls(state["mode"], state["center"], state["eps"])
        if (state["shift"] is None) != (state["scale"] is None):
            raise ValueError("state must hold both shift and scale, or neither (not fitted)")
        if state["scale"] is not None:
            norm.shift = torch.as_tensor(state["shift"])
            norm.scale = torch.as_tensor(state["scale"])
        return norm


def _check_fields(name: str, x: Any) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of fields [n, C, *grid], got "
                        f"{type(x).__name__}")
    if x.ndim < 2 or not x.is_floating_point():
        raise ValueError(f"{name} must be floating-point fields [n, C, *grid], got dtype "
                         f"{x.dtype} and shape {tuple(x.shape)}")
