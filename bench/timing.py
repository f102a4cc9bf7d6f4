"""Side-by-side timing for the benchmarks: interleaved rounds, medians and minima, one thread on demand.

Each contender runs in every round, after a pause that lets the other library's worker threads
stop spinning, so that a noisy shared machine disturbs all of them alike; the ratios of the
medians are what the benchmarks report (never an absolute time asserted in a test).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from rnntrace.cells import one_blas_thread

PAUSE_S = 0.2


def time_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def one_thread(fn: Callable[[], object]) -> Callable[[], None]:
    """``fn`` run on one thread: torch's and OpenBLAS's (NumPy's) both limited to one, then restored."""

    def run() -> None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with one_blas_thread():
                fn()
        finally:
            torch.set_num_threads(threads)

    return run


def interleaved(runs: dict[str, Callable[[], object]], repeats: int, warmup: int, rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """-> (median ms, least ms) per contender, from ``repeats`` timed runs each spread over ``rounds`` rounds."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    per_round = -(-repeats // rounds)
    for _ in range(rounds):
        for name, fn in runs.items():
            time.sleep(PAUSE_S)  # let the other library's worker threads stop spinning
            for _ in range(warmup):
                fn()
            times[name].extend(time_ms(fn) for _ in range(per_round))
    return {name: statistics.median(v) for name, v in times.items()}, {name: min(v) for name, v in times.items()}
