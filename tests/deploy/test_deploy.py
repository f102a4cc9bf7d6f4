"""The scale-out path: K app processes behind Debian's nginx (deploy/), driven by simulated sessions.

Fast: the nginx configuration renders and ``nginx -t`` accepts it; compose's copy is current; the
CSP admits exactly the installed Streamlit page's inline script; the Dockerfile installs
requirements.txt's torch pin; the protocol client's URL and widget-key helpers.

Slow (one deployment of 2 replicas + nginx for the module): security headers and the blocked
endpoints; the route cookie pins a visitor to a replica; a real Chromium page through nginx
breaks no CSP rule; and 40 simulated sessions (``bench/protocol_client.py``) for about a minute:
no errors, each on one replica, both replicas serving, a replica killed mid-run loses only its own
sessions, which reconnect to the other replica and come back to the same t and view from their URL.

Skip rule: without nginx these tests skip and say how to install it, unless
``RNNTRACE_REQUIRE_NGINX=1`` (set by ``.ci/run``), which makes that a failure.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import hashlib
import random
import re
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
sys.path.insert(0, str(ROOT / "bench"))
from browser_support import MISSING_CHROMIUM, chromium_path, exceptions, launch_chromium, require, wait_charts, wait_idle  # noqa: E402
from protocol_client import ProtocolError, ProtocolSession, user_key, with_param  # noqa: E402
from run_local import (  # noqa: E402
    COMPOSE_CONF,
    MISSING_NGINX,
    Deployment,
    app_scripts,
    compose_conf,
    content_security_policy,
    nginx_path,
    page_scripts,
    render_nginx_conf,
    script_hash,
)

SECURITY_HEADERS = ("X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy")


def _require_nginx() -> str:
    return require(nginx_path(), "RNNTRACE_REQUIRE_NGINX", MISSING_NGINX)


# ---------------------------------------------------------------- fast: the configuration
def test_rendered_config_passes_nginx_t(tmp_path):
    nginx = _require_nginx()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        render_nginx_conf(
            [("app1", "127.0.0.1:18501"), ("app2", "127.0.0.1:18502")],
            listen="127.0.0.1:18080",
            run_dir=str(tmp_path),
            error_log=str(tmp_path / "error.log"),
            access_log=str(tmp_path / "access.log"),
            csp=content_security_policy([]),
        )
    )
    import subprocess

    check = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


def test_rendered_config_has_what_the_demo_needs():
    text = render_nginx_conf(
        [("app1", "127.0.0.1:1"), ("app2", "127.0.0.1:2")],
        listen="8080",
        run_dir="/r",
        error_log="e",
        access_log="a",
        csp=content_security_policy([]),
    )
    assert "hash $rnntrace_route consistent;" in text  # sticky by cookie, not by client address (a class shares one NAT)
    assert not re.search(r"^\s*ip_hash", text, flags=re.M)
    assert re.search(r"location = /_stcore/stream \{[^}]*proxy_set_header Upgrade \$http_upgrade;", text)
    assert re.search(r"location = /_stcore/metrics \{\s*return 404;", text)
    for header in SECURITY_HEADERS:
        assert re.search(rf'add_header {header} "[^"]+" always;', text), header
    assert "frame-ancestors 'none'" in text
    assert text.count("max_fails=1") == 2


def test_render_refuses_bad_upstreams():
    with pytest.raises(ValueError, match="host:port"):
        render_nginx_conf([("app1", "localhost")], listen="80", run_dir="/r", error_log="e", access_log="a", csp="")
    with pytest.raises(ValueError, match="at least one"):
        render_nginx_conf([], listen="80", run_dir="/r", error_log="e", access_log="a", csp="")


def test_compose_config_is_current():
    assert COMPOSE_CONF.read_text() == compose_conf(), (
        "regenerate: python deploy/run_local.py --print-compose-conf > deploy/nginx.compose.conf"
    )


def test_csp_admits_exactly_the_inline_scripts_of_the_page_and_the_app():
    page = page_scripts()
    assert page, "Streamlit's index.html has no inline script any more: nothing to hash for it"
    app = app_scripts()  # the app's first page, under AppTest
    script_src = next(d for d in content_security_policy().split("; ") if d.startswith("script-src"))
    assert script_src.split()[1:] == [
        "'self'",
        "blob:",  # components v2 import the component's module (the stage, the Vega bundle) from a Blob URL
        *dict.fromkeys(script_hash(s) for s in [*page, *app]),
    ]  # no 'unsafe-inline' or 'unsafe-eval'
    assert script_hash("window.x = 1") == "'sha256-" + base64.b64encode(hashlib.sha256(b"window.x = 1").digest()).decode() + "'"


def test_dockerfile_installs_the_pinned_cpu_torch():
    docker = (ROOT / "deploy" / "Dockerfile").read_text()
    pins = (ROOT / "requirements.txt").read_text()
    assert docker.startswith("FROM python:3.11-slim")
    assert "download.pytorch.org/whl/cpu" in docker
    assert "grep '^torch==' requirements.txt" in docker  # the pin comes from requirements.txt, not a second copy
    assert "torch==2.13.0" in pins.splitlines()
    compose = (ROOT / "deploy" / "docker-compose.yml").read_text()
    assert "nginx.compose.conf:/etc/nginx/nginx.conf:ro" in compose
    for name, addr in (("app1", "172.28.0.11"), ("app2", "172.28.0.12")):
        assert re.search(rf"{name}:\n(?:\s+.*\n)*?\s+ipv4_address: {re.escape(addr)}", compose), name


# ---------------------------------------------------------------- fast: the client's helpers
def test_user_key_is_the_ids_suffix():
    assert user_key("$$ID-94a0132a32401a0ba7c08aaba6a19460-t") == "t"
    assert user_key("$$ID-abc-x_edit-open") == "x_edit-open"
    assert user_key("$$ID-abc-None") is None
    assert user_key("") is None


def test_with_param_sets_one_parameter_in_place():
    assert with_param("?cell=GRU&t=3&T=20", "t", "4") == "cell=GRU&t=4&T=20"
    assert with_param("cell=GRU", "view", "Over time") == "cell=GRU&view=Over+time"
    assert with_param("", "t", "0") == "t=0"


# ---------------------------------------------------------------- slow: a real deployment
@pytest.fixture(scope="module")
def deployment():
    _require_nginx()
    try:
        d = Deployment(2, timeout=180).start()
    except RuntimeError as err:
        pytest.fail(str(err))
    yield d
    for r in d.replicas:  # shown by pytest only when a test failed
        print(f"---- {r.name} log (tail)\n{r.tail(60)}")
    print(f"---- nginx\n{d.nginx_log()}")
    d.stop()


def _get(url: str, cookie: str | None = None) -> tuple[int, dict, str]:
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), ""


def _route_cookie(headers) -> str:
    return next(c.split(";")[0] for c in headers.get_all("Set-Cookie") if c.startswith("rnntrace_route="))


@pytest.mark.slow
def test_headers_and_blocked_endpoints(deployment):
    status, headers, _ = _get(f"{deployment.url}/")
    assert status == 200
    for header in SECURITY_HEADERS:
        assert header in headers, header
    assert headers["X-Frame-Options"] == "DENY"
    for path in ("/_stcore/metrics", "/_stcore/agent/openapi.json"):
        status, headers, _ = _get(deployment.url + path)
        assert status == 404, path
        assert "Content-Security-Policy" in headers  # errors carry the headers too
    # inside, a replica's own port still serves its metrics to the operator
    assert _get(deployment.replicas[0].url + "/_stcore/metrics")[0] == 200


@pytest.mark.slow
def test_route_cookie_pins_a_visitor_and_both_replicas_take_visitors(deployment):
    seen = set()
    for _ in range(24):
        req = urllib.request.Request(f"{deployment.url}/_stcore/health")
        with urllib.request.urlopen(req, timeout=30) as r:
            first = r.headers["X-Rnntrace-Replica"]
            cookie = _route_cookie(r.headers)
        seen.add(first)
        for _ in range(3):  # the same visitor again: the same replica
            assert _get(f"{deployment.url}/_stcore/health", cookie)[1]["X-Rnntrace-Replica"] == first
    assert seen == {"app1", "app2"}


@pytest.mark.slow
def test_browser_page_through_nginx_breaks_no_csp_rule(deployment):
    require(chromium_path(), "RNNTRACE_REQUIRE_BROWSER", MISSING_CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        console = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        page.goto(f"{deployment.url}/?view=Over+time&t=2")
        wait_idle(page, timeout=90, settle=0.5)
        charts = wait_charts(page)
        drawn = exceptions(page)
        page.keyboard.press("ArrowRight")
        # the rerun's answer comes back over the websocket through nginx: wait for it (the assertion below says what came)
        with contextlib.suppress(Exception):
            page.wait_for_function("() => new URLSearchParams(location.search).get('t') === '3'", timeout=60_000)
        url = page.evaluate("() => location.href")  # page.url can lag behind history.replaceState
        browser.close()
    assert not [c for c in console if "Content Security Policy" in c or c.startswith("pageerror")], console
    assert charts >= 1 and not drawn, console
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["t"] == ["3"]  # the websocket works through nginx


# The class: links with their own lesson each; cheap views so that the test measures the path, not the CPU.
LINKS = ("?cell=GRU&T=20&t=3", "?cell=LSTM&T=30&seed=1", "", "?cell=RNN&T=50&seed=2&view=Shapes")
VIEWS = ("Step", "Shapes")
SESSIONS, INTERVAL = 40, 2.0
OPEN_S, BEFORE_KILL_S, AFTER_KILL_S = 6.0, 22.0, 18.0


def _url_state(query: str, views: list[str]) -> tuple[int, str]:
    """(t, view) as the link says; a missing t is 0 and a missing view the first tab."""
    q = urllib.parse.parse_qs(query)
    return int(q.get("t", ["0"])[0]), q.get("view", [views[0]])[0]


async def _visitor(i: int, url: str, rec: dict, t0: float, killed: asyncio.Event, stop: asyncio.Event) -> None:
    """Open a link, step every INTERVAL s (every 4th action switches the view); even sessions have a
    network blip after their second action. On a failure, reconnect as a browser does and note where
    the session came back. ``rec["ready"]``: opened and past the blip, so a kill now is mid-run."""
    rng = random.Random(i)
    s = ProtocolSession(url, LINKS[i % len(LINKS)], timeout=60)
    await asyncio.sleep(i * OPEN_S / SESSIONS)
    run = await s.open()
    rec.update(replica=s.replica, page_replica=s.page_replica, replicas={s.replica}, errors=[], runs=0, ready=False)
    assert run.ok, (run.exceptions, run.error_alerts)
    await asyncio.sleep(rng.uniform(0, INTERVAL))
    k = 0
    while not stop.is_set():
        try:
            run = await (s.set_view(VIEWS[(k // 4) % 2]) if k % 4 == 3 else s.step())
            rec["runs"] += 1
            if not run.ok:
                rec["errors"].append((time.monotonic() - t0, f"drawn: {run.exceptions + run.error_alerts}"))
            if i % 2 == 0 and k == 1 and not killed.is_set():  # a blip: the same replica resumes the same session
                sid = s.session_id
                back = await s.reconnect()
                rec["blip"] = {"same_session": s.session_id == sid, "replica": s.replica, "ok": back.ok}
                rec["replicas"].add(s.replica)
        except (ProtocolError, KeyError) as err:  # KeyError: the page lacks the widget (its message says what it has)
            rec["errors"].append((time.monotonic() - t0, f"{type(err).__name__}: {err}"))
            # a browser reconnects and reruns the page as its address bar reads (its session is gone
            # with the replica: the server does not know the id, so a new session starts from the URL)
            back = await s.reconnect()
            t_url, view_url = _url_state(s.query, rec["views"])
            rec["reconnected"] = {
                "replica": s.replica,
                "ok": back.ok,
                "t": s.value("t"),
                "view": s.view,
                "t_url": t_url,
                "view_url": view_url,
            }
            rec["replicas"].add(s.replica)
        rec["ready"] = k >= 1
        k += 1
        await asyncio.sleep(INTERVAL)
    rec["final_replica"] = s.replica
    await s.close()


async def _until(condition, at_least: float, at_most: float) -> None:
    """Wait ``at_least`` seconds, then until ``condition()`` holds or ``at_most`` seconds have passed in all."""
    start = time.monotonic()
    await asyncio.sleep(at_least)
    while not condition() and time.monotonic() - start < at_most:
        await asyncio.sleep(0.5)


async def _class(deployment: Deployment) -> tuple[list[dict], str, float]:
    t0 = time.monotonic()
    killed, stop = asyncio.Event(), asyncio.Event()
    records = [{"views": list(VIEWS)} for _ in range(SESSIONS)]
    tasks = [asyncio.create_task(_visitor(i, deployment.url, rec, t0, killed, stop)) for i, rec in enumerate(records)]
    # a busy machine slows everything down: the phases wait for the sessions, not only for the clock
    await _until(lambda: all(r.get("ready") for r in records), OPEN_S + BEFORE_KILL_S, 90)
    counts = {name: sum(r.get("replica") == name for r in records) for name in ("app1", "app2")}
    victim = max(counts, key=counts.get)
    killed.set()
    kill_time = time.monotonic() - t0
    deployment.by_name(victim).kill(signal.SIGKILL)
    lost = [r for r in records if r.get("replica") == victim]
    await _until(lambda: all("reconnected" in r for r in lost), AFTER_KILL_S, 60)
    stop.set()
    await asyncio.gather(*tasks)
    return records, victim, kill_time


def _run_async(coro):
    """``asyncio.run`` in a thread of its own: another test's Playwright (sync API) may keep a loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_forty_sessions_two_replicas_one_killed(deployment):
    records, victim, killed = _run_async(_class(deployment))
    survivor = next(r.name for r in deployment.replicas if r.name != victim)
    on_victim = [r for r in records if r["replica"] == victim]
    on_survivor = [r for r in records if r["replica"] == survivor]

    assert len(on_victim) + len(on_survivor) == SESSIONS
    assert on_victim and on_survivor, "both replicas serve"
    assert all(r["page_replica"] == r["replica"] for r in records), "the page load and its websocket went to different replicas"
    assert sum(r["runs"] for r in on_survivor) > 0 and sum(r["runs"] for r in on_victim) > 0
    assert not [e for r in records for e in r["errors"] if e[0] < killed], [e for r in records for e in r["errors"] if e[0] < killed]
    blips = [r["blip"] for r in records if "blip" in r]
    assert blips and all(b["same_session"] and b["ok"] for b in blips), blips
    # each session stayed on its replica: the survivor's sessions throughout, reconnects included ...
    assert all(r["replicas"] == {survivor} and not r["errors"] for r in on_survivor), [r["errors"] for r in on_survivor if r["errors"]]
    # ... and the victim's only lost theirs: one failure each at most, then back on the survivor, on the same view
    assert all(len(r["errors"]) <= 1 for r in on_victim), [r["errors"] for r in on_victim]
    came_back = [r["reconnected"] for r in on_victim if "reconnected" in r]
    assert len(came_back) == len(on_victim), "a session of the killed replica never noticed"
    for back in came_back:
        assert back["replica"] == survivor and back["ok"]
        assert (back["t"], back["view"]) == (back["t_url"], back["view_url"]), back
    assert all(r["final_replica"] == survivor for r in on_victim)
