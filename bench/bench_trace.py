"""Benchmark: ``rnntrace.trace`` (every intermediate recorded) against torch's own forward.

    python bench/bench_trace.py                  # table on stdout, figures in artifacts/bench_trace.json
    python bench/bench_trace.py --repeats 31 --json /tmp/bench.json

For each cell (RNN tanh, GRU, LSTM) and size it times, in one process:

- ``torch``: ``module(x)`` under ``torch.no_grad()``, module in ``eval()``, torch at its
  default thread count;
- ``torch 1t``: the same with ``torch.set_num_threads(1)``: on a shared 2-core machine it
  is the steadier figure;
- ``trace``: ``rnntrace.trace(module, x)``, input checks and the NumPy replay with every
  per-step quantity recorded in (T, N, units) arrays;
- ``trace 1t``: the same with OpenBLAS on one thread for the whole call (the loop over
  time always runs on one); ``ratio 1t`` is trace 1t / torch 1t, both on one core;
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

The scale case (``--scale``, also run by default after the sizes above): a batch, LSTM
N=32, T=1000, D=64, H=256, 2 layers, with targets trace <= 1.5x torch's forward and extra
memory <= 1.2x the bytes the trace records. It is timed side by side at one thread
(``torch.set_num_threads(1)``, OpenBLAS on one thread) and at the default threads, for
``trace`` (everything recorded) and ``trace(record=("h_t", "y_t"))``, with a head. Each
figure is reported as wall-clock and as CPU time of the process (user + system, which
includes the kernel's page faults on fresh memory): on a loaded machine the CPU time is
the steadier comparison. Memory: the peak resident set (VmHWM, reset through
/proc/self/clear_refs before each call) above the resident set before the call, against
the bytes of the arrays the Trace holds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from timing import PAUSE_S, interleaved, one_thread

import rnntrace

CELLS = {"RNN": lambda D, M: nn.RNN(D, M), "GRU": lambda D, M: nn.GRU(D, M), "LSTM": lambda D, M: nn.LSTM(D, M)}
HEADLINE = {"T": 1000, "N": 1, "D": 32, "M": 256}
SIZES = [HEADLINE, {"T": 100, "N": 1, "D": 32, "M": 64}, {"T": 1000, "N": 1, "D": 32, "M": 64}, {"T": 1000, "N": 8, "D": 32, "M": 256}]
TARGETS = {"RNN": 0.6, "GRU": 1.0, "LSTM": 1.5}  # ours/torch at the headline size


def bench_one(cell: str, T: int, N: int, D: int, M: int, repeats: int, warmup: int, rounds: int) -> dict:
    """Median milliseconds of torch, trace and trace + .steps for one configuration."""
    torch.manual_seed(0)
    module = CELLS[cell](D, M).eval()
    x = torch.randn(T, N, D)  # (T, N, D), batch_first=False

    def run_torch():
        with torch.no_grad():
            module(x)

    def run_trace():
        rnntrace.trace(module, x)

    def run_trace_steps():
        rnntrace.trace(module, x).steps  # noqa: B018 -- the access is what is timed

    runs = {
        "torch": run_torch,
        "torch 1 thread": one_thread(run_torch),
        "trace": run_trace,
        "trace 1 thread": one_thread(run_trace),
        "trace+steps": run_trace_steps,
    }
    ms, best = interleaved(runs, repeats, warmup, rounds)  # best: the least disturbed run, for a noisy machine
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
        "torch_1thread_ms": ms["torch 1 thread"],
        "trace_1thread_ms": ms["trace 1 thread"],  # OpenBLAS on one thread for the whole call (the loop always is)
        "ratio_trace_1thread": ms["trace 1 thread"] / ms["torch 1 thread"],  # both on one thread
    }


SCALE = {"T": 1000, "N": 32, "D": 64, "H": 256, "layers": 2, "K": 8}
SCALE_TARGETS = {"time_ratio": 1.5, "memory_ratio": 1.2}


def _cpu_s() -> tuple[float, float]:
    """CPU seconds of this process (all threads): (user + system, system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_stime


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _peak_extra_bytes(fn) -> int:
    """Peak resident memory during ``fn()`` above the resident memory before it (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
    except OSError:
        return -1
    before = _rss_kb("VmRSS")
    result = fn()
    extra = (_rss_kb("VmHWM") - before) * 1024
    del result
    return extra


def _held_bytes(tr) -> int:
    """Bytes of the memory blocks the Trace's arrays live in (each block once)."""
    blocks = {}
    c = tr.config
    per_layer = [tr.arrays(layer, d) for layer in range(c.num_layers) for d in range(c.num_directions)]
    arrays = [a for per in per_layer for a in per.values()] + [tr.output, tr.h_n, tr.c_n, tr.y]
    for a in arrays:
        if a is None:
            continue
        root = a
        while isinstance(root.base, np.ndarray):
            root = root.base
        blocks[id(root)] = root.nbytes
    return sum(blocks.values())


def _scale_runs(T: int | None = None) -> dict:
    """The scale case's three calls, on a seeded module, head and input (``T`` steps, default the case's)."""
    torch.manual_seed(0)
    c = SCALE
    module = nn.LSTM(c["D"], c["H"], num_layers=c["layers"]).eval()
    head = nn.Linear(c["H"], c["K"]).eval()
    x = torch.randn(T or c["T"], c["N"], c["D"])  # (T, N, D)

    def run_torch():
        with torch.no_grad():
            out, _ = module(x)
            return head(out)

    return {
        "torch": run_torch,
        "trace": lambda: rnntrace.trace(module, x, head=head),
        "trace record=(h_t, y_t)": lambda: rnntrace.trace(module, x, head=head, record=("h_t", "y_t")),
    }


def memory_child(name: str) -> dict:
    """In a fresh process: peak resident memory of one call above what was resident before it."""
    _scale_runs(T=10)[name]()  # libraries' own first-call set-up (thread pools, kernels), on a tiny input
    fn = _scale_runs()[name]
    held = []
    extra = _peak_extra_bytes(lambda: held.append(fn()))
    r = held.pop()
    recorded = _held_bytes(r) if isinstance(r, rnntrace.Trace) else int(r.numel() * r.element_size())
    return {"extra_bytes": extra, "recorded_bytes": recorded, "ratio": extra / recorded if recorded else None}


def bench_scale(repeats: int, warmup: int, rounds: int) -> dict:
    """The batch case of issue 11: time (wall and CPU) and memory of torch, trace and trace(record=...)."""
    c = SCALE
    runs = _scale_runs()
    default_threads = torch.get_num_threads()
    result = {"config": dict(c), "threads": {}}
    for label, threads in (("1 thread", 1), ("default threads", default_threads)):
        torch.set_num_threads(threads)
        wall = {name: [] for name in runs}
        cpu = {name: [] for name in runs}
        sys_ = {name: [] for name in runs}
        per_round = max(1, -(-repeats // rounds))
        try:
            with rnntrace.cells.one_blas_thread() if threads == 1 else _nothing():
                for _ in range(rounds):
                    for name, fn in runs.items():
                        time.sleep(PAUSE_S)
                        for _ in range(warmup):
                            fn()
                        for _ in range(per_round):
                            w, (u, k) = time.perf_counter(), _cpu_s()
                            fn()
                            wall[name].append((time.perf_counter() - w) * 1e3)
                            u2, k2 = _cpu_s()
                            cpu[name].append((u2 - u) * 1e3)
                            sys_[name].append((k2 - k) * 1e3)
        finally:
            torch.set_num_threads(default_threads)
        rows = {}
        for name in runs:
            rows[name] = {
                "wall_ms": statistics.median(wall[name]),
                "min_wall_ms": min(wall[name]),
                "cpu_ms": statistics.median(cpu[name]),
                "min_cpu_ms": min(cpu[name]),
                "sys_ms": statistics.median(sys_[name]),  # of cpu_ms: the kernel, mostly page faults on fresh memory
            }
        for name in runs:
            if name != "torch":
                for k in ("wall_ms", "cpu_ms", "min_wall_ms", "min_cpu_ms"):
                    rows[name][f"ratio_{k.removesuffix('_ms')}"] = rows[name][k] / rows["torch"][k]
        result["threads"][label] = {"num_threads": threads, "rows": rows}

    memory = {}
    for name in runs:  # each in a fresh process: what one call adds, not what earlier calls left behind
        child = subprocess.run([sys.executable, __file__, "--memory-child", name], capture_output=True, text=True, check=True)
        memory[name] = json.loads(child.stdout.strip().splitlines()[-1])
    result["memory"] = memory
    return result


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def print_scale(r: dict) -> None:
    c = r["config"]
    print(f"\nscale: LSTM N={c['N']}, T={c['T']}, D={c['D']}, H={c['H']}, {c['layers']} layers, head K={c['K']}")
    header = f"{'threads':<16} {'run':<24} | {'wall ms':>9} {'ratio':>6} | {'CPU ms':>9} {'ratio':>6} | {'min CPU':>9} {'ratio':>6}"
    header += f" | {'of it sys':>9}"
    print(header)
    print("-" * len(header))
    for label, t in r["threads"].items():
        for name, row in t["rows"].items():
            ratio = {k: "" if name == "torch" else f"{row['ratio_' + k]:.2f}" for k in ("wall", "cpu", "min_cpu")}
            print(
                f"{label:<16} {name:<24} | {row['wall_ms']:>9.0f} {ratio['wall']:>6} | {row['cpu_ms']:>9.0f} {ratio['cpu']:>6} | "
                f"{row['min_cpu_ms']:>9.0f} {ratio['min_cpu']:>6} | {row['sys_ms']:>9.0f}"
            )
    print(f"target: trace <= {SCALE_TARGETS['time_ratio']}x torch")
    print(f"\n{'memory':<24} | {'extra MB':>9} | {'recorded MB':>11} | {'extra / recorded':>16}")
    for name, m in r["memory"].items():
        ratio = "" if m["ratio"] is None else f"{m['ratio']:.2f}"
        print(f"{name:<24} | {m['extra_bytes'] / 1e6:>9.0f} | {m['recorded_bytes'] / 1e6:>11.0f} | {ratio:>16}")
    print(f"target: extra memory <= {SCALE_TARGETS['memory_ratio']}x the bytes recorded (torch: its output)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="artifacts/bench_trace.json", help="where to write the figures (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per figure; the median is reported (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before each block (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="blocks per figure, taken in turn (default: %(default)s)")
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    parser.add_argument("--headline-only", action="store_true", help="only T=1000, N=1, D=32, M=256 (and the scale case)")
    parser.add_argument("--scale", dest="scale", action="store_true", default=None, help="only the scale case (LSTM N=32, T=1000, H=256)")
    parser.add_argument("--no-scale", dest="scale", action="store_false", help="skip the scale case")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)  # internal: one memory measurement in a fresh process
    args = parser.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child)))
        return 0

    sizes = [] if args.scale else [HEADLINE] if args.headline_only else SIZES
    load_before = os.getloadavg()[0]
    if load_before > 0.5 * (os.cpu_count() or 1):
        print(f"warning: 1-minute load average is {load_before:.1f} on {os.cpu_count()} CPUs; other work will distort the figures\n")
    rows = []
    header = (
        f"{'cell':<5} {'T':>5} {'N':>3} {'D':>3} {'M':>4} | {'torch ms':>9} {'torch 1t':>9} | {'trace ms':>9} {'ratio':>6} | "
        f"{'trace 1t':>9} {'ratio 1t':>8} | {'+steps ms':>9} {'ratio':>6} | target"
    )
    if sizes:
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
                f"{r['trace_1thread_ms']:>9.2f} {r['ratio_trace_1thread']:>8.2f} | "
                f"{r['trace_steps_ms']:>9.2f} {r['ratio_trace_steps']:>6.2f} | {target}",
                flush=True,
            )

    scale = None
    if args.scale is not False:
        scale = bench_scale(repeats=max(3, args.repeats // 3), warmup=1, rounds=args.rounds)
        print_scale(scale)

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
    out.write_text(json.dumps({"meta": meta, "results": rows, "scale": scale}, indent=2) + "\n")
    print(f"\n1-minute load average: {load_before:.2f} before, {meta['load_average_1min_after']:.2f} after")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
