"""Timing for the tests that hold a cost to its size (a linear reading, one pass): ratios of
two measurements taken in one run, never an absolute time."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


def seconds(work: Callable[[], object]) -> float:
    """The work's time without the collector's: a full collection walks every object the
    worker's earlier tests left alive, so a large input's run paid for the heap, not for its
    own size (54 times for ten times the work, in one order of the suite's files, 2 alone)."""
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        work()
        return time.perf_counter() - started
    finally:
        gc.enable()


def best_in_turn(small: Callable[[], float], large: Callable[[], float], *,
                 rounds: int = 5) -> tuple[float, float]:
    """The best of `rounds` of each measurement, taken in turn: on two cores shared with the
    suite, a stretch of contention that fell on one size's runs alone read as a cost that
    grew (37 times for ten times the work, beside the suite; 10 alone)."""
    best_small = best_large = float("inf")
    for _ in range(rounds):
        best_small, best_large = min(best_small, small()), min(best_large, large())
    return best_small, best_large
