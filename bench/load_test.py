"""Load test: many students on one dashboard at once, in real browser sessions.

    python bench/load_test.py --sessions 20 --steps 15 --json artifacts/load.json

Starts one ``streamlit run app.py`` on a free loopback port and one headless Chromium,
then opens ``--sessions`` browser contexts at the same moment (a class told to open the
link; ``--ramp S`` spreads the arrivals over S seconds instead), driven concurrently with
Playwright's async API. Each session:

1. loads the app with a configuration of its own (``?T=20&seed=<i>``, cycling the cell),
   so sessions miss the shared cache as a real class would;
2. presses ArrowRight ``--steps`` times, timing each key press to idle in the page's own
   clock, ``--think`` seconds apart (default 0: back to back, the worst case); halfway it
   types a new seed into the sidebar (a configuration change, timed too);
3. counts errors: exception boxes on the page, timeouts, crashes.

RSS of the server (psutil, with children) is sampled before, every half second during,
and after. Bounded: loopback only, at most ``--max-sessions`` sessions, per-action timeout
``--step-timeout`` and a hard overall ``--timeout``; on timeout the figures gathered so far
are reported. Targets on the 2-core test machine: 0 errors, p95 step latency <= 1.5 s,
bounded memory (the single-session median, <= 250 ms, is bench_app.py's job).
Chromium's rendering shares the CPUs with the server, as it would not for real students.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the shared server/browser helpers
from browser_support import EXCEPTION, RunClock, StreamlitServer, await_idle, launch_chromium, server_rss  # noqa: E402

MB = 2**20
CELLS = ("RNN", "GRU", "LSTM")
TARGET_P95_MS = 1500.0


def stats(ms: list[float]) -> dict | None:
    if not ms:
        return None
    s = sorted(ms)
    return {
        "median": statistics.median(s),
        "p95": s[min(len(s) - 1, max(0, round(0.95 * len(s)) - 1))],
        "max": s[-1],
        "n": len(s),
    }


async def student(
    i: int, browser, url: str, steps: int, step_timeout: float, load_timeout: float, record: dict, delay: float = 0, think: float = 0
) -> None:
    """One session: load, step, change the seed, step on; fills ``record`` as it goes."""
    await asyncio.sleep(delay)
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    page.set_default_timeout(step_timeout * 1000)
    stage = "load"
    try:
        clock = RunClock(page, timeout=step_timeout)
        await clock.ainstall()
        start = time.perf_counter()
        await page.goto(f"{url}/?T=20&seed={i}&cell={CELLS[i % 3]}", timeout=load_timeout * 1000)
        await await_idle(page, timeout=max(1.0, load_timeout - (time.perf_counter() - start)), settle=0)
        record["load_ms"] = (time.perf_counter() - start) * 1e3
        for s in range(steps):
            stage = f"step {s}"
            if s == steps // 2:
                stage = "seed change"
                seed = page.locator(".st-key-seed input")

                async def new_seed(seed=seed):
                    await seed.fill(str(1000 + i))
                    await seed.press("Enter")

                record["config_change_ms"] = await clock.aact(new_seed)
                stage = f"step {s}"
            await asyncio.sleep(think)  # a student reading the step before the next key press
            record["steps_ms"].append(await clock.apress("ArrowRight"))
            if await page.locator(EXCEPTION).count():
                record["errors"].append(f"step {s}: exception on page: {await page.locator(EXCEPTION).first.inner_text()}")
                break
    except Exception as err:  # a timeout or a crash is a result here, not a reason to stop the others
        record["errors"].append(f"{stage}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    finally:
        await context.close()


async def sample_rss(pid: int, samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(server_rss(pid) / MB)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.5)


def cpu_seconds(server_pid: int) -> dict:
    """CPU seconds (user + system) so far of the server's process tree and of everything else
    this process started and is still running (Playwright's driver, Chromium: a closed
    context's renderer is gone and uncounted), and of the whole machine (all cores, anyone)."""
    import psutil

    def tree(proc) -> list:
        with contextlib.suppress(psutil.Error):
            return [proc, *proc.children(recursive=True)]
        return []

    def used(procs) -> float:
        total = 0.0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                total += t.user + t.system
        return total

    server = tree(psutil.Process(server_pid))
    server_pids = {p.pid for p in server}
    others = [p for p in psutil.Process().children(recursive=True) if p.pid not in server_pids]
    machine = psutil.cpu_times()
    busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
    return {"server": used(server), "browser_alive": used(others), "machine_busy": busy, "machine_total": sum(machine)}


async def run(args, server: StreamlitServer, result: dict) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await launch_chromium(p)
        # one warm-up session first: torch's import and the first replay are not what is measured
        warm = {"steps_ms": [], "errors": []}
        await student(10_000, browser, server.url, 1, args.step_timeout, args.load_timeout, warm)
        result["warmup"] = warm
        result["rss_mb"]["before"] = server_rss(server.proc.pid) / MB
        records = result["sessions"] = [{"session": i, "steps_ms": [], "errors": []} for i in range(args.sessions)]
        samples = result["rss_mb"]["samples"]
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(server.proc.pid, samples, stop))
        start, cpu = time.perf_counter(), cpu_seconds(server.proc.pid)
        try:
            await asyncio.gather(
                *(
                    student(
                        i,
                        browser,
                        server.url,
                        args.steps,
                        args.step_timeout,
                        args.load_timeout,
                        r,
                        delay=i * args.ramp / args.sessions,
                        think=args.think,
                    )
                    for i, r in enumerate(records)
                )
            )
        finally:
            result["wall_s"] = time.perf_counter() - start
            end = cpu_seconds(server.proc.pid)
            result["cpu_s"] = {k: end[k] - cpu[k] for k in cpu}
            stop.set()
            await sampler
            await browser.close()


def summarize(result: dict) -> dict:
    sessions = result.get("sessions", [])
    steps = [ms for r in sessions for ms in r["steps_ms"]]
    rss = result["rss_mb"]
    summary = {
        "sessions": len(sessions),
        "sessions_completed": sum(1 for r in sessions if not r["errors"] and len(r["steps_ms"]) == result["settings"]["steps"]),
        "errors": sum(len(r["errors"]) for r in sessions),
        "step_ms": stats(steps),
        "load_ms": stats([r["load_ms"] for r in sessions if "load_ms" in r]),
        "config_change_ms": stats([r["config_change_ms"] for r in sessions if "config_change_ms" in r]),
        "rss_mb_before": rss.get("before"),
        "rss_mb_peak": max(rss["samples"]) if rss["samples"] else None,
        "rss_mb_after": rss.get("after"),
    }
    p95 = summary["step_ms"]["p95"] if summary["step_ms"] else float("inf")
    summary["targets"] = {"errors == 0": summary["errors"] == 0, "p95 step <= 1500 ms": p95 <= TARGET_P95_MS}
    return summary


def print_table(summary: dict, result: dict) -> None:
    def fmt(s):
        return "-" if s is None else f"{s['median']:7.0f} {s['p95']:7.0f} {s['max']:7.0f} {s['n']:5d}"

    print(f"\n{'':28} {'median':>7} {'p95':>7} {'max':>7} {'n':>5}   (ms)")
    print(f"{'key step to idle':28} {fmt(summary['step_ms'])}")
    print(f"{'first load (concurrent)':28} {fmt(summary['load_ms'])}")
    print(f"{'seed change to idle':28} {fmt(summary['config_change_ms'])}")
    print(
        f"\nsessions {summary['sessions']}, completed {summary['sessions_completed']}, errors {summary['errors']}, "
        f"wall {result.get('wall_s', float('nan')):.1f} s"
    )
    cpu = result.get("cpu_s")
    if cpu:
        busy = cpu["machine_busy"] / max(cpu["machine_total"], 1e-9)
        print(
            f"CPU during the run: server {cpu['server']:.0f} s, machine busy {cpu['machine_busy']:.0f} of {cpu['machine_total']:.0f} s"
            f" ({100 * busy:.0f}%; the rest of the busy time is Chromium and anyone else on the machine)"
        )
    before, peak, after = summary["rss_mb_before"] or 0, summary["rss_mb_peak"] or 0, summary["rss_mb_after"] or 0
    print(f"server RSS: before {before:.0f} MB, peak {peak:.0f} MB, after {after:.0f} MB")
    for name, ok in summary["targets"].items():
        print(f"target {name}: {'met' if ok else 'MISSED'}")
    for r in result.get("sessions", []):
        for e in r["errors"]:
            print(f"  session {r['session']}: {e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20, help="concurrent browser sessions (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=15, help="ArrowRight presses per session (default: %(default)s)")
    parser.add_argument("--json", default="artifacts/load.json", help="where to write the figures (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=600, help="hard limit for the whole run, seconds (default: %(default)s)")
    parser.add_argument("--step-timeout", type=float, default=60, help="limit per step, seconds (default: %(default)s)")
    parser.add_argument("--load-timeout", type=float, default=240, help="limit per first load, seconds (default: %(default)s)")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE", help="environment for the server (repeatable)")
    parser.add_argument("--think", type=float, default=0, help="pause before each key press, seconds (default: 0, back to back)")
    parser.add_argument("--ramp", type=float, default=0, help="spread the sessions' arrivals over this many seconds (default: all at once)")
    parser.add_argument("--max-sessions", type=int, default=50, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= args.max_sessions or not 1 <= args.steps <= 200:
        parser.error(f"--sessions must be 1..{args.max_sessions} and --steps 1..200")

    result = {
        "settings": {k: v for k, v in vars(args).items() if k != "max_sessions"},
        "machine": {"cpu_count": os.cpu_count(), "load_avg_1min_before": os.getloadavg()[0]},
        "rss_mb": {"samples": []},
    }
    load = result["machine"]["load_avg_1min_before"]
    print(f"{args.sessions} sessions x {args.steps} steps; load average (1 min) {load:.2f} on {os.cpu_count()} CPUs")
    timed_out = False
    env = dict(item.split("=", 1) for item in args.server_env)
    with StreamlitServer(timeout=120, env=env) as server:
        result["rss_mb"]["idle_server"] = server_rss(server.proc.pid) / MB
        try:
            asyncio.run(asyncio.wait_for(run(args, server, result), timeout=args.timeout))
        except TimeoutError:
            timed_out = True
            print(f"hard timeout after {args.timeout:.0f} s: reporting what was gathered")
        time.sleep(2)
        result["rss_mb"]["after"] = server_rss(server.proc.pid) / MB
        result["server_alive"] = server.alive()
    result["timed_out"] = timed_out
    result["machine"]["load_avg_1min_after"] = os.getloadavg()[0]
    result["summary"] = summarize(result)
    print_table(result["summary"], result)
    print(f"load average (1 min) after: {result['machine']['load_avg_1min_after']:.2f}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    ok = not timed_out and all(result["summary"]["targets"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
