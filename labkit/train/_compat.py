"""The keywords ``fit`` took before :class:`TrainConfig`; they go in the next release.

Delete this module (and ``**deprecated`` in ``fit``) then.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from labkit.train.callbacks import Callback, ProgressBar
from labkit.train.config import TrainConfig

__all__ = ["from_deprecated"]

_CALLBACK_KEYWORDS = {"progress": "ProgressBar(enabled=...)", "live_plot": "LiveLossPlot()"}


def from_deprecated(
    config: TrainConfig | None, callbacks: Sequence[Callback], old: dict[str, Any]
) -> tuple[TrainConfig, list[Callback]]:
    """Turn ``fit(epochs=..., progress=...)`` into a config and callbacks, with a warning."""
    callbacks = list(callbacks)
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not old:
        return config or TrainConfig(), callbacks
    known = set(TrainConfig.names()) | set(_CALLBACK_KEYWORDS)
    unknown = sorted(set(old) - known)
    if unknown:
        raise TypeError(f"fit() got an unexpected keyword argument {unknown[0]!r}")
    options = {k: v for k, v in old.items() if k not in _CALLBACK_KEYWORDS}
    if config is not None and options:
        raise TypeError(
            f"fit() got config= and the deprecated keywords {sorted(options)}; "
            "put them in the TrainConfig"
        )
    replacement = []
    if options:
        replacement.append(f"config=TrainConfig({', '.join(f'{k}=...' for k in options)})")
    extra = [_CALLBACK_KEYWORDS[k] for k in _CALLBACK_KEYWORDS if k in old]
    if extra:
        replacement.append(f"callbacks=[{', '.join(extra)}]")
    warnings.warn(
        f"fit({', '.join(f'{k}=' for k in old)}) is deprecated and goes in the next release; "
        f"pass {' and '.join(replacement)} instead (labkit.train.TrainConfig, "
        "labkit.train.ProgressBar, labkit.train.LiveLossPlot)",
        DeprecationWarning,
        stacklevel=3,
    )
    if old.get("live_plot"):
        from labkit.train.live import LiveLossPlot

        callbacks.append(LiveLossPlot())
    if old.get("progress", None) is not False:  # the old default: a bar in terminals/notebooks
        callbacks.append(ProgressBar(old.get("progress")))
    return config or TrainConfig(**options), callbacks
