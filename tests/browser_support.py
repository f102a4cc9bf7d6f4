"""A real ``streamlit run app.py`` and Debian's headless Chromium, for tests, benchmarks and screenshots.

Plain helpers first (``StreamlitServer``, ``launch_chromium``, ``wait_idle``, ``RunClock``,
``server_rss``); ``bench/`` and ``scripts/`` import them with ``tests/`` on ``sys.path``.
The pytest fixtures at the end (``streamlit_server``, ``browser``, ``page``) are for
``tests/browser/test_browser.py``, which imports them with ``from browser_support import *``.

Skip rule: without Chromium the browser tests skip and say how to install it, unless
``RNNTRACE_REQUIRE_BROWSER=1`` (set by ``.ci/run``), which makes that a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
MISSING_CHROMIUM = "Chromium not installed: apt-get install -y chromium"

IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
EXCEPTION = "[data-testid='stException']"
SIZES = {"1600x1000": (1600, 1000), "1280x720": (1280, 720)}

__all__ = [
    "ARTIFACTS",
    "CHROMIUM_ARGS",
    "EXCEPTION",
    "IDLE",
    "MISSING_CHROMIUM",
    "REPO",
    "SCREENSHOTS",
    "SIZES",
    "STATES",
    "RunClock",
    "StreamlitServer",
    "await_idle",
    "background",
    "browser",
    "chromium_path",
    "exceptions",
    "launch_chromium",
    "luminance",
    "page",
    "server_rss",
    "slider",
    "slider_value",
    "stage_button",
    "stage_status",
    "streamlit_server",
    "take_screenshots",
    "wait_charts",
    "wait_idle",
]


# ---------------------------------------------------------------- the server
def free_port() -> int:
    """A free TCP port on the loopback interface (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """``streamlit run app.py`` on a free loopback port, in its own process group.

    ``start()`` waits until ``/_stcore/health`` answers "ok" (the first import of torch
    is slow) and raises with the tail of the server's stderr if it dies or never answers.
    ``stop()`` ends the whole process group. Also a context manager.
    """

    def __init__(
        self, app: str = "app.py", *, port: int | None = None, log: Path | None = None, timeout: float = 90.0, env: dict | None = None
    ):
        self.app = app
        self.env = None if env is None else {**os.environ, **env}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.timeout = timeout
        self.log = log or Path(tempfile.mkstemp(prefix="streamlit-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None

    def start(self) -> StreamlitServer:
        cmd = [
            sys.executable, "-m", "streamlit", "run", self.app,
            "--server.headless", "true",
            "--server.port", str(self.port),
            "--server.address", "127.0.0.1",
            "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false",
        ]  # fmt: skip
        self._log_file = open(self.log, "wb")  # noqa: SIM115 - open for the server's lifetime
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True, env=self.env)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.tail()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"streamlit did not answer {self.url}/_stcore/health within {self.timeout:.0f} s:\n{self.tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log_file.close()

    def __enter__(self) -> StreamlitServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def server_rss(pid: int) -> int:
    """Resident memory of ``pid`` and all its children, in bytes."""
    import psutil

    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total


# ---------------------------------------------------------------- the browser
def require(path: str | None, env: str, missing: str) -> str:
    """The tool at ``path``; without it the test skips, or fails where ``env``=1 (CI: the tests must run)."""
    import pytest

    if path is None:
        if os.environ.get(env) == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    return path


def chromium_path() -> str | None:
    """Debian's Chromium, or None if it is not installed."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def launch_chromium(playwright):
    """Headless Chromium through Playwright (sync or async ``playwright.chromium``)."""
    path = chromium_path()
    if path is None:
        raise RuntimeError(MISSING_CHROMIUM)
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)


_QUIET_JS = """() => {
  const app = document.querySelector("[data-testid='stApp']");
  return app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector("[data-testid='stStatusWidgetRunningIcon']")
    && !document.querySelector("[data-testid='stSkeleton']");
}"""


def wait_idle(page, timeout: float = 60.0, settle: float = 0.15) -> None:
    """Wait until the page is quiet, then ``settle`` seconds more.

    Quiet: the script has finished (stApp's script state), the status widget shows no
    running man, and no lazily loaded widget is still a skeleton (on a cold page Streamlit
    draws skeletons first and the widgets' code arrives after the run has ended).
    """
    page.wait_for_function(_QUIET_JS, timeout=timeout * 1000, polling=20)
    page.wait_for_timeout(settle * 1000)


async def await_idle(page, timeout: float = 60.0, settle: float = 0.15) -> None:
    """``wait_idle`` for Playwright's async API."""
    await page.wait_for_function(_QUIET_JS, timeout=timeout * 1000, polling=20)
    await page.wait_for_timeout(settle * 1000)


def slider(page):
    """The browser stage's t slider (an ``input[type=range]``) of the view shown."""
    return page.locator(".rnntrace-stage:visible input.slider").last


def slider_value(page) -> int:
    """The t the stage's slider shows."""
    return int(slider(page).input_value())


def stage_button(page, action: str):
    """One of the stage's buttons: "first", "prev", "next", "last" or "play"."""
    return page.locator(f".rnntrace-stage:visible button[data-action='{action}']").last


def stage_status(page) -> str:
    """The stage's status line ("t = 3 of 0..9 · |replay − torch| at t: ...")."""
    return page.locator(".rnntrace-stage:visible .status").last.inner_text()


# What sticks out of the main column at the page's width: elements, equations, charts, tables (code blocks scroll)
OVERFLOW_JS = """() => {
  const main = document.querySelector("[data-testid='stMain']");
  const bad = [];
  const limit = main.getBoundingClientRect().right + 1;
  for (const el of main.querySelectorAll("[data-testid='stElementContainer'], .katex-display, svg, table")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || el.closest("[data-testid='stCode']")) continue;
    if (r.right > limit) bad.push((el.getAttribute('data-testid') || el.tagName) + ' right=' + Math.round(r.right));
  }
  if (main.scrollWidth > main.clientWidth + 1) bad.push('main scrollWidth ' + main.scrollWidth + ' > ' + main.clientWidth);
  return bad;
}"""


def overflowing(page) -> list[str]:
    """What sticks out of the main column (``OVERFLOW_JS``): empty when the page fits its width."""
    return page.evaluate(OVERFLOW_JS)


def exceptions(page) -> list[str]:
    """Texts of every exception element on the page (should be none)."""
    return page.locator(EXCEPTION).all_inner_texts()


# Records, in the page's own clock, each keydown, each change of the script state and of a
# slider's value, and the arrival of websocket messages (the WebSocket constructor is
# wrapped when this runs as an init script, before the app opens its socket).
_CLOCK_JS = """(() => {
  if (window.__rt) return;
  const rt = window.__rt = {events: [], wsLast: 0, wsCount: 0};
  const Native = window.WebSocket;
  if (Native && !Native.__rt) {
    const Wrapped = function (...args) {
      const ws = new Native(...args);
      ws.addEventListener('message', () => { rt.wsLast = performance.now(); rt.wsCount++; });
      return ws;
    };
    Wrapped.prototype = Native.prototype;
    Object.assign(Wrapped, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3, __rt: true});
    window.WebSocket = Wrapped;
  }
  window.addEventListener('keydown', e => rt.events.push([performance.now(), 'key', e.key]), true);
  window.addEventListener('rnntrace-step', e => rt.events.push([performance.now(), 'stage', String(e.detail.t)]), true);
  const observe = () => new MutationObserver(ms => {
    const now = performance.now();
    for (const m of ms) rt.events.push([now, m.attributeName, m.target.getAttribute(m.attributeName)]);
  }).observe(document.documentElement, {
    subtree: true, attributes: true, attributeFilter: ['data-test-script-state', 'aria-valuenow', 'aria-valuetext'],
  });
  if (document.documentElement) observe(); else document.addEventListener('DOMContentLoaded', observe);
})()"""

# Milliseconds from the start (the first keydown after ``since``, else ``since``) to the end
# of the rerun it caused, null while not done. The end: the script state's return to
# notRunning; if the rerun was too quick for React to show "running" at all (both messages
# handled in one render, which a busy CPU makes likely), the last move of a slider; failing
# that, the last websocket message, once none has come for 300 ms.
_DONE_JS = """(since) => {
  const app = document.querySelector("[data-testid='stApp']");
  const quiet = app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector("[data-testid='stStatusWidgetRunningIcon']")
    && !document.querySelector("[data-testid='stSkeleton']");
  if (!quiet) return null;
  const rt = window.__rt;
  const ev = rt.events.filter(e => e[0] >= since);
  const key = ev.find(e => e[1] === 'key');
  const start = key ? key[0] : since;
  const after = ev.filter(e => e[0] >= start);
  const stage = after.filter(e => e[1] === 'stage');
  if (stage.length) {
    // the browser stage drew the step at once; Python hears the settled t ~250 ms later (one rerun):
    // done when that has come and gone too, and the time is the step's own (key -> stage drawn)
    const last = Math.max(stage[stage.length - 1][0], rt.wsLast);
    return performance.now() - last > 450 ? stage[stage.length - 1][0] - start : null;
  }
  const ran = after.filter(e => e[1] === 'data-test-script-state' && e[2] === 'notRunning');
  if (ran.length) return ran[ran.length - 1][0] - start;
  const moved = after.filter(e => e[1] === 'aria-valuenow' || e[1] === 'aria-valuetext');
  if (moved.length) return moved[moved.length - 1][0] - start;
  if (rt.wsLast > start && performance.now() - rt.wsLast > 300) return rt.wsLast - start;
  return null;
}"""

_BLUR_NOW_JS = "() => { document.activeElement && document.activeElement.blur(); return performance.now(); }"


class RunClock:
    """Times user actions to the end of the rerun they cause, in the page's own clock (ms).

    ``install()`` before the first navigation (it is also an init script, so it survives
    reloads and sees the app's websocket open; installed later, it times by the script
    state and the slider only). ``press(key)``
    presses a key on the page body (focus removed first, as Streamlit's shortcuts ignore
    keys typed into inputs) and returns the milliseconds from the keydown event to the
    end of the rerun; ``act(fn)`` runs ``fn()`` (a click, say) and returns the milliseconds
    from just before it. ``apress``/``aact``/``ainstall``: the same with the async API.
    """

    def __init__(self, page, timeout: float = 60.0):
        self.page = page
        self.timeout = timeout

    def install(self) -> None:
        self.page.add_init_script(script=_CLOCK_JS)
        self.page.evaluate("() => " + _CLOCK_JS)

    def act(self, fn) -> float:
        since = self.page.evaluate(_BLUR_NOW_JS)
        fn()
        return float(self.page.wait_for_function(_DONE_JS, arg=since, timeout=self.timeout * 1000, polling=10).json_value())

    def press(self, key: str) -> float:
        return self.act(lambda: self.page.keyboard.press(key))

    async def ainstall(self) -> None:
        await self.page.add_init_script(script=_CLOCK_JS)
        await self.page.evaluate("() => " + _CLOCK_JS)

    async def aact(self, coro_fn) -> float:
        since = await self.page.evaluate(_BLUR_NOW_JS)
        await coro_fn()
        handle = await self.page.wait_for_function(_DONE_JS, arg=since, timeout=self.timeout * 1000, polling=10)
        return float(await handle.json_value())

    async def apress(self, key: str) -> float:
        return await self.aact(lambda: self.page.keyboard.press(key))


# ---------------------------------------------------------------- screenshots
# -- the page as a user drives it ---------------------------------------------------------------


def open_app(page, server, query: str = "") -> RunClock:
    """Load the app (``query`` like "?T=20"), wait until idle, check it drew no exception."""
    clock = RunClock(page)
    clock.install()
    page.goto(f"{server.url}/{query}")
    wait_idle(page, timeout=90)
    assert not exceptions(page)
    return clock


def url_params(page) -> dict[str, str]:
    href = page.evaluate("() => location.href")  # page.url lags history.replaceState (the stage writes t there)
    return {k: v[-1] for k, v in parse_qs(urlparse(href).query).items()}


def button(page, key: str):
    """The button with widget key ``key`` (Streamlit also renders a hidden copy to measure it; role lookup skips that)."""
    return page.locator(f".st-key-{key}").get_by_role("button")


def choose(page, key: str, option: str) -> None:
    """Pick ``option`` in the selectbox with widget key ``key`` (a react-aria combobox in Streamlit 1.67)."""
    page.locator(f".st-key-{key} button[aria-label='Open']").click()
    page.get_by_role("option", name=option, exact=True).click()


def type_number(page, key: str, value: int) -> None:
    """Type ``value`` into the number_input with widget key ``key`` and commit it with Enter."""
    field = page.locator(f".st-key-{key} input")
    field.fill(str(value))
    field.press("Enter")


def main_text(page) -> str:
    """All text of the main area (header, caption, metrics, ...), not the sidebar."""
    return page.locator("[data-testid='stMain']").inner_text()


def agrees(page) -> bool:
    """The header's badge (replay vs torch, all steps) says the two agree."""
    return "= torch ✓" in main_text(page)


# Key states of the lesson, as URL queries (the app binds its state to the URL).
STATES = {"first-load": "", "over-time": "?view=Over+time", "weights": "?view=Weights", "presentation": "?present=true"}

# Every browser stage on the page has drawn its step and all of its charts (they arrive after the run ends:
# the payload is inflated and Vega embedded in the browser), and every Vega chart has its canvas or svg.
_CHARTS_DRAWN_JS = """() => {
  const stages = [...document.querySelectorAll("[data-testid='stBidiComponentRegular']")];
  const ready = stages.every((c) => {
    const s = c.querySelector('.rnntrace-stage')?.stage;
    return s && s.root.dataset.painted !== undefined && s.charts.length === s.payload.charts.length;
  });
  return ready && [...document.querySelectorAll('.vega-embed')].every(e => e.querySelector('canvas, svg'));
}"""


def wait_charts(page, timeout: float = 30.0) -> int:
    """Wait until every Vega chart on the page has drawn its canvas or svg; returns how many there are."""
    page.wait_for_function(_CHARTS_DRAWN_JS, timeout=timeout * 1000, polling=50)
    return page.locator(".vega-embed").count()


def background(page) -> tuple[int, int, int]:
    """stApp's computed background colour as (r, g, b)."""
    rgb = page.evaluate("""() => getComputedStyle(document.querySelector("[data-testid='stApp']")).backgroundColor""")
    r, g, b = (int(float(v)) for v in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
    return r, g, b


def luminance(rgb: tuple[int, int, int]) -> float:
    """Relative luminance 0 (black) .. 1 (white), as WCAG defines it."""

    def lin(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def take_screenshots(
    browser,
    base_url: str,
    out_dir: Path = SCREENSHOTS,
    *,
    schemes=("light", "dark"),
    sizes: dict[str, tuple[int, int]] = SIZES,
    states: dict[str, str] = STATES,
    full_page: bool = False,
) -> list[dict]:
    """A PNG per state x size x colour scheme in ``out_dir``, named ``{state}-{size}-{scheme}.png``.

    Returns one record per PNG: path, state, size, scheme, stApp's background colour and
    its luminance (dark mode should be dark), and any exception texts on the page.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    shots = []
    for scheme in schemes:
        first = next(iter(sizes.values()))
        context = browser.new_context(viewport={"width": first[0], "height": first[1]}, color_scheme=scheme)
        page = context.new_page()
        page.set_default_timeout(60_000)
        for state, query in states.items():
            page.goto(f"{base_url}/{query}")
            wait_idle(page, timeout=90, settle=0.5)
            for size, (w, h) in sizes.items():
                page.set_viewport_size({"width": w, "height": h})
                page.wait_for_timeout(400)  # let the layout and the charts follow the new width
                wait_charts(page)
                path = out_dir / f"{state}-{size}-{scheme}.png"
                page.screenshot(path=str(path), full_page=full_page)
                bg = background(page)
                shots.append(
                    {"path": str(path), "state": state, "size": size, "scheme": scheme, "background": bg,
                     "luminance": round(luminance(bg), 3), "exceptions": exceptions(page)}
                )  # fmt: skip
        context.close()
    return shots


# ---------------------------------------------------------------- pytest fixtures
try:
    import pytest
except ImportError:  # the helpers above work without pytest (bench/, scripts/)
    pytest = None

if pytest is not None:

    def _require_chromium() -> str:
        return require(chromium_path(), "RNNTRACE_REQUIRE_BROWSER", MISSING_CHROMIUM)

    @pytest.fixture(scope="session")
    def streamlit_server(tmp_path_factory):
        """One ``streamlit run app.py`` for the whole session; fails with its log tail if it dies."""
        _require_chromium()  # no point starting a server that no browser will visit
        log = tmp_path_factory.mktemp("streamlit") / "server.log"
        server = StreamlitServer(log=log)
        try:
            server.start()
        except RuntimeError as e:
            pytest.fail(str(e))
        yield server
        died = not server.alive()
        server.stop()
        if died:
            pytest.fail(f"streamlit died during the tests:\n{server.tail()}")

    @pytest.fixture(scope="module")  # not "session": Playwright's sync API keeps an event loop running while it is open,
    def browser():  # which would break later modules' asyncio.run() and their own sync_playwright()
        _require_chromium()
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            b = launch_chromium(p)
            yield b
            b.close()

    @pytest.fixture
    def page(browser, streamlit_server):
        """A fresh 1280x720 light-mode page; fails the test if the server has died."""
        context = browser.new_context(viewport={"width": 1280, "height": 720}, color_scheme="light")
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        yield pg
        drawn = [text for other in context.pages for text in exceptions(other)]
        context.close()
        if drawn:
            pytest.fail(f"the page drew {len(drawn)} exception(s): {drawn}")
        if not streamlit_server.alive():
            pytest.fail(f"streamlit died:\n{streamlit_server.tail()}")
