"""The browser stage in Chromium at 1280x720: key press -> diagram painted, play rate, reruns, first paint.

    python bench/bench_stage.py                 # this checkout
    python bench/bench_stage.py --old ../old    # and, side by side, a checkout from before the stage (key -> idle)

What it measures, each in the page's own clock:

- key press -> painted: from the keydown event to the frame after the stage painted the new
  t (``data-painted`` set, then two animation frames), over ``--steps`` presses, on the
  default Step view and on Over time with an LSTM T=200 M=64;
- play at 10 and 30 steps/s: steps shown per second of wall time over 3 s;
- script reruns during 20 quick key steps: websocket messages from the server (0 expected);
- first paint of a new configuration on a warm server: navigation start -> stage painted.

With ``--old``, the same key presses on that checkout's app, timed to the end of the rerun
(``RunClock``: the old design reran the script per step), and the ratio old / new.
The load average is printed: these machines are shared, so read ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser_support import RunClock, StreamlitServer, launch_chromium, wait_idle

CASES = {"Step (default lesson)": "", "Over time, LSTM T=200 M=64": "?cell=LSTM&T=200&M=64&view=Over+time"}
if os.environ.get("BENCH_ONLY"):
    CASES = {k: v for k, v in CASES.items() if os.environ["BENCH_ONLY"] in k}

# resolves with the ms from the keydown to two animation frames after the stage painted the new t
PRESS_JS = """() => { window.__pending = new Promise((resolve) => {
  const stage = globalThis.__rnntraceStage.stages.filter((s) => s.root.isConnected).at(-1);
  let start = null;
  const onKey = (e) => { start = e.timeStamp; };
  window.addEventListener('keydown', onKey, {capture: true, once: true});
  const before = stage.root.dataset.painted;
  const watch = new MutationObserver(() => {
    if (stage.root.dataset.painted === before) return;
    watch.disconnect();
    requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - start)));
  });
  watch.observe(stage.root, {attributes: true, attributeFilter: ['data-painted']});
}); }"""

PLAY_JS = """(speed) => new Promise((resolve) => {
  const stage = globalThis.__rnntraceStage.stages.filter((s) => s.root.isConnected).at(-1);
  stage.act('first'); stage.setSpeed(speed);
  let shown = 0;
  const watch = new MutationObserver(() => shown++);
  watch.observe(stage.root, {attributes: true, attributeFilter: ['data-t']});
  const t0 = performance.now();
  stage.play();
  setTimeout(() => { stage.pause(); watch.disconnect(); resolve(shown / ((performance.now() - t0) / 1000)); }, 3000);
})"""

PAINTED_JS = "() => globalThis.__rnntraceStage?.stages.some((s) => s.root.isConnected && s.root.dataset.painted)"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


STAGE_JS = "() => { const s = globalThis.__rnntraceStage.stages.filter((s) => s.root.isConnected).at(-1); return [s.t, s.T]; }"


def press_times(page, steps: int) -> list[float]:
    """Key presses bouncing between the first and the last step (every press changes t), ms each."""
    times = []
    forward = True
    for _ in range(steps):
        t, T = page.evaluate(STAGE_JS)
        forward = (forward or t == 0) and t < T - 1
        key = "ArrowRight" if forward else "ArrowLeft"
        page.evaluate(PRESS_JS)  # arms the watch (not awaited: the promise waits for the key)
        page.keyboard.press(key)
        times.append(float(page.evaluate("() => window.__pending")))
        page.wait_for_timeout(30)
    return times


def open_page(browser, url: str):
    """A 1280x720 page on ``url``, idle, with the run clock installed (it counts websocket messages too)."""
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    RunClock(page).install()
    page.goto(url)
    wait_idle(page, timeout=180)
    return page


def bench_new(browser, server, steps: int) -> dict:
    out = {}
    for name, query in CASES.items():
        page = open_page(browser, server.url + "/" + query)
        page.wait_for_function(PAINTED_JS, timeout=60_000)
        press_times(page, 4)  # warm up
        times = press_times(page, steps)
        ws = page.evaluate("() => window.__rt.wsCount")
        for _ in range(20):
            page.keyboard.press("ArrowRight", delay=5)
        page.wait_for_timeout(100)
        reruns = page.evaluate("() => window.__rt.wsCount") - ws
        plays = {s: page.evaluate(PLAY_JS, s) for s in (10, 30)}
        out[name] = {"median": statistics.median(times), "p95": pct(times, 0.95), "reruns_20_steps": reruns, "play": plays}
        page.close()
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(server.url + "/?seed=11")
    wait_idle(page, timeout=180)
    page.wait_for_function(PAINTED_JS, timeout=60_000)
    firsts = []
    for seed in (12, 13, 14):
        page.goto(f"{server.url}/?seed={seed}&cell=GRU&T=50&M=16")
        page.wait_for_function(PAINTED_JS, timeout=60_000, polling=10)
        firsts.append(page.evaluate("() => performance.now()"))
    out["first paint of a new configuration (ms)"] = statistics.median(firsts)
    page.close()
    return out


def bench_old(browser, server, steps: int) -> dict:
    out = {}
    for name, query in CASES.items():
        page = open_page(browser, server.url + "/" + query)
        clock = RunClock(page)
        times, t, forward = [], 0, True
        T = 200 if "T=200" in query else 10
        for _ in range(min(steps, 20)):  # bouncing between the first and the last step, as above
            forward = (forward or t == 0) and t < T - 1
            times.append(clock.press("ArrowRight" if forward else "ArrowLeft"))
            t += 1 if forward else -1
        out[name] = {"median": statistics.median(times), "p95": pct(times, 0.95)}
        page.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--old", type=Path, help="a checkout from before the stage, to time side by side")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"load average before: {os.getloadavg()}")
    with sync_playwright() as p:
        browser = launch_chromium(p)
        with StreamlitServer() as server:
            new = bench_new(browser, server, args.steps)
        old = None
        if args.old:
            with StreamlitServer(app=str(args.old.resolve() / "app.py")) as server:
                old = bench_old(browser, server, args.steps)
        browser.close()
    for name in CASES:
        n = new[name]
        line = f"{name}: key -> painted median {n['median']:.1f} ms, p95 {n['p95']:.1f} ms"
        if old:
            o = old[name]
            line += f"; before the stage key -> idle median {o['median']:.0f} ms, p95 {o['p95']:.0f} ms ({o['median'] / n['median']:.0f}x)"
        print(line)
        play, reruns = n["play"], n["reruns_20_steps"]
        print(f"  play at 10 steps/s: {play[10]:.1f} steps/s; at 30: {play[30]:.1f}; reruns during 20 key steps: {reruns}")
    print(f"first paint of a new configuration, warm server: {new['first paint of a new configuration (ms)']:.0f} ms")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
