"""Benchmark: default training of every (task, cell) in ``rnntrace.tasks``, time and loss ratio.

    python bench/bench_tasks.py                     # table on stdout, figures in artifacts/bench_tasks.json
    python bench/bench_tasks.py --repeats 5 --tasks memory --cells rnn,lstm

Each (task, cell) is trained ``--repeats`` times with the defaults (``train(task, cell=cell)``,
seed 0); the time is the median (and minimum) of ``Trained.seconds``, the wall-clock time of
``train`` (it runs torch on one thread). The repeats must give bit-identical losses (checked).

The loss ratio is ``Trained.loss_ratio``: the mean of the last 10 training losses over the
mean of the first 10. The issue's targets: <= 15 s each on a 2-core CPU, ratio <= 0.1 for sine
and memory and <= 0.6 for chars, with every cell. The 1-minute load average is printed and
recorded: on a shared machine other processes slow training down.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from rnntrace.tasks import CELLS, TASKS, train

TARGET_RATIO = {"sine": 0.1, "memory": 0.1, "chars": 0.6}
TARGET_SECONDS = 15.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--json", type=Path, default=Path(__file__).resolve().parents[1] / "artifacts" / "bench_tasks.json")
    args = parser.parse_args(argv)

    rows = []
    load_before = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {load_before:.2f}")
    print(f"{'task':7} {'cell':5} {'H':>3} {'steps':>5} {'median s':>9} {'min s':>7} {'first':>8} {'last':>8} {'ratio':>7}  ok")
    for name in args.tasks.split(","):
        for cell in args.cells.split(","):
            runs = [train(name, cell=cell) for _ in range(args.repeats)]
            first = runs[0]
            identical = all(np.array_equal(r.losses, first.losses) for r in runs)
            seconds = [r.seconds for r in runs]
            w = min(10, len(first.losses) // 2)
            row = {
                "task": name,
                "cell": cell,
                "hidden": first.hidden,
                "steps": first.steps,
                "seconds_median": statistics.median(seconds),
                "seconds_min": min(seconds),
                "seconds": seconds,
                "loss_first": float(first.losses[:w].mean()),
                "loss_last": float(first.losses[-w:].mean()),
                "loss_ratio": first.loss_ratio,
                "target_ratio": TARGET_RATIO.get(name),
                "bit_identical_repeats": identical,
            }
            row["ok"] = bool(
                identical
                and row["seconds_median"] <= TARGET_SECONDS
                and (row["target_ratio"] is None or row["loss_ratio"] <= row["target_ratio"])
            )
            rows.append(row)
            print(
                f"{name:7} {cell:5} {row['hidden']:>3} {row['steps']:>5} {row['seconds_median']:>9.2f} {row['seconds_min']:>7.2f} "
                f"{row['loss_first']:>8.4f} {row['loss_last']:>8.4f} {row['loss_ratio']:>7.3f}  {'yes' if row['ok'] else 'NO'}",
                flush=True,
            )
    load_after = os.getloadavg()[0]
    print(f"load average after: {load_after:.2f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "repeats": args.repeats,
        "target_seconds": TARGET_SECONDS,
    }
    args.json.write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    print(f"wrote {args.json}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
