"""Benchmark: ``rnntrace.trace`` (every intermediate recorded) against torch's own forward.

    python bench/bench_trace.py                  # table on stdout, figures in artifacts/bench_trace.json
    python bench/bench_trace.py --repeats 31 --json /tmp/bench.json

For each cell (RNN tanh, GRU, LSTM) and size it times, in one process:

- ``torch``: ``module(x)`` under ``torch.no_grad()``, module in ``eval()``, torch at its
  default thread count;
- ``torch 1t``: the same with ``torch.set_num_threads(1)``, for context only (the ratios
  use the default): on a shared 2-core machine it is the steadier figure;
- ``trace``: ``rnntrace.trace(module, x)``, input checks and the NumPy replay with every
  per-step quantity recorded in (T, N, units) arrays;
- ``trace+steps``: the same plus building the tuple of ``Step`` records (``Trace.steps``
  is built on first access, so a caller who only reads ``.quantity`` or ``.output`` never
  pays for it).

Each figure is the median of ``--repeats`` timed calls (the JSON also has the minimum),
taken in ``--rounds`` blocks of consecutive calls, each after ``--warmup`` untimed calls
and a short pause; the blocks of the four take turns, so a slow spell on a shared machine
touches them alike. Not call by call: torch's OpenMP workers and OpenBLAS's threads keep
spinning for a while after each call, and alternating calls made torch's forward 2-3x
slower. The 1-minute load average is printed and recorded: torch's two threads slow down
far more than NumPy's loop when another process competes for the cores, so figures taken
under load flatter rnntrace.

The ratio is ours / torch (lower is better). The issue's targets at the headline size
(T=1000, N=1, D=32, M=256) are RNN <= 0.6, GRU <= 1.0, LSTM <= 1.5.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
import rnntrace

CELLS = {"RNN": lambda D, M: nn.RNN(D, M), "GRU": lambda D, M: nn.GRU(D, M), "LSTM": lambda D, M: nn.LSTM(D, M)}
HEADLINE = {"T": 1000, "N": 1, "D": 32, "M": 256}
SIZES = [HEADLINE, {"T": 100, "N": 1, "D": 32, "M": 64}, {"T": 1000, "N": 1, "D": 32, "M": 64}, {"T": 1000, "N": 8, "D": 32, "M": 256}]
TARGETS = {"RNN": 0.6, "GRU": 1.0, "LSTM": 1.5}  # ours/torch at the headline size
PAUSE_S = 0.2


def _time_ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def bench_one(cell: str, T: int, N: int, D: int, M: int, repeats: int, warmup: int, rounds: int) -> dict:
    """Median milliseconds of torch, trace and trace + .steps for one configuration."""
    torch.manual_seed(0)
    module = CELLS[cell](D, M).eval()
    x = torch.randn(T, N, D)  # (T, N, D), batch_first=False

    def run_torch():
        with torch.no_grad():
            module(x)

    def run_torch_1thread():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            run_torch()
        finally:
            torch.set_num_threads(threads)

    def run_trace():
        rnntrace.trace(module, x)

    def run_trace_steps():
        rnntrace.trace(module, x).steps  # noqa: B018 -- the access is what is timed

    runs = {"torch": run_torch, "torch 1 thread": run_torch_1thread, "trace": run_trace, "trace+steps": run_trace_steps}
    times = {name: [] for name in runs}
    per_round = -(-repeats // rounds)
    for _ in range(rounds):
        for name, fn in runs.items():
            time.sleep(PAUSE_S)  # let the other library's worker threads stop spinning
            for _ in range(warmup):
                fn()
            times[name].extend(_time_ms(fn) for _ in range(per_round))
    ms = {name: statistics.median(v) for name, v in times.items()}
    best = {name: min(v) for name, v in times.items()}  # the least disturbed run, for a noisy machine
    return {
        "cell": cell,
        "T": T,
        "N": N,
        "D": D,
        "M": M,
        "headline": {"T": T, "N": N, "D": D, "M": M} == HEADLINE,
        "torch_ms": ms["torch"],
        "trace_ms": ms["trace"],
        "trace_steps_ms": ms["trace+steps"],
        "ratio_trace": ms["trace"] / ms["torch"],
        "ratio_trace_steps": ms["trace+steps"] / ms["torch"],
        "target_ratio": TARGETS[cell] if {"T": T, "N": N, "D": D, "M": M} == HEADLINE else None,
        "min_torch_ms": best["torch"],
        "min_trace_ms": best["trace"],
        "min_trace_steps_ms": best["trace+steps"],
        "torch_1thread_ms": ms["torch 1 thread"],  # context only: the ratios use torch's default threads
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="artifacts/bench_trace.json", help="where to write the figures (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per figure; the median is reported (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before each block (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="blocks per figure, taken in turn (default: %(default)s)")
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    parser.add_argument("--headline-only", action="store_true", help="only T=1000, N=1, D=32, M=256")
    args = parser.parse_args(argv)

    sizes = [HEADLINE] if args.headline_only else SIZES
    load_before = os.getloadavg()[0]
    if load_before > 0.5 * (os.cpu_count() or 1):
        print(f"warning: 1-minute load average is {load_before:.1f} on {os.cpu_count()} CPUs; other work will distort the figures\n")
    rows = []
    header = (
        f"{'cell':<5} {'T':>5} {'N':>3} {'D':>3} {'M':>4} | {'torch ms':>9} {'torch 1t':>9} | {'trace ms':>9} {'ratio':>6} | "
        f"{'+steps ms':>9} {'ratio':>6} | target"
    )
    print(header)
    print("-" * len(header))
    for size in sizes:
        for cell in args.cells:
            r = bench_one(cell, **size, repeats=args.repeats, warmup=args.warmup, rounds=args.rounds)
            rows.append(r)
            target = (
                ""
                if r["target_ratio"] is None
                else f"<= {r['target_ratio']:.1f} {'met' if r['ratio_trace'] <= r['target_ratio'] else 'MISSED'}"
            )
            print(
                f"{cell:<5} {r['T']:>5} {r['N']:>3} {r['D']:>3} {r['M']:>4} | "
                f"{r['torch_ms']:>9.2f} {r['torch_1thread_ms']:>9.2f} | {r['trace_ms']:>9.2f} {r['ratio_trace']:>6.2f} | "
                f"{r['trace_steps_ms']:>9.2f} {r['ratio_trace_steps']:>6.2f} | {target}",
                flush=True,
            )

    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "statistic": "median wall-clock milliseconds",
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
    }
    out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
