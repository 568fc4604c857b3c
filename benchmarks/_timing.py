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


def interleaved(calls: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict, dict]:
    """Run every call ``repeats`` times, alternating; the last results and all times per name."""
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    results: dict[str, Any] = {}
    for _ in range(repeats):
        for name, call in calls.items():
            results[name], elapsed = timed(call)
            seconds[name].append(elapsed)
    return results, seconds
