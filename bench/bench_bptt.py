"""Benchmark: ``rnntrace.backprop`` (BPTT in NumPy, every per-step gradient recorded) against torch's forward + backward.

    python bench/bench_bptt.py                  # table on stdout, figures in artifacts/bench_bptt.json
    python bench/bench_bptt.py --headline-only --repeats 31

For each cell (RNN tanh, GRU, LSTM) and size it times, in one process, on the same loss
``L = Σ output ⊙ grad_output`` (grad_output: ones at the last time step, ``backprop``'s default):

- ``torch``: ``module(x)`` with ``x.requires_grad_()``, then
  ``torch.autograd.grad(L, [x, *module.parameters()])``: torch's forward and backward,
  the gradients of every parameter and of x, at torch's default thread count;
- ``torch 1t``: the same with ``torch.set_num_threads(1)``: on a shared 2-core machine it
  is the steadier figure; ``vs 1t`` is backprop (default threads) / torch 1t;
- ``backprop``: ``rnntrace.backprop(module, x)``: input checks, the forward replay with
  every intermediate recorded, the step-by-step backward loop with dL/dh_t, the gate
  gradients (and dL/dc_t) recorded for every t, and every parameter's gradient plus x's
  and h0's;
- ``bp 1t``: ``backprop`` with OpenBLAS on one thread for the whole call (the loops over
  time always run on one); ``ratio 1t`` is bp 1t / torch 1t, both on one core;
- ``trace``: ``rnntrace.trace(module, x)`` alone, the forward share of ``backprop``.

Each figure is the median of ``--repeats`` timed calls (the JSON also has the minimum),
taken in ``--rounds`` blocks of consecutive calls after ``--warmup`` untimed calls and a
short pause; the blocks take turns, so a slow spell on a shared machine touches them alike
(alternating single calls slows torch through its spinning worker threads; see
bench_trace.py). The 1-minute load average is printed and recorded: under load torch's two
threads slow down far more than NumPy's loop, which flatters rnntrace.

The ratio is backprop / torch (lower is better); issue 12's target at the headline size
(T=1000, N=1, D=32, M=256) is <= 2 for every cell.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from timing import interleaved, one_thread

import rnntrace
from rnntrace.bptt import backprop

CELLS = {"RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}
HEADLINE = {"T": 1000, "N": 1, "D": 32, "M": 256}
SIZES = [HEADLINE, {"T": 100, "N": 1, "D": 32, "M": 64}, {"T": 1000, "N": 1, "D": 32, "M": 64}, {"T": 1000, "N": 8, "D": 32, "M": 256}]
TARGET = 2.0  # backprop / torch forward+backward at the headline size


def bench_one(cell: str, T: int, N: int, D: int, M: int, repeats: int, warmup: int, rounds: int) -> dict:
    """Median milliseconds of torch forward+backward, backprop and trace for one configuration."""
    torch.manual_seed(0)
    module = CELLS[cell](D, M).eval()
    x = torch.randn(T, N, D)  # (T, N, D), batch_first=False
    grad_output = torch.zeros(T, N, M)
    grad_output[-1] = 1  # backprop's default
    params = list(module.parameters())

    def run_torch():
        xr = x.detach().requires_grad_(True)
        out, _ = module(xr)
        torch.autograd.grad((out * grad_output).sum(), [xr, *params])

    def run_backprop():
        backprop(module, x)

    def run_trace():
        rnntrace.trace(module, x)

    # the same numbers as torch, or the timing means nothing
    bp = backprop(module, x)
    xr = x.detach().requires_grad_(True)
    out, _ = module(xr)
    ref = torch.autograd.grad((out * grad_output).sum(), [xr, *params])
    ref_names = ["x", *(name for name, _ in module.named_parameters())]
    max_rel = max(
        float(np.abs(bp.grads[k] - r.numpy()).max() / max(np.abs(r.numpy()).max(), 1e-30)) for k, r in zip(ref_names, ref, strict=True)
    )

    runs = {
        "torch": run_torch,
        "torch 1 thread": one_thread(run_torch),
        "backprop": run_backprop,
        "backprop 1 thread": one_thread(run_backprop),
        "trace": run_trace,
    }
    ms, best = interleaved(runs, repeats, warmup, rounds)  # best: the least disturbed run, for a noisy machine
    headline = {"T": T, "N": N, "D": D, "M": M} == HEADLINE
    return {
        "cell": cell,
        "T": T,
        "N": N,
        "D": D,
        "M": M,
        "headline": headline,
        "torch_fwd_bwd_ms": ms["torch"],
        "backprop_ms": ms["backprop"],
        "trace_ms": ms["trace"],
        "ratio": ms["backprop"] / ms["torch"],
        "ratio_vs_torch_1thread": ms["backprop"] / ms["torch 1 thread"],
        "backprop_1thread_ms": ms["backprop 1 thread"],  # OpenBLAS on one thread for the whole call
        "ratio_1thread": ms["backprop 1 thread"] / ms["torch 1 thread"],  # both on one thread
        "target_ratio": TARGET if headline else None,
        "min_torch_fwd_bwd_ms": best["torch"],
        "min_backprop_ms": best["backprop"],
        "min_trace_ms": best["trace"],
        "torch_1thread_fwd_bwd_ms": ms["torch 1 thread"],  # context only: the ratio uses torch's default threads
        "max_rel_diff_vs_autograd": max_rel,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="artifacts/bench_bptt.json", help="where to write the figures (default: %(default)s)")
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
    header = (
        f"{'cell':<5} {'T':>5} {'N':>3} {'D':>3} {'M':>4} | {'torch f+b':>9} {'torch 1t':>9} | {'backprop':>9} {'ratio':>6} "
        f"{'vs 1t':>6} | {'bp 1t':>8} {'ratio 1t':>8} | {'trace':>8} | {'rel diff':>8} | target"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for size in sizes:
        for cell in args.cells:
            r = bench_one(cell, **size, repeats=args.repeats, warmup=args.warmup, rounds=args.rounds)
            rows.append(r)
            target = (
                "" if r["target_ratio"] is None else f"<= {r['target_ratio']:.1f} {'met' if r['ratio'] <= r['target_ratio'] else 'MISSED'}"
            )
            print(
                f"{cell:<5} {r['T']:>5} {r['N']:>3} {r['D']:>3} {r['M']:>4} | "
                f"{r['torch_fwd_bwd_ms']:>9.2f} {r['torch_1thread_fwd_bwd_ms']:>9.2f} | {r['backprop_ms']:>9.2f} {r['ratio']:>6.2f} "
                f"{r['ratio_vs_torch_1thread']:>6.2f} | {r['backprop_1thread_ms']:>8.2f} {r['ratio_1thread']:>8.2f} | "
                f"{r['trace_ms']:>8.2f} | {r['max_rel_diff_vs_autograd']:>8.1e} | {target}",
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
        "loss": "sum(output * grad_output), grad_output = ones at the last time step",
        "statistic": "median wall-clock milliseconds",
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
    }
    out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    print(f"\n1-minute load average: {load_before:.2f} before, {meta['load_average_1min_after']:.2f} after")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
