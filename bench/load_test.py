"""Load test: a class on the dashboard at once, as simulated sessions (default) or real browsers.

    python bench/load_test.py                                    # 20 sessions, one process, 30 s
    python bench/load_test.py --replicas 2 --sessions 100 --interval 1 --duration 90 --ramp 20 --config-every 30
    python bench/load_test.py --capacity --link "" --interval 1             # steps/s one process serves
    python bench/load_test.py --capacity --link "?view=Over+time" --interval 2
    python bench/load_test.py --browser --sessions 20 --steps 15   # real Chromium sessions (few: they cost CPU)
    python bench/load_test.py --task-page --sessions 60            # 60 visitors opening a task page at once

**Protocol mode** (default). Each simulated session is ``bench/protocol_client.py``: the websocket
protocol the browser speaks (Streamlit's ``BackMsg``/``ForwardMsg`` protobufs), without drawing
anything, so one Python process drives a hundred sessions on a few percent of a core (its CPU is
reported). Each session opens a lesson from a link (``--link``, repeatable; sessions take them in
turn), then acts every ``--interval`` seconds (start to start; 0: back to back):

- **step** (most actions). Stepping happens in the browser: the stage (``rnntrace/dashboard/stage.py``)
  holds every step of the configuration, so a key press, play or a slider drag costs the server
  nothing and sends nothing. What reaches the server is the settled sync: when the student pauses,
  the browser sends the new t (one rerun of the stage's fragment, about 250 ms after the last
  step). So a "step" here is that sync, t + 1: a student who steps and pauses every
  ``--interval`` seconds, the most traffic stepping can cause (holding → down, or playing, sends
  one sync when it stops, not one per step).
- **config**, every ``--config-every`` actions (30: with ``--interval 1``, every 30 s; 0: never):
  a sidebar change that reruns the whole script and builds the new configuration's stage payload,
  ``--config-change seed`` (a new random seed: new weights and X, never in the trace cache) or
  ``bias`` (the toggle flipped: two configurations per link, cached after their first time).
- **view**, every ``--view-every`` actions through ``--views`` ("all": every tab; default none).

Latency is from sending the rerun request to the ``script_finished`` message. A failed action is an
error, and the session reconnects once, as a browser would.

The servers: ``--replicas 1`` starts one ``streamlit run app.py`` and talks to it directly;
``--replicas K`` (K > 1, or ``--nginx``) starts ``deploy/run_local.py``'s K replicas behind nginx;
``--url`` uses a running deployment (``--pid name=PID`` to sample its memory). RSS of every
replica is sampled every 0.5 s (psutil).

- A fixed run: ``--sessions`` arrive over ``--ramp`` s and act for ``--duration`` s. Figures count
  the actions started after the ramp plus ``--warmup-seconds``: latency percentiles (steps and
  view switches together, and apart; configuration changes apart), steps/s served, errors, RSS per
  process (once all sessions are open, at the end, drift in MB/min), memory per session. Targets:
  0 errors, p95 of steps and views <= ``--p95-target`` (500 ms), p95 of configuration changes <=
  ``--config-p95-target`` (1000 ms), memory flat.
- ``--capacity``: stages of ``--stages`` sessions (added stage by stage, each for
  ``--stage-seconds``), until a stage's p95 passes ``--p95-limit`` (300 ms) or errs. The capacity
  is the most steps/s a stage served with p95 within the limit; memory per session is the slope
  of RSS over the stages' session counts.

JSON (every action, every sample) to ``--json`` and a PNG plot beside it (latency over time,
steps/s served, RSS per process; drawn with Pillow).

**Browser mode** (``--browser``): one ``streamlit run app.py`` and one headless Chromium with
``--sessions`` contexts (at most 50), each loading ``?T=20&seed=<i>`` (cycling the cell),
pressing ArrowRight ``--steps`` times, timed in the page's own clock from keydown to idle,
``--think`` seconds apart; halfway it types a new seed. Chromium's rendering shares the CPUs with
the server (20 Chromiums take most of a 2-core machine), so read its latencies as the rig's.
Target: 0 errors, p95 <= 1.5 s.

Bounded: loopback only unless ``--url``; per-action timeout ``--step-timeout``; a hard
``--timeout`` for the whole run, after which the figures gathered so far are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the shared server/browser helpers
sys.path.insert(0, str(REPO / "deploy"))  # replicas and nginx
sys.path.insert(0, str(REPO / "bench"))
from browser_support import EXCEPTION, RunClock, await_idle, launch_chromium, server_rss  # noqa: E402
from protocol_client import ProtocolError, ProtocolSession  # noqa: E402

BROWSER_P95_MS = 1500.0

MB = 2**20
CELLS = ("RNN", "GRU", "LSTM")
# Links a class is given: the default lesson and three others (each session takes one in turn).
DEFAULT_LINKS = ("", "?cell=GRU&T=20&t=3", "?cell=LSTM&T=30&seed=1", "?cell=RNN&T=50&seed=2")


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank, as load tools report it."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def latency_stats(ms: list[float]) -> dict | None:
    if not ms:
        return None
    return {"median": statistics.median(ms), "p90": pct(ms, 0.9), "p95": pct(ms, 0.95), "p99": pct(ms, 0.99), "max": max(ms), "n": len(ms)}


def slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of ys on xs (None with fewer than 2 distinct xs)."""
    if len(set(xs)) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


# ---------------------------------------------------------------- the servers under test
class Target:
    """What the sessions talk to: one replica directly, K replicas behind nginx, or a given URL."""

    def __init__(self, args):
        self.args = args
        self.url = args.url
        self.warm_urls: list[str] = [args.url] if args.url else []  # each replica, directly if we can
        self.pids: dict[str, int] = {name: int(pid) for name, _, pid in (p.rpartition("=") for p in args.pid)}
        self.deployment = self.replica = self.run_dir = None

    def __enter__(self) -> Target:
        if self.url:
            return self
        from run_local import Deployment, Replica, healthy

        env = dict(item.split("=", 1) for item in self.args.server_env)
        if self.args.replicas > 1 or self.args.nginx:
            most = max([self.args.sessions, *getattr(self.args, "stage_list", [])])  # all from one address: lift the per-address cap
            self.deployment = Deployment(self.args.replicas, env=env, timeout=180, max_conn_per_ip=max(256, 2 * most + 16)).start()
            self.url = self.deployment.url
            self.warm_urls = [r.url for r in self.deployment.replicas]
            self.pids = self.deployment.pids()
        else:
            self.run_dir = Path(tempfile.mkdtemp(prefix="rnntrace-load-"))
            from run_local import free_port

            self.replica = Replica("app1", free_port(), self.run_dir, env=env)
            self.replica.start()
            deadline = time.monotonic() + 180
            while not healthy(self.replica.url):
                if not self.replica.alive() or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"streamlit did not start:\n{self.replica.tail()}")
                time.sleep(0.25)
            self.url = self.replica.url
            self.warm_urls = [self.url]
            self.pids = {"app1": self.replica.pid}
        return self

    def __exit__(self, *exc) -> None:
        if self.deployment is not None:
            self.deployment.stop()
        if self.replica is not None:
            self.replica.stop()
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def alive(self) -> dict[str, bool]:
        import psutil

        return {name: psutil.pid_exists(pid) for name, pid in self.pids.items()}


def rss_mb(pids: dict[str, int]) -> dict[str, float]:
    """Resident memory of each named process (and its children), MB; a dead one is left out."""
    import psutil

    out = {}
    for name, pid in pids.items():
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            total = proc.memory_info().rss
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            out[name] = total / MB
    return out


def cpu_now(pids: dict[str, int]) -> dict:
    """CPU seconds so far: each named process, this load generator, and the whole machine (busy, total)."""
    import psutil

    def used(proc) -> float:
        t = proc.cpu_times()
        return t.user + t.system

    out = {"servers": {}}
    for name, pid in pids.items():
        with contextlib.suppress(psutil.Error):
            out["servers"][name] = used(psutil.Process(pid))
    out["load_generator"] = used(psutil.Process())
    machine = psutil.cpu_times()
    out["machine_busy"] = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
    out["machine_total"] = sum(machine)
    return out


def cpu_delta(a: dict, b: dict) -> dict:
    return {
        "servers": {k: b["servers"][k] - v for k, v in a["servers"].items() if k in b["servers"]},
        **{k: b[k] - a[k] for k in ("load_generator", "machine_busy", "machine_total")},
    }


async def sample_memory(pids: dict[str, int], samples: list, clock0: float, stop: asyncio.Event, every: float = 0.5) -> None:
    while not stop.is_set():
        samples.append([round(time.perf_counter() - clock0, 2), rss_mb(pids)])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)


# ---------------------------------------------------------------- one simulated visitor
def action(k: int, args, views: list[str]) -> str:
    """The session's ``k``-th action: "config" every ``--config-every``, "view" every ``--view-every``, else "step"."""
    if args.config_every > 0 and (k + 1) % args.config_every == 0:
        return "config"
    if views and args.view_every > 0 and (k + 1) % args.view_every == 0:
        return "view"
    return "step"


async def change_config(session: ProtocolSession, how: str, rng: random.Random):
    """A student's sidebar change: a new seed (new numbers, a new trace) or the bias toggle flipped."""
    if how == "bias":
        return await session.set_widget("bias", not session.value("bias"))
    return await session.set_widget("seed", rng.randrange(1, 2**31 - 1))


async def visitor(i: int, url: str, link: str, args, rec: dict, clock0: float, stop: asyncio.Event, delay: float = 0.0) -> None:
    """Open ``link``, then step t (change the configuration, switch views) every ``args.interval`` s until ``stop``; fills ``rec``.

    ``rec["runs"]``: [start (s since clock0), ms, "step" | "config" | "view", bytes, ok] per action. Errors are
    counted, not raised: a closed socket or a timeout is followed by one reconnect, as a browser does.
    """
    await asyncio.sleep(delay)
    session = ProtocolSession(url, link, timeout=args.step_timeout)
    rec.update(link=link, started=round(time.perf_counter() - clock0, 2))

    def error(text: str) -> None:
        rec["errors"].append([round(time.perf_counter() - clock0, 3), text])

    try:
        run = await session.open()
    except ProtocolError as err:
        error(f"open: {err}")
        return
    rec.update(open_ms=round(run.ms, 1), replica=session.replica, session_id=session.session_id)
    if not run.ok:
        error(f"open: {run.exceptions + run.error_alerts}")
    views = [v for v in args.views.split(",") if v] if args.views else []
    if views == ["all"]:
        views = session.widget("view").options if "view" in session.widgets else []
    rng = random.Random(i)
    await asyncio.sleep(rng.uniform(0, args.interval))  # arrivals in one instant must not step in lockstep
    next_at = time.perf_counter()
    k = switches = 0
    while not stop.is_set() and (args.steps is None or k < args.steps):
        kind = action(k, args, views)
        start = time.perf_counter() - clock0
        try:
            if kind == "view":
                switches += 1
                run = await session.set_view(views[switches % len(views)])
            elif kind == "config":
                run = await change_config(session, args.config_change, rng)
            else:
                run = await session.step()  # the settled sync of steps taken in the browser
            rec["runs"].append([round(start, 3), round(run.ms, 1), kind, run.bytes, run.ok])
            if not run.ok:
                error(f"{kind} {k}: {(run.exceptions + run.error_alerts)[:1]} status {run.status}")
        except (ProtocolError, KeyError, ValueError, TypeError) as err:
            error(f"{kind} {k}: {type(err).__name__}: {err}")
            try:
                await session.reconnect()
                rec["reconnects"] += 1
            except ProtocolError as again:
                error(f"reconnect: {again}")
                break
        if session.replica != rec["replica"]:
            rec["replica_changes"] += 1
            rec["replica"] = session.replica
        k += 1
        next_at += args.interval
        wait = next_at - time.perf_counter()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
        else:
            next_at = time.perf_counter()  # behind schedule: carry on from now, no burst to catch up
    t = None
    with contextlib.suppress(KeyError, TypeError, ValueError):  # no stage on the page (a refused configuration, say)
        t = session.value("t")
    rec["final"] = {"query": session.query, "t": t, "view": session.view}
    await session.close()


def new_record(i: int) -> dict:
    return {"session": i, "runs": [], "errors": [], "reconnects": 0, "replica_changes": 0}


# ---------------------------------------------------------------- the runs
async def warm_up(urls: list[str], links: list[str], timeout: float) -> list[float]:
    """Open each link once on each replica (fills its trace cache, imports torch's lazy parts); ms per open."""
    out = []
    for url in urls:
        for link in links:
            s = ProtocolSession(url, link, timeout=timeout)
            run = await s.open()
            await s.step()
            await s.close()
            out.append(round(run.ms, 1))
    return out


async def run_fixed(args, target: Target, result: dict) -> None:
    """``--sessions`` visitors arriving over ``--ramp`` s, stepping for ``--duration`` s."""
    links = args.link or list(DEFAULT_LINKS)
    result["warmup_open_ms"] = await warm_up(target.warm_urls, links, args.step_timeout)
    clock0 = time.perf_counter()
    samples = result["memory"]["samples"]
    stop, stop_sampling = asyncio.Event(), asyncio.Event()
    sampler = asyncio.create_task(sample_memory(target.pids, samples, clock0, stop_sampling))
    records = result["sessions"] = [new_record(i) for i in range(args.sessions)]
    cpu0 = cpu_now(target.pids)
    tasks = [
        asyncio.create_task(visitor(i, target.url, links[i % len(links)], args, rec, clock0, stop, delay=i * args.ramp / args.sessions))
        for i, rec in enumerate(records)
    ]
    try:
        await asyncio.sleep(args.ramp + args.duration)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        result["wall_s"] = time.perf_counter() - clock0
        result["cpu_s"] = cpu_delta(cpu0, cpu_now(target.pids))
        await asyncio.sleep(2)  # memory once the sessions have closed
        stop_sampling.set()
        await sampler
    result["window"] = [args.ramp + args.warmup_seconds, args.ramp + args.duration]


TASK_PAGE_LINK = "?task=memory&cell=LSTM&view=Task"


async def run_task_page(args, target: Target, result: dict) -> None:
    """``--task-page``: ``--sessions`` visitors open a task page at once on a fresh server (no warm-up).

    The first visitor's model is trained while the others wait for it, then every visitor's Task
    page is drawn from charts built once. Reports each visitor's wait (socket open to the page's
    ``script_finished``), how many were told "busy, try again" (the warning, and its retry button),
    errors, and from the server's ``?health=1`` how many models were trained and charts built.
    """
    link = (args.link or [TASK_PAGE_LINK])[0]
    clock0 = time.perf_counter()
    samples = result["memory"]["samples"]
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(sample_memory(target.pids, samples, clock0, stop_sampling))
    cpu0 = cpu_now(target.pids)
    visits: list[dict] = []

    async def one(i: int) -> None:
        rec = {"session": i, "errors": []}
        visits.append(rec)
        session = ProtocolSession(target.url, link, timeout=args.step_timeout)
        start = time.perf_counter()
        try:
            run = await session.open()
        except ProtocolError as err:
            rec["errors"].append(f"open: {err}")
            return
        finally:
            rec["wait_s"] = round(time.perf_counter() - start, 3)
        rec["ok"] = run.ok
        rec["busy"] = "busy_retry" in session.widgets or any("try again in ~" in w for w in run.warnings)
        rec["task_page"] = "task_pred" in session.widgets  # the prediction chart: the page was drawn
        if not run.ok:
            rec["errors"].append(f"open: {(run.exceptions + run.error_alerts)[:1]}")
        await session.close()

    try:
        await asyncio.gather(*(one(i) for i in range(args.sessions)))
    finally:
        result["wall_s"] = time.perf_counter() - clock0
        result["cpu_s"] = cpu_delta(cpu0, cpu_now(target.pids))
        await asyncio.sleep(1)
        stop_sampling.set()
        await sampler
    result["visits"] = visits
    health = ProtocolSession(target.url, "?health=1", timeout=args.step_timeout)  # the server's own counts (app.py)
    page = await health.open()
    await health.close()
    result["health"] = json.loads(page.texts[-1]) if page.ok and page.texts else None


def print_task_page(result: dict, args) -> dict:
    visits = result["visits"]
    waits = [v["wait_s"] for v in visits if "wait_s" in v and not v["errors"] and not v.get("busy")]
    busy = [v["wait_s"] for v in visits if v.get("busy")]
    errors = [e for v in visits for e in v["errors"]]
    rss = [max(s[1].values()) for s in result["memory"]["samples"] if s[1]] or [0.0]
    cpu = sum(result["cpu_s"]["servers"].values())
    summary = {
        "visitors": len(visits),
        "served": len(waits),
        "busy": len(busy),
        "errors": len(errors),
        "wait_s": {"p50": pct(waits, 0.5), "p95": pct(waits, 0.95), "max": max(waits)} if waits else None,
        "busy_told_after_s": {"max": max(busy)} if busy else None,
        "drawn": sum(1 for v in visits if v.get("task_page")),
        "server_cpu_s": round(cpu, 1),
        "rss_mb": {"idle": result["memory"]["idle"], "peak": round(max(rss), 1)},
        "wall_s": round(result["wall_s"], 1),
    }
    w = summary["wait_s"]
    print(
        f"{summary['visitors']} visitors opened {args.link[0] if args.link else TASK_PAGE_LINK} at once: "
        f"{summary['served']} served, {summary['busy']} told busy, {summary['errors']} errors"
    )
    if w:
        print(f"wait to a drawn Task page: p50 {w['p50']:.1f} s, p95 {w['p95']:.1f} s, max {w['max']:.1f} s")
    if busy:
        print(f"'busy, try again' told within {max(busy):.1f} s")
    health = result.get("health") or {}
    stores = health.get("stores", {})
    if stores:  # with several replicas, the one that answered the health page
        summary["trained"] = stores["trained model"]["computed"]
        summary["charts_built"] = stores["time chart"]["computed"]
        print(
            f"the model trained {summary['trained']} time(s) for all; {summary['charts_built']} chart(s) built for all; "
            f"{summary['drawn']} Task pages drawn; lane averages {health['lane']['expected_s']}"
        )
    print(f"server CPU {summary['server_cpu_s']} s in all (the training included), peak RSS {summary['rss_mb']['peak']} MB")
    print(f"wall {summary['wall_s']} s")
    for e in errors[:5]:
        print("  error:", e)
    return summary


async def run_capacity(args, target: Target, result: dict) -> None:
    """Stages of ``--stages`` sessions, each for ``--stage-seconds`` s, until p95 passes ``--p95-limit``."""
    links = args.link or [""]
    result["warmup_open_ms"] = await warm_up(target.warm_urls, links, args.step_timeout)
    clock0 = time.perf_counter()
    samples = result["memory"]["samples"]
    stop, stop_sampling = asyncio.Event(), asyncio.Event()
    sampler = asyncio.create_task(sample_memory(target.pids, samples, clock0, stop_sampling))
    records, tasks, stages = result.setdefault("sessions", []), [], result.setdefault("stages", [])
    cpu0 = cpu_now(target.pids)
    misses = 0
    try:
        for n in args.stage_list:
            begin = time.perf_counter() - clock0
            for i in range(len(records), n):
                records.append(new_record(i))
                tasks.append(asyncio.create_task(visitor(i, target.url, links[i % len(links)], args, records[i], clock0, stop)))
            settle = min(args.stage_seconds / 3, 6.0)  # the new sessions' page loads are not steps
            await asyncio.sleep(settle)
            cpu_a = cpu_now(target.pids)
            await asyncio.sleep(args.stage_seconds - settle)
            cpu = cpu_delta(cpu_a, cpu_now(target.pids))
            stage = summarize_window(records, (begin + settle, time.perf_counter() - clock0), samples)
            steps = (stage["latency_ms"] or {}).get("n", 0)
            stage.update(
                sessions=n,
                offered_steps_per_s=round(n / args.interval, 2) if args.interval else None,
                cpu_s=cpu,
                server_cpu_ms_per_step=round(1e3 * sum(cpu["servers"].values()) / steps, 1) if steps else None,
                machine_busy=round(cpu["machine_busy"] / max(cpu["machine_total"], 1e-9), 3),
            )
            stages.append(stage)
            print_stage(stage)
            missed = stage["errors"] or stage["latency_ms"] is None or stage["latency_ms"]["p95"] > args.p95_limit
            misses = misses + 1 if missed else 0
            if misses >= args.patience:  # a neighbour's burst may spoil one stage; two in a row is the server
                break
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        result["wall_s"] = time.perf_counter() - clock0
        result["cpu_s"] = cpu_delta(cpu0, cpu_now(target.pids))
        await asyncio.sleep(2)
        stop_sampling.set()
        await sampler


def summarize_window(records: list[dict], window: tuple[float, float], samples: list) -> dict:
    """Latency, throughput and errors of the actions started inside ``window`` (seconds since the start).

    ``latency_ms`` and ``steps_per_s`` count steps and view switches; configuration changes are ``config_ms``.
    """
    lo, hi = window
    runs = [r for rec in records for r in rec["runs"] if lo <= r[0] < hi]
    ok = [r for r in runs if r[4] and r[2] != "config"]
    errors = sum(1 for rec in records for when, _ in rec["errors"] if lo <= when < hi)
    mem = [s[1] for s in samples if lo <= s[0] < hi]
    return {
        "window_s": [round(lo, 1), round(hi, 1)],
        "latency_ms": latency_stats([r[1] for r in ok]),
        "config_ms": latency_stats([r[1] for r in runs if r[4] and r[2] == "config"]),
        "steps_per_s": round(len(ok) / (hi - lo), 2) if hi > lo else None,
        "errors": errors,
        "rss_mb_end": {k: round(v, 1) for k, v in mem[-1].items()} if mem else {},
    }


def print_stage(stage: dict) -> None:
    lat = stage["latency_ms"] or {}
    rss = sum(stage["rss_mb_end"].values())
    median, p95 = lat.get("median", float("nan")), lat.get("p95", float("nan"))
    print(
        f"  {stage['sessions']:4d} sessions: {stage['steps_per_s'] or 0:6.1f} steps/s served, median {median:6.0f} ms,"
        f" p95 {p95:6.0f} ms, errors {stage['errors']}, RSS {rss:6.0f} MB, server CPU {stage['server_cpu_ms_per_step']} ms/step,"
        f" machine busy {100 * stage['machine_busy']:.0f}%",
        flush=True,
    )


def target_names(result: dict) -> list[str]:
    return sorted(result.get("target", {}).get("pids", {})) or ["app1"]


def summarize_protocol(result: dict, args) -> dict:
    sessions = result.get("sessions", [])
    samples = result["memory"]["samples"]
    names = sorted({k for _, m in samples for k in m})
    summary: dict = {"sessions": len(sessions), "errors": sum(len(r["errors"]) for r in sessions)}
    summary["opened"] = sum(1 for r in sessions if "open_ms" in r)
    summary["open_ms"] = latency_stats([r["open_ms"] for r in sessions if "open_ms" in r])
    summary["reconnects"] = sum(r["reconnects"] for r in sessions)
    summary["replica_changes"] = sum(r["replica_changes"] for r in sessions)
    summary["sessions_per_replica"] = dict(collections.Counter(str(r.get("replica")) for r in sessions if "open_ms" in r))
    if args.capacity:
        stages = result.get("stages", [])
        good = [s for s in stages if s["latency_ms"] and s["latency_ms"]["p95"] <= args.p95_limit and not s["errors"]]
        best = max(good, key=lambda s: s["steps_per_s"], default=None)
        summary["capacity_steps_per_s"] = best["steps_per_s"] if best else 0.0
        summary["capacity_sessions"] = best["sessions"] if best else 0
        summary["p95_limit_ms"] = args.p95_limit
        xs = [s["sessions"] for s in stages if s["rss_mb_end"]]
        ys = [sum(s["rss_mb_end"].values()) for s in stages if s["rss_mb_end"]]
        summary["mb_per_session"] = round(slope(xs, ys), 2) if slope(xs, ys) is not None else None
        per_step = [s["server_cpu_ms_per_step"] for s in stages if s["server_cpu_ms_per_step"]]
        summary["server_cpu_ms_per_step"] = statistics.median(per_step) if per_step else None
        # what one process could serve with a core to itself: its CPU per step, not the neighbours' share
        summary["cpu_bound_steps_per_s"] = (
            round(1e3 * len(target_names(result)) / summary["server_cpu_ms_per_step"], 1) if per_step else None
        )
        summary["targets"] = {f"p95 <= {args.p95_limit:.0f} ms at some stage": best is not None}
        return summary
    lo, hi = result["window"]
    window = summarize_window(sessions, (lo, hi), samples)
    summary.update(window, errors=summary["errors"], errors_in_window=window["errors"])
    summary["step_ms"] = latency_stats([r[1] for rec in sessions for r in rec["runs"] if r[4] and r[2] == "step" and lo <= r[0] < hi])
    summary["view_ms"] = latency_stats([r[1] for rec in sessions for r in rec["runs"] if r[4] and r[2] == "view" and lo <= r[0] < hi])
    summary["bytes_per_action"] = (
        statistics.median([r[3] for rec in sessions for r in rec["runs"]]) if any(rec["runs"] for rec in sessions) else None
    )
    summary["bytes_median"] = {
        kind: statistics.median(sizes)
        for kind in ("step", "view", "config")
        if (sizes := [r[3] for rec in sessions for r in rec["runs"] if r[2] == kind and lo <= r[0] < hi])
    }
    # Memory: before the visitors, once all of them have opened (end of the ramp + warm-up), at the end.
    before = samples[0][1] if samples else {}
    memory = {}
    for name in names:
        series = [(t, m[name]) for t, m in samples if name in m]
        steady = [(t, v) for t, v in series if lo <= t < hi]
        entry = {"before": round(before.get(name, float("nan")), 1), "peak": round(max(v for _, v in series), 1)}
        if steady:
            entry["steady_start"] = round(steady[0][1], 1)
            entry["steady_end"] = round(steady[-1][1], 1)
            drift = slope([t for t, _ in steady], [v for _, v in steady])
            entry["drift_mb_per_min"] = round(60 * drift, 1) if drift is not None else None
        memory[name] = entry
    summary["memory_mb"] = memory
    cpu = result.get("cpu_s")
    actions = sum(len(rec["runs"]) for rec in sessions) + summary["opened"]
    summary["server_cpu_ms_per_action"] = round(1e3 * sum(cpu["servers"].values()) / actions, 1) if cpu and actions else None
    opened = summary["opened"] or 1
    grown = sum(m.get("steady_start", m["before"]) - m["before"] for m in memory.values())
    summary["mb_per_session"] = round(grown / opened, 2)
    p95 = window["latency_ms"]["p95"] if window["latency_ms"] else float("inf")
    summary["targets"] = {
        "errors == 0": summary["errors"] == 0,
        f"p95 <= {args.p95_target:.0f} ms": p95 <= args.p95_target,
        "memory flat after warm-up (|drift| <= 20 MB/min per process)": all(
            abs(m.get("drift_mb_per_min") or 0) <= 20 for m in memory.values()
        ),
    }
    if args.config_every > 0:
        config_p95 = window["config_ms"]["p95"] if window["config_ms"] else float("inf")
        summary["targets"][f"config p95 <= {args.config_p95_target:.0f} ms"] = config_p95 <= args.config_p95_target
    return summary


def print_protocol(summary: dict, result: dict, args) -> None:
    if args.capacity:
        print(
            f"\ncapacity at p95 <= {args.p95_limit:.0f} ms: {summary['capacity_steps_per_s']} steps/s "
            f"({summary['capacity_sessions']} sessions at a step every {args.interval:g} s); "
            f"memory per session (slope over stages): {summary['mb_per_session']} MB"
        )
        print(
            f"server CPU per step (median over stages): {summary['server_cpu_ms_per_step']} ms, "
            f"i.e. at most {summary['cpu_bound_steps_per_s']} steps/s with a core per process"
        )
    else:

        def fmt(s):
            return "-" if s is None else f"{s['median']:7.0f} {s['p95']:7.0f} {s['p99']:7.0f} {s['max']:7.0f} {s['n']:6d}"

        print(f"\n{'':24} {'median':>7} {'p95':>7} {'p99':>7} {'max':>7} {'n':>6}   (ms)")
        print(f"{'step or view':24} {fmt(summary['latency_ms'])}")
        print(f"{'  step t (settled sync)':24} {fmt(summary['step_ms'])}")
        print(f"{'  view switch':24} {fmt(summary['view_ms'])}")
        print(f"{'configuration change':24} {fmt(summary['config_ms'])}")
        print(f"{'page open (link)':24} {fmt(summary['open_ms'])}")
        sizes = ", ".join(f"{kind} {b / 1e3:.1f} kB" for kind, b in summary["bytes_median"].items())
        print(f"\nbytes received per action (median): {sizes}")
        print(
            f"\nsessions {summary['sessions']} (opened {summary['opened']}), per replica {summary['sessions_per_replica']}, "
            f"errors {summary['errors']}, reconnects {summary['reconnects']}; served {summary['steps_per_s']} steps/s "
            f"in the window {summary['window_s']} s"
        )
        for name, m in summary["memory_mb"].items():
            print(
                f"RSS {name}: before {m['before']:.0f} MB, once all opened {m.get('steady_start', float('nan')):.0f}, "
                f"end {m.get('steady_end', float('nan')):.0f}, peak {m['peak']:.0f}; drift {m.get('drift_mb_per_min')} MB/min"
            )
        cpu_ms = summary["server_cpu_ms_per_action"]
        print(f"memory per session: {summary['mb_per_session']} MB; server CPU per action (page opens included): {cpu_ms} ms")
    cpu = result.get("cpu_s")
    if cpu:
        busy = cpu["machine_busy"] / max(cpu["machine_total"], 1e-9)
        servers = ", ".join(f"{k} {v:.0f} s" for k, v in cpu["servers"].items())
        print(
            f"CPU: servers {servers}; load generator {cpu['load_generator']:.0f} s; machine busy {100 * busy:.0f}% "
            f"over {result['wall_s']:.0f} s"
        )
    for name, ok in summary["targets"].items():
        print(f"target {name}: {'met' if ok else 'MISSED'}")
    shown = 0
    for r in result.get("sessions", []):
        for when, text in r["errors"]:
            if shown < 20:
                print(f"  session {r['session']} at {when:.1f} s: {text}")
            shown += 1
    if shown > 20:
        print(f"  ... {shown - 20} more errors in the JSON")


# ---------------------------------------------------------------- the plot
PALETTE = [(31, 95, 191), (214, 96, 39), (44, 160, 44), (148, 103, 189), (140, 86, 75)]


def plot_png(
    path: Path, panels: list[dict], x_range: tuple[float, float] | None = None, width: int = 1100, panel_height: int = 300
) -> None:
    """Line/dot panels over one x axis, drawn with Pillow (Streamlit's own dependency; no plotting library needed).

    A panel: {"title", "ylabel", "series": [{"name", "x", "y", "style": "dot" | "line"}], "vlines": [x, ...]}.
    """
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=13)
    img = Image.new("RGB", (width, panel_height * len(panels)), "white")
    draw = ImageDraw.Draw(img)
    left, right, top, bottom = 70, 20, 30, 40
    for p, panel in enumerate(panels):
        y0 = p * panel_height
        xs = list(x_range or ()) or [x for s in panel["series"] for x in s["x"]] or [0, 1]
        ys = [y for s in panel["series"] for y in s["y"]] or [0, 1]
        x_lo, x_hi = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
        y_lo, y_hi = 0.0, max(ys) * 1.05 if max(ys) > 0 else 1.0

        def px(x, y, x_lo=x_lo, x_hi=x_hi, y_lo=y_lo, y_hi=y_hi, y0=y0):
            return (
                left + (x - x_lo) / (x_hi - x_lo) * (width - left - right),
                y0 + top + (1 - (y - y_lo) / (y_hi - y_lo)) * (panel_height - top - bottom),
            )

        draw.text((left, y0 + 8), panel["title"], fill="black", font=font)
        draw.rectangle([left, y0 + top, width - right, y0 + panel_height - bottom], outline=(180, 180, 180))
        for k in range(5):
            yv = y_lo + k * (y_hi - y_lo) / 4
            _, yp = px(x_lo, yv)
            draw.line([left, yp, width - right, yp], fill=(235, 235, 235))
            draw.text((5, yp - 7), f"{yv:.3g}", fill="black", font=font)
            xv = x_lo + k * (x_hi - x_lo) / 4
            xp, _ = px(xv, y_lo)
            draw.text((xp - 10, y0 + panel_height - bottom + 5), f"{xv:.0f}", fill="black", font=font)
        draw.text((left, y0 + panel_height - 18), panel.get("xlabel", "seconds since start"), fill="black", font=font)
        draw.text((width - right - 200, y0 + 8), panel.get("ylabel", ""), fill="black", font=font)
        for xv in panel.get("vlines", []):
            xp, _ = px(xv, y_lo)
            draw.line([xp, y0 + top, xp, y0 + panel_height - bottom], fill=(200, 200, 200))
        for k, s in enumerate(panel["series"]):
            color = PALETTE[k % len(PALETTE)]
            points = [px(x, y) for x, y in zip(s["x"], s["y"], strict=True)]
            if s.get("style") == "line" and len(points) > 1:
                draw.line(points, fill=color, width=2)
            else:
                for xp, yp in points:
                    draw.ellipse([xp - 1.5, yp - 1.5, xp + 1.5, yp + 1.5], fill=color)
            draw.text((left + 10 + 160 * k, y0 + top + 5), s["name"], fill=color, font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def plot_protocol(path: Path, result: dict, args) -> None:
    runs = [r for rec in result.get("sessions", []) for r in rec["runs"]]
    samples = result["memory"]["samples"]
    names = sorted({k for _, m in samples for k in m})
    ok = [r for r in runs if r[4]]
    buckets: dict[int, list[float]] = collections.defaultdict(list)
    for r in ok:
        buckets[int(r[0] // 5)].append(r[1])
    p95_x = [5 * b + 2.5 for b in sorted(buckets)]
    p95_y = [pct(buckets[b], 0.95) for b in sorted(buckets)]
    latency = {
        "title": "latency per action (dots), p95 per 5 s (line)",
        "ylabel": "ms",
        "series": [
            {"name": "step/view", "x": [r[0] for r in ok if r[2] != "config"], "y": [r[1] for r in ok if r[2] != "config"], "style": "dot"},
            {"name": "p95", "x": p95_x, "y": p95_y, "style": "line"},
            {"name": "config", "x": [r[0] for r in ok if r[2] == "config"], "y": [r[1] for r in ok if r[2] == "config"], "style": "dot"},
        ],
    }
    memory = {
        "title": "server RSS per process",
        "ylabel": "MB",
        "series": [
            {"name": n, "x": [t for t, m in samples if n in m], "y": [m[n] for t, m in samples if n in m], "style": "line"} for n in names
        ],
    }
    served = {
        "title": "steps served per second (1 s bins)",
        "ylabel": "steps/s",
        "series": [
            {
                "name": "served",
                "x": sorted(collections.Counter(int(r[0]) for r in ok)),
                "y": [c for _, c in sorted(collections.Counter(int(r[0]) for r in ok).items())],
                "style": "line",
            }
        ],
    }
    if args.capacity:
        stages = result.get("stages", [])
        for panel in (latency, memory, served):
            panel["vlines"] = [s["window_s"][0] for s in stages]
    end = max([result.get("wall_s") or 1.0, *(t for t, _ in samples)])
    plot_png(path, [latency, served, memory], x_range=(0.0, end))


# ---------------------------------------------------------------- browser mode
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


def browser_cpu_seconds(server_pid: int) -> dict:
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


async def run_browser(args, server, result: dict) -> None:
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
        start, cpu = time.perf_counter(), browser_cpu_seconds(server.proc.pid)
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
            end = browser_cpu_seconds(server.proc.pid)
            result["cpu_s"] = {k: end[k] - cpu[k] for k in cpu}
            stop.set()
            await sampler
            await browser.close()


def summarize_browser(result: dict) -> dict:
    sessions = result.get("sessions", [])
    steps = [ms for r in sessions for ms in r["steps_ms"]]
    rss = result["rss_mb"]
    summary = {
        "sessions": len(sessions),
        "sessions_completed": sum(1 for r in sessions if not r["errors"] and len(r["steps_ms"]) == result["settings"]["steps"]),
        "errors": sum(len(r["errors"]) for r in sessions),
        "step_ms": latency_stats(steps),
        "load_ms": latency_stats([r["load_ms"] for r in sessions if "load_ms" in r]),
        "config_change_ms": latency_stats([r["config_change_ms"] for r in sessions if "config_change_ms" in r]),
        "rss_mb_before": rss.get("before"),
        "rss_mb_peak": max(rss["samples"]) if rss["samples"] else None,
        "rss_mb_after": rss.get("after"),
    }
    p95 = summary["step_ms"]["p95"] if summary["step_ms"] else float("inf")
    summary["targets"] = {"errors == 0": summary["errors"] == 0, "p95 step <= 1500 ms": p95 <= BROWSER_P95_MS}
    return summary


def print_browser(summary: dict, result: dict) -> None:
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
    parser.add_argument("--browser", action="store_true", help="real Chromium sessions instead of protocol sessions")
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions (default: %(default)s)")
    parser.add_argument("--json", help="output JSON (default: artifacts/load_protocol.json; --browser: artifacts/load.json)")
    parser.add_argument("--timeout", type=float, default=900, help="hard limit for the whole run, seconds (default: %(default)s)")
    parser.add_argument("--step-timeout", type=float, default=60, help="limit per action, seconds (default: %(default)s)")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE", help="environment for the servers (repeatable)")
    parser.add_argument("--ramp", type=float, default=0, help="spread the sessions' arrivals over this many seconds (default: at once)")
    protocol = parser.add_argument_group("protocol mode")
    protocol.add_argument("--replicas", type=int, default=1, help="app processes; more than 1 puts nginx in front (default: %(default)s)")
    protocol.add_argument("--nginx", action="store_true", help="nginx in front even of one replica")
    protocol.add_argument("--url", help="a running deployment to load instead of starting one")
    protocol.add_argument("--pid", action="append", default=[], metavar="NAME=PID", help="with --url: a server process to sample")
    protocol.add_argument("--link", action="append", metavar="QUERY", help="a lesson link's query, e.g. '?cell=GRU&T=20' (repeatable)")
    protocol.add_argument("--interval", type=float, default=1.0, help="seconds from one action's start to the next (default: %(default)s)")
    protocol.add_argument("--duration", type=float, default=30, help="seconds of stepping after the ramp (default: %(default)s)")
    protocol.add_argument("--warmup-seconds", type=float, default=5, help="seconds after the ramp not counted (default: %(default)s)")
    protocol.add_argument("--views", default="", help="tabs to cycle through, comma-separated, or 'all' (default: stay on the link's)")
    protocol.add_argument("--view-every", type=int, default=5, help="every Nth action switches the view (default: %(default)s)")
    protocol.add_argument(
        "--config-every", type=int, default=30, help="every Nth action changes the configuration, 0: never (default: %(default)s)"
    )
    protocol.add_argument(
        "--config-change",
        choices=("seed", "bias"),
        default="seed",
        help="what a configuration change does: a new random seed or the bias toggle flipped (default: %(default)s)",
    )
    protocol.add_argument("--p95-target", type=float, default=500, help="fixed run's p95 of steps and views, ms (default: %(default)s)")
    protocol.add_argument(
        "--config-p95-target", type=float, default=1000, help="fixed run's p95 of configuration changes, ms (default: %(default)s)"
    )
    protocol.add_argument("--capacity", action="store_true", help="ramp sessions in stages until p95 passes --p95-limit")
    protocol.add_argument(
        "--task-page",
        action="store_true",
        help=f"--sessions visitors open a task page at once on a fresh server (--link, default {TASK_PAGE_LINK}): the wait, 'busy', CPU",
    )
    protocol.add_argument("--stages", default="1,2,4,6,8,10,12,14,16,20,24,28,32,40", help="sessions per stage (default: %(default)s)")
    protocol.add_argument("--stage-seconds", type=float, default=20, help="seconds per stage (default: %(default)s)")
    protocol.add_argument("--p95-limit", type=float, default=300, help="capacity: the p95 a stage must keep, ms (default: %(default)s)")
    protocol.add_argument(
        "--patience", type=int, default=2, help="capacity: stop after this many stages in a row miss (default: %(default)s)"
    )
    browser = parser.add_argument_group("browser mode")
    browser.add_argument("--steps", type=int, help="actions per session (browser default: 15; protocol: until --duration ends)")
    browser.add_argument("--think", type=float, default=0, help="pause before each key press, seconds (default: 0, back to back)")
    browser.add_argument("--load-timeout", type=float, default=240, help="limit per first load, seconds (default: %(default)s)")
    parser.add_argument("--max-sessions", type=int, default=500, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.browser:
        return main_browser(parser, args)
    if not 1 <= args.sessions <= args.max_sessions:
        parser.error(f"--sessions must be 1..{args.max_sessions}")
    args.stage_list = sorted({int(n) for n in args.stages.split(",") if n.strip()})
    if args.capacity and (not args.stage_list or args.stage_list[0] < 1 or args.stage_list[-1] > args.max_sessions):
        parser.error(f"--stages must be session counts within 1..{args.max_sessions}")
    if args.url and not args.url.startswith("http://"):
        parser.error("--url must be an http:// address (the client speaks plain HTTP and ws)")
    out = Path(args.json or "artifacts/load_protocol.json")
    result = {
        "mode": "capacity" if args.capacity else "fixed",
        "settings": {k: v for k, v in vars(args).items() if k != "max_sessions"},
        "machine": {"cpu_count": os.cpu_count(), "load_avg_1min_before": os.getloadavg()[0]},
        "memory": {"samples": []},
    }
    what = f"capacity stages {args.stage_list}" if args.capacity else f"{args.sessions} sessions for {args.duration:g} s"
    what = f"{args.sessions} visitors opening a task page at once" if args.task_page else what
    print(
        f"{what}, an action every {args.interval:g} s each"
        + (f" (a configuration change every {args.config_every} actions: {args.config_change})" if args.config_every > 0 else "")
        + f", links {args.link or list(DEFAULT_LINKS)}; "
        f"load average (1 min) {result['machine']['load_avg_1min_before']:.2f} on {os.cpu_count()} CPUs",
        flush=True,
    )
    timed_out = False
    with Target(args) as target:
        result["target"] = {"url": target.url, "pids": target.pids, "nginx": target.deployment is not None}
        result["memory"]["idle"] = rss_mb(target.pids)
        runner = run_task_page if args.task_page else run_capacity if args.capacity else run_fixed
        try:
            asyncio.run(asyncio.wait_for(runner(args, target, result), timeout=args.timeout))
        except TimeoutError:
            timed_out = True
            print(f"hard timeout after {args.timeout:.0f} s: reporting what was gathered")
        result["servers_alive"] = target.alive()
    result["timed_out"] = timed_out
    result["machine"]["load_avg_1min_after"] = os.getloadavg()[0]
    if args.task_page:
        result["summary"] = print_task_page(result, args)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
        print(f"wrote {out}")
        return 0 if not timed_out and result["summary"]["errors"] == 0 else 1
    if not args.capacity and "window" not in result:
        result["window"] = [0, float("inf")]
    result["summary"] = summarize_protocol(result, args)
    print_protocol(result["summary"], result, args)
    print(f"load average (1 min) after: {result['machine']['load_avg_1min_after']:.2f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    png = out.with_suffix(".png")
    plot_protocol(png, result, args)
    print(f"wrote {out} and {png}")
    return 0 if not timed_out and all(result["summary"]["targets"].values()) else 1


def main_browser(parser, args) -> int:
    from browser_support import StreamlitServer

    args.steps = 15 if args.steps is None else args.steps
    if not 1 <= args.sessions <= 50 or not 1 <= args.steps <= 200:
        parser.error("--browser: --sessions must be 1..50 and --steps 1..200")
    result = {
        "settings": {k: v for k, v in vars(args).items() if k != "max_sessions"},
        "machine": {"cpu_count": os.cpu_count(), "load_avg_1min_before": os.getloadavg()[0]},
        "rss_mb": {"samples": []},
    }
    load = result["machine"]["load_avg_1min_before"]
    print(f"{args.sessions} browser sessions x {args.steps} steps; load average (1 min) {load:.2f} on {os.cpu_count()} CPUs")
    timed_out = False
    env = dict(item.split("=", 1) for item in args.server_env)
    with StreamlitServer(timeout=120, env=env) as server:
        result["rss_mb"]["idle_server"] = server_rss(server.proc.pid) / MB
        try:
            asyncio.run(asyncio.wait_for(run_browser(args, server, result), timeout=args.timeout))
        except TimeoutError:
            timed_out = True
            print(f"hard timeout after {args.timeout:.0f} s: reporting what was gathered")
        time.sleep(2)
        result["rss_mb"]["after"] = server_rss(server.proc.pid) / MB
        result["server_alive"] = server.alive()
    result["timed_out"] = timed_out
    result["machine"]["load_avg_1min_after"] = os.getloadavg()[0]
    result["summary"] = summarize_browser(result)
    print_browser(result["summary"], result)
    print(f"load average (1 min) after: {result['machine']['load_avg_1min_after']:.2f}")
    out = Path(args.json or "artifacts/load.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    ok = not timed_out and all(result["summary"]["targets"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
