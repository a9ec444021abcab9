"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

import torch


def best_rate(fn: Callable[[], int], repeats: int = 3) -> float:
    """Best items per second over ``repeats`` calls of ``fn`` (which returns its item count)."""
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        n = fn()
        best = max(best, n / (time.perf_counter() - t))
    return best


def machine() -> str:
    """A one-line description of this machine."""
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, Python {platform.python_version()}"
