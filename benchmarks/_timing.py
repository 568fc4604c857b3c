"""Wall-clock timing shared by the benchmark scripts (CUDA work is synchronised on both ends)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``fn()`` and return its result with the seconds it took."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start
