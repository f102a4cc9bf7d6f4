"""Benchmark: the dashboard's speed and memory, on the server and in a real browser.

    python bench/bench_app.py --json artifacts/bench_app.json
    python bench/bench_app.py --parts a               # only (a), no Chromium needed
    python bench/bench_app.py --steps 10 --mem-sessions 30   # quicker
    python bench/bench_app.py --parts d --server-env MALLOC_ARENA_MAX=2   # memory only, an allocator setting

Four measurements, printed as a table and written as JSON:

(a) server rerun per step: ``AppTest`` runs app.py in-process; after a first run, the
    "next" button is clicked and ``.run()`` is timed (median, p95 over ``--steps`` steps,
    bouncing between t = 0 and T - 1 so that every step changes t). Configurations: the
    default lesson, T=500 & M=128, each in the Step view and the Over time view. Targets:
    <= 50 ms at the default, <= 150 ms at T=500, M=128. AppTest's own bookkeeping (turning
    the page into its element tree) is inside the figure, the websocket and browser are not.
(b) browser: ``streamlit run app.py`` and headless Chromium. First load, navigation to an
    idle page: the server's very first session (imports torch, fills the cache) and then
    fresh sessions on a warm server; and key press (ArrowRight/ArrowLeft) to idle, timed
    in the page's own clock from the keydown event to the end of the rerun. Target: single
    session key step <= 250 ms median at the default.
(c) bytes to the browser per step: websocket frames received between the key press and
    idle, summed (Playwright's ``framereceived``).
(d) server memory: RSS of a fresh streamlit process (and any children, psutil) while
    ``--mem-sessions`` sessions open and close one after another, each with a configuration of its
    own (cell, seed, T=400..600, M=128); ``run`` is an ``st.cache_resource(max_entries=E)``
    (E read from app.py), so RSS should level off after about E configurations instead of
    growing with every one. Streamlit keeps a closed tab's session for
    ``server.disconnectedSessionTTL`` (120 s) in case it reconnects; (d) sets it to
    ``--session-ttl`` (5 s) so that what stays is what the caches keep. With the default
    TTL, RSS also carries the last two minutes' closed sessions (bounded too, by the TTL).

The machine is shared: the 1-minute load average before and after is in the JSON and the
table; treat figures taken at a high load as upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the shared server/browser helpers
from browser_support import RunClock, StreamlitServer, exceptions, launch_chromium, server_rss, slider_value, wait_idle  # noqa: E402

MB = 2**20
TARGETS_MS = {"default": 50.0, "T=500,M=128": 150.0}  # (a) server rerun, median
TARGET_KEY_MS = 250.0  # (b) single session key step, median
APP_CONFIGS = {  # name -> query parameters
    "default": {},
    "default, Over time": {"view": "Over time"},
    "T=500,M=128": {"T": 500, "M": 128},
    "T=500,M=128, Over time": {"T": 500, "M": 128, "view": "Over time"},
}
BROWSER_CONFIGS = {
    "default": "",
    "default, Over time": "?view=Over+time",
    "LSTM T=200,M=64, Over time": "?cell=LSTM&T=200&M=64&view=Over+time",
}


def stats(ms: list[float]) -> dict:
    """median, p95 (nearest rank), min, max and n of a list of milliseconds."""
    s = sorted(ms)
    p95 = s[min(len(s) - 1, max(0, round(0.95 * len(s)) - 1))]
    return {"median": statistics.median(s), "p95": p95, "min": s[0], "max": s[-1], "n": len(s)}


def bounce(t: int, T: int, forward: bool) -> tuple[str, bool]:
    """Which way to step from t so that every step changes t: (direction, forward)."""
    if forward and t >= T - 1:
        forward = False
    elif not forward and t <= 0:
        forward = True
    return ("next" if forward else "prev"), forward


# ---------------------------------------------------------------- (a) AppTest
def bench_apptest(steps: int) -> dict:
    from streamlit.testing.v1 import AppTest

    out = {}
    for name, query in APP_CONFIGS.items():
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
        for k, v in query.items():
            at.query_params[k] = str(v)
        start = time.perf_counter()
        at.run()
        first = (time.perf_counter() - start) * 1e3
        assert not at.exception, [e.value for e in at.exception]
        T = int(query.get("T", 10))
        times, forward = [], True
        for _ in range(steps):
            button, forward = bounce(at.slider(key="t").value, T, forward)
            at.button(key=button).click()
            start = time.perf_counter()
            at.run()
            times.append((time.perf_counter() - start) * 1e3)
            assert not at.exception, [e.value for e in at.exception]
        out[name] = {"first_run_ms": first, "step_ms": stats(times), "query": query}
        ms = out[name]["step_ms"]
        print(f"  (a) {name:<24} step median {ms['median']:7.1f} ms  p95 {ms['p95']:7.1f} ms", flush=True)
    return out


# ---------------------------------------------------------------- (b), (c), (d) browser
class FrameCounter:
    """Bytes of websocket frames received (server -> browser) and sent, since the last reset."""

    def __init__(self, page):
        self.received = self.sent = self.frames = 0
        page.on("websocket", self._attach)

    def _attach(self, ws) -> None:
        ws.on("framereceived", self._received)
        ws.on("framesent", self._sent)

    def _received(self, payload) -> None:
        self.received += len(payload)
        self.frames += 1

    def _sent(self, payload) -> None:
        self.sent += len(payload)

    def reset(self) -> None:
        self.received = self.sent = self.frames = 0


def timed_load(page, url: str) -> float:
    """Milliseconds from navigation to an idle page (wait_idle's settle excluded)."""
    start = time.perf_counter()
    page.goto(url)
    wait_idle(page, timeout=120, settle=0)
    return (time.perf_counter() - start) * 1e3


def bench_browser(browser, server: StreamlitServer, steps: int, loads: int) -> dict:
    out = {"first_load_ms": {}, "key_step_ms": {}, "bytes_per_step": {}}
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    cold = out["first_load_ms"]["cold, the server's first session"] = timed_load(page, server.url)
    context.close()
    warm = []
    for _ in range(loads):
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        warm.append(timed_load(context.new_page(), server.url))
        context.close()
    out["first_load_ms"]["warm server, new session"] = stats(warm)
    print(f"  (b) first load: cold {cold:.0f} ms, warm median {stats(warm)['median']:.0f} ms", flush=True)

    for name, query in BROWSER_CONFIGS.items():
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        page = context.new_page()
        frames = FrameCounter(page)
        clock = RunClock(page)
        clock.install()
        page.goto(server.url + "/" + query)
        wait_idle(page, timeout=120, settle=0.3)
        found = re.search(r"T=(\d+)", query)
        T = int(found.group(1)) if found else 10
        times, received, sent, forward = [], [], [], True
        cpu0 = cpu_seconds(server.proc.pid)
        for _ in range(steps):
            button, forward = bounce(slider_value(page), T, forward)
            frames.reset()
            times.append(clock.press("ArrowRight" if button == "next" else "ArrowLeft"))
            page.wait_for_timeout(50)  # frames already on the wire are counted too
            received.append(frames.received)
            sent.append(frames.sent)
        cpu1 = cpu_seconds(server.proc.pid)
        assert not exceptions(page), exceptions(page)
        context.close()
        out["key_step_ms"][name] = stats(times)
        # where a step's CPU goes: the server's process, and the rest of the machine (Chromium, if nothing else runs)
        out.setdefault("cpu_ms_per_step", {})[name] = {
            "server": 1e3 * (cpu1["server"] - cpu0["server"]) / steps,
            "rest_of_machine": 1e3 * ((cpu1["machine"] - cpu0["machine"]) - (cpu1["server"] - cpu0["server"])) / steps,
        }
        out["bytes_per_step"][name] = {
            "received_median": statistics.median(received),
            "received_max": max(received),
            "sent_median": statistics.median(sent),
        }
        print(
            f"  (b) {name:<24} key step median {stats(times)['median']:6.0f} ms  p95 {stats(times)['p95']:6.0f} ms"
            f"  | (c) {statistics.median(received) / 1024:7.1f} KiB/step received"
            f"  | CPU/step: server {out['cpu_ms_per_step'][name]['server']:.0f} ms,"
            f" rest {out['cpu_ms_per_step'][name]['rest_of_machine']:.0f} ms",
            flush=True,
        )
    return out


def bench_play(browser, server: StreamlitServer, speeds=(2.0, 4.0), seconds: float = 8.0) -> dict:
    """Steps per second actually reached while playing at each chosen speed (default lesson, T=60)."""
    out = {}
    for speed in speeds:
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        page = context.new_page()
        page.goto(server.url + "/?T=60")
        wait_idle(page, timeout=120, settle=0.3)
        speeds = [0.5, 1.0, 2.0, 4.0, 8.0]  # controls.SPEEDS: a click on the track at the notch's share of the width
        box = page.locator(".st-key-speed").bounding_box()
        page.mouse.click(box["x"] + box["width"] * speeds.index(speed) / (len(speeds) - 1), box["y"] + box["height"] * 0.7)
        wait_idle(page)
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        page.keyboard.press(" ")  # play
        page.wait_for_timeout(1500)  # the timer starts with the full rerun that Play causes
        t0, start = slider_value(page), time.monotonic()
        page.wait_for_timeout(seconds * 1000)
        t1, elapsed = slider_value(page), time.monotonic() - start
        page.keyboard.press(" ")
        context.close()
        out[f"{speed:g}/s"] = (t1 - t0) % 60 / elapsed
        print(f"  (b) play at {speed:g} steps/s: reached {out[f'{speed:g}/s']:.2f} steps/s", flush=True)
    return out


def cpu_seconds(pid: int) -> dict:
    """CPU seconds (user + system) used so far by the server ``pid`` and by the whole machine."""
    import psutil

    t = psutil.Process(pid).cpu_times()
    m = psutil.cpu_times()
    return {"server": t.user + t.system, "machine": sum(m) - m.idle - getattr(m, "iowait", 0.0)}


def memory_configs(n: int) -> list[str]:
    """n distinct configurations (cell, seed, T), each a cache entry of its own."""
    cells = ["RNN", "GRU", "LSTM"]
    return [f"?cell={cells[i % 3]}&seed={100 + i}&T={400 + 100 * (i % 3)}&M=128" for i in range(n)]


def cache_entries() -> int:
    """How many of (d)'s traces fit the trace cache's byte budget (``LIMITS.trace_bytes``)."""
    from rnntrace.dashboard.config import LIMITS, LessonConfig

    per_trace = 4 * max(LessonConfig(cell="LSTM", T=600, M=128).recorded(), 1)  # float32, the largest of memory_configs
    return max(1, LIMITS.trace_bytes // per_trace)


def bench_memory(browser, server: StreamlitServer, sessions: int) -> dict:
    E = cache_entries()
    series = [{"session": 0, "rss_mb": server_rss(server.proc.pid) / MB}]
    for i, query in enumerate(memory_configs(sessions), start=1):
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        page = context.new_page()
        page.goto(server.url + "/" + query)
        wait_idle(page, timeout=120, settle=0)
        assert not exceptions(page), exceptions(page)
        context.close()
        series.append({"session": i, "query": query, "rss_mb": server_rss(server.proc.pid) / MB})
    time.sleep(2)
    after = server_rss(server.proc.pid) / MB
    rss = [s["rss_mb"] for s in series]
    full = min(E, sessions)  # the session after which the cache is full
    out = {
        "sessions": sessions,
        "cache_max_entries": E,
        "rss_mb_start": rss[0],
        "rss_mb_cache_full": rss[full],
        "rss_mb_peak": max(rss),
        "rss_mb_end": after,
        # MB per new configuration while the cache fills, and after it is full (should be ~0)
        "growth_mb_per_config_filling": (rss[full] - rss[1]) / max(1, full - 1),
        "growth_mb_per_config_full": (rss[-1] - rss[full]) / (sessions - full) if sessions > full else None,
        "series": series,
    }
    late = out["growth_mb_per_config_full"]
    print(
        f"  (d) RSS {out['rss_mb_start']:.0f} MB at start, {out['rss_mb_cache_full']:.0f} MB after {full} configs (cache full), "
        f"{out['rss_mb_peak']:.0f} MB peak, {after:.0f} MB after {sessions}; growth per config: "
        f"filling {out['growth_mb_per_config_filling']:.1f} MB, full {'-' if late is None else f'{late:.1f}'} MB",
        flush=True,
    )
    return out


# ---------------------------------------------------------------- report
def table(result: dict) -> str:
    rows = [("measurement", "median", "p95", "target", "")]
    for name, r in result.get("apptest", {}).items():
        target = TARGETS_MS.get(name)
        ok = "" if target is None else ("met" if r["step_ms"]["median"] <= target else "MISSED")
        rows.append((f"(a) server rerun, {name}", f"{r['step_ms']['median']:.0f} ms", f"{r['step_ms']['p95']:.0f} ms",
                     "" if target is None else f"<= {target:.0f} ms", ok))  # fmt: skip
    b = result.get("browser")
    if b:
        for name, v in b["first_load_ms"].items():
            if isinstance(v, dict):
                rows.append((f"(b) first load, {name}", f"{v['median']:.0f} ms", f"{v['p95']:.0f} ms", "", ""))
            else:
                rows.append((f"(b) first load, {name}", f"{v:.0f} ms", "", "", ""))
        for name, v in b["key_step_ms"].items():
            target = TARGET_KEY_MS if name == "default" else None
            ok = "" if target is None else ("met" if v["median"] <= target else "MISSED")
            rows.append((f"(b) key step to idle, {name}", f"{v['median']:.0f} ms", f"{v['p95']:.0f} ms",
                         "" if target is None else f"<= {target:.0f} ms", ok))  # fmt: skip
        for name, v in b.get("cpu_ms_per_step", {}).items():
            rows.append(
                (f"(b) CPU per step: server / rest of machine, {name}", f"{v['server']:.0f} ms", f"{v['rest_of_machine']:.0f} ms", "", "")
            )
        for name, v in b["bytes_per_step"].items():
            kib, top = v["received_median"] / 1024, v["received_max"] / 1024
            rows.append((f"(c) bytes to browser per step, {name}", f"{kib:.1f} KiB", f"max {top:.1f}", "", ""))
    m = result.get("memory")
    if m:
        E = m["cache_max_entries"]
        rows.append((f"(d) server RSS at start / after {E} configs (cache full)", f"{m['rss_mb_start']:.0f} MB",
                     f"{m['rss_mb_cache_full']:.0f} MB", "", ""))  # fmt: skip
        late, early = m["growth_mb_per_config_full"], max(m["growth_mb_per_config_filling"], 1e-9)
        ok = "" if late is None else ("met" if late < 0.25 * early else "GROWS")
        rows.append((f"(d) server RSS peak / after {m['sessions']} configs", f"{m['rss_mb_peak']:.0f} MB", f"{m['rss_mb_end']:.0f} MB",
                     "levels off", ok))  # fmt: skip
        rows.append(("(d) MB per new config: cache filling / full", f"{early:.1f} MB", "-" if late is None else f"{late:.1f} MB", "", ""))
    width = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, width, strict=True))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", default="artifacts/bench_app.json", help="where to write the figures (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per configuration (default: %(default)s)")
    parser.add_argument("--loads", type=int, default=5, help="warm first loads to time (default: %(default)s)")
    parser.add_argument("--mem-sessions", type=int, default=48, help="sessions, one configuration each, for (d) (default: %(default)s)")
    parser.add_argument("--parts", default="abd", help="which measurements: any of a, b (with c), d (default: %(default)s)")
    parser.add_argument(
        "--session-ttl", type=int, default=5, help="server.disconnectedSessionTTL for (d), s; 0 = Streamlit's 120 (default: %(default)s)"
    )
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE", help="environment for the server (repeatable)")
    args = parser.parse_args(argv)

    result = {
        "machine": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_avg_1min_before": os.getloadavg()[0],
        },
        "settings": vars(args),
        "statistic": "milliseconds; median and p95 (nearest rank) over the steps",
    }
    print(f"load average (1 min) before: {result['machine']['load_avg_1min_before']:.2f} on {os.cpu_count()} CPUs")
    if "a" in args.parts:
        print("(a) server rerun per step, AppTest in this process")
        result["apptest"] = bench_apptest(args.steps)
    if "b" in args.parts or "d" in args.parts:
        from playwright.sync_api import sync_playwright

        env = dict(item.split("=", 1) for item in args.server_env)
        result["machine"]["server_env"] = env
        with sync_playwright() as p:
            browser = launch_chromium(p)
            if "b" in args.parts:
                with StreamlitServer(timeout=120, env=env) as server:
                    result["machine"]["rss_mb_server_idle"] = server_rss(server.proc.pid) / MB
                    print("(b, c) browser: first load, key step, bytes per step")
                    result["browser"] = bench_browser(browser, server, args.steps, args.loads)
                    result["browser"]["play_steps_per_s"] = bench_play(browser, server)
            if "d" in args.parts:
                # A fresh server; closed sessions are dropped after --session-ttl s instead of Streamlit's 120 s,
                # so that what stays is what the caches keep (the retained sessions are reported apart).
                mem_env = env | ({"STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(args.session_ttl)} if args.session_ttl else {})
                with StreamlitServer(timeout=120, env=mem_env) as server:
                    print(
                        f"(d) server memory over {args.mem_sessions} sessions and configurations (session TTL {args.session_ttl or 120} s)"
                    )
                    result["memory"] = bench_memory(browser, server, args.mem_sessions)
                    result["memory"]["session_ttl_s"] = args.session_ttl or 120
            browser.close()
    result["machine"]["load_avg_1min_after"] = os.getloadavg()[0]

    print()
    print(table(result))
    load = result["machine"]
    print(f"\nload average (1 min): {load['load_avg_1min_before']:.2f} before, {load['load_avg_1min_after']:.2f} after")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
