"""K dashboard processes behind nginx on one machine, as any user.

    python deploy/run_local.py --replicas 2 --port 8080        # then open http://127.0.0.1:8080
    python deploy/run_local.py --replicas 2 --port 8080 --restart   # ... and restart a replica that dies
    python deploy/run_local.py --print-compose-conf > deploy/nginx.compose.conf

Starts ``streamlit run app.py`` K times on free loopback ports (each in its own process group,
log in the run directory), waits for each ``/_stcore/health``, writes an nginx configuration from
``deploy/nginx.conf.in`` into a temporary prefix (pid, logs and nginx's temp files there too, so
no root and no /etc/nginx), checks it with ``nginx -t`` and runs ``nginx -g 'daemon off;'``.
Then it polls every replica's health every 2 s and, with ``--restart``, starts a dead one again
on the same port. Ctrl-C (or SIGTERM) stops nginx and every replica.

``Deployment`` is the same thing as a context manager, for tests and ``bench/load_test.py``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "deploy" / "nginx.conf.in"
COMPOSE_CONF = REPO / "deploy" / "nginx.compose.conf"
MISSING_NGINX = "nginx not installed: apt-get install -y nginx (Debian's package; runs here without root)"

# The compose file's private network: fixed addresses so that nginx can name the replica that answered.
COMPOSE_UPSTREAMS = (("app1", "172.28.0.11:8501"), ("app2", "172.28.0.12:8501"))
COMPOSE_LISTEN = "8080"


def nginx_path() -> str | None:
    """Debian's nginx (/usr/sbin is often not on a user's PATH), or None."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def script_hash(text: str) -> str:
    """A CSP source for one inline script: 'sha256-<base64 of the SHA-256 of its text>'."""
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def inline_scripts(html: str) -> list[str]:
    """The texts of the inline ``<script>`` elements in ``html`` (those without ``src``)."""
    return re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, flags=re.S)


def page_scripts() -> list[str]:
    """Inline scripts of the installed Streamlit's index.html (window.prerenderReady)."""
    import streamlit

    return inline_scripts((Path(streamlit.__file__).parent / "static" / "index.html").read_text())


@functools.cache
def app_scripts(app: str = "app.py", timeout: float = 180.0) -> tuple[str, ...]:
    """Inline scripts the app's first page puts in with ``st.html(..., unsafe_allow_javascript=True)``.

    Runs the app once under Streamlit's ``AppTest`` in a subprocess (torch and the app stay out of
    this process) and reads the ``<script>`` texts of its html elements; the browser hashes exactly
    these texts when it checks them against the CSP.
    """
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--print-app-scripts", app],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"could not run {app} to read its inline scripts:\n{done.stderr[-2000:]}")
    return tuple(json.loads(done.stdout))


def _print_app_scripts(app: str) -> None:
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # AppTest's "missing ScriptRunContext" chatter
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str((REPO / app).resolve()), default_timeout=120).run()
    if at.exception:
        raise SystemExit(f"{app} raised: {[e.value for e in at.exception]}")
    texts = [t for el in at.get("html") if el.proto.unsafe_allow_javascript for t in inline_scripts(el.proto.body)]
    print(json.dumps(texts))


def content_security_policy(scripts: list[str] | tuple[str, ...] | None = None) -> str:
    """The page's CSP: scripts from the app's origin, plus the inline ones by hash (``scripts``; default:
    Streamlit's page and the app's, see ``app_scripts``); Streamlit's emotion styles are inline."""
    if scripts is None:
        scripts = [*page_scripts(), *app_scripts()]
    return "; ".join(
        [
            "default-src 'self'",
            # blob: Streamlit's components v2 load the component's module (ours: the stage, the Vega bundle) from a Blob URL
            " ".join(["script-src 'self' blob:", *dict.fromkeys(script_hash(s) for s in scripts)]),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "object-src 'none'",
        ]
    )


def render_nginx_conf(
    upstreams: list[tuple[str, str]] | tuple[tuple[str, str], ...],
    *,
    listen: str,
    run_dir: str,
    error_log: str,
    access_log: str,
    workers: int | str = 1,
    max_conn_per_ip: int = 256,
    fail_timeout: int = 10,
    csp: str | None = None,
) -> str:
    """deploy/nginx.conf.in with its places filled.

    Args:
        upstreams: (name, host:port) of each replica; the name goes into the X-Rnntrace-Replica header.
        listen: nginx's ``listen`` argument, e.g. ``127.0.0.1:8080`` or ``8080``.
        run_dir: directory for the pid file and nginx's temp files (must exist and be writable).
        error_log, access_log: paths (``/dev/stderr``, ``/dev/stdout`` in a container).
        workers: nginx worker processes (``auto``: one per core).
        max_conn_per_ip: connections one client address may hold at once.
        fail_timeout: seconds a replica that failed is left out.
        csp: the Content-Security-Policy (default: ``content_security_policy()``, which runs the app once).
    """
    if not upstreams:
        raise ValueError("upstreams is empty: give at least one (name, 'host:port')")
    for name, addr in upstreams:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or not re.fullmatch(r"[A-Za-z0-9_.-]+:\d+", addr):
            raise ValueError(f"upstream {(name, addr)!r}: expected a plain name and 'host:port', e.g. ('app1', '127.0.0.1:8501')")
    replica_map = "\n".join(f'        "~(^|\\s){re.escape(addr)}$" {name};' for name, addr in upstreams)
    servers = "\n".join(f"        server {addr} max_fails=1 fail_timeout={fail_timeout}s;" for _, addr in upstreams)
    values = {
        "WORKERS": str(workers),
        "RUN_DIR": run_dir,
        "ERROR_LOG": error_log,
        "ACCESS_LOG": access_log,
        "REPLICA_MAP": replica_map,
        "UPSTREAM_SERVERS": servers,
        "LISTEN": listen,
        "MAX_CONN_PER_IP": str(max_conn_per_ip),
        "FAIL_TIMEOUT": f"{fail_timeout} s",
        "CSP": content_security_policy() if csp is None else csp,
    }
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ValueError(f"deploy/nginx.conf.in has places render_nginx_conf does not fill: {sorted(set(left))}")
    return text


def compose_conf() -> str:
    """The configuration docker-compose.yml mounts into the nginx container (deploy/nginx.compose.conf)."""
    header = "# Generated by `python deploy/run_local.py --print-compose-conf` from deploy/nginx.conf.in; do not edit.\n"
    body = render_nginx_conf(
        COMPOSE_UPSTREAMS, listen=COMPOSE_LISTEN, run_dir="/tmp", error_log="/dev/stderr", access_log="/dev/stdout", workers="auto"
    )
    return header + body


def healthy(url: str, timeout: float = 2.0) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as r:
        return r.status == 200 and r.read().strip() == b"ok"
    return False


class Replica:
    """One ``streamlit run app.py`` on 127.0.0.1:``port``, in its own process group."""

    def __init__(self, name: str, port: int, run_dir: Path, *, app: str = "app.py", env: dict | None = None):
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.app = app
        self.env = {**os.environ, **(env or {})}
        self.log = run_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = [
            sys.executable, "-m", "streamlit", "run", self.app,
            "--server.headless", "true",
            "--server.address", "127.0.0.1",
            "--server.port", str(self.port),
            "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false",
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=self.env)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the replica's process group (SIGKILL: a crash, as the test simulates)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.kill(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            self.proc.wait(timeout=10)


class Deployment:
    """K replicas and nginx in front of them, on this machine; a context manager.

    Args:
        replicas: how many ``streamlit run app.py`` processes.
        port: nginx's port on 127.0.0.1 (default: a free one); ``host`` to listen elsewhere.
        run_dir: where logs, pid and nginx's files go (default: a new temporary directory, removed
            on ``stop()`` unless ``keep_run_dir``).
        env: extra environment for the replicas (e.g. ``STREAMLIT_RUNNER_POST_SCRIPT_GC``).
        timeout: seconds to wait for every replica's health and then nginx's.
    """

    def __init__(
        self,
        replicas: int = 2,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        run_dir: str | Path | None = None,
        app: str = "app.py",
        env: dict | None = None,
        workers: int | str = 1,
        max_conn_per_ip: int = 256,
        timeout: float = 120.0,
        keep_run_dir: bool = False,
    ):
        if replicas < 1:
            raise ValueError(f"replicas={replicas}: need at least 1")
        self.nginx = nginx_path()
        if self.nginx is None:
            raise RuntimeError(MISSING_NGINX)
        self._own_dir = run_dir is None
        self.run_dir = Path(run_dir or tempfile.mkdtemp(prefix="rnntrace-deploy-"))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.keep_run_dir = keep_run_dir
        self.port = port or free_port()
        self.host = host
        self.url = f"http://127.0.0.1:{self.port}" if host in ("127.0.0.1", "0.0.0.0") else f"http://{host}:{self.port}"
        self.workers = workers
        self.max_conn_per_ip = max_conn_per_ip
        self.timeout = timeout
        self.app = app
        self.replicas = [Replica(f"app{i + 1}", free_port(), self.run_dir, app=app, env=env) for i in range(replicas)]
        self.conf = self.run_dir / "nginx.conf"
        self.nginx_proc: subprocess.Popen | None = None

    def by_name(self, name: str) -> Replica:
        return next(r for r in self.replicas if r.name == name)

    def start(self) -> Deployment:
        try:
            for r in self.replicas:
                r.start()
            csp = content_security_policy([*page_scripts(), *app_scripts(self.app)])  # runs the app once while the replicas start
            self._wait(self.replicas)
            self.conf.write_text(
                render_nginx_conf(
                    [(r.name, f"127.0.0.1:{r.port}") for r in self.replicas],
                    listen=f"{self.host}:{self.port}",
                    run_dir=str(self.run_dir),
                    error_log=str(self.run_dir / "nginx-error.log"),
                    access_log=str(self.run_dir / "nginx-access.log"),
                    workers=self.workers,
                    max_conn_per_ip=self.max_conn_per_ip,
                    csp=csp,
                )
            )
            nginx = [self.nginx, "-p", str(self.run_dir), "-c", str(self.conf)]
            check = subprocess.run([*nginx, "-t"], capture_output=True, text=True, timeout=30)
            if check.returncode != 0:
                raise RuntimeError(f"nginx -t refused {self.conf}:\n{check.stderr}")
            with open(self.run_dir / "nginx.out", "ab") as out:
                self.nginx_proc = subprocess.Popen(
                    [*nginx, "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            deadline = time.monotonic() + 30
            while not healthy(self.url):
                if self.nginx_proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not answer {self.url}/_stcore/health:\n{self.nginx_log()}")
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, replicas: list[Replica]) -> None:
        deadline = time.monotonic() + self.timeout
        waiting = list(replicas)
        while waiting:
            for r in list(waiting):
                if not r.alive():
                    raise RuntimeError(f"replica {r.name} exited with {r.proc.returncode}:\n{r.tail()}")
                if healthy(r.url):
                    waiting.remove(r)
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"replicas {[r.name for r in waiting]} not healthy within {self.timeout:.0f} s:\n{waiting[0].tail()}")
            time.sleep(0.25)

    def restart(self, replica: Replica) -> None:
        """Start a dead replica again on its port and wait for its health."""
        replica.stop()
        replica.start()
        self._wait([replica])

    def pids(self) -> dict[str, int]:
        """Replica name -> pid of each running replica."""
        return {r.name: r.pid for r in self.replicas if r.alive()}

    def nginx_log(self, lines: int = 30) -> str:
        texts = []
        for name in ("nginx.out", "nginx-error.log"):
            with contextlib.suppress(OSError):
                texts.append("\n".join((self.run_dir / name).read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(texts) or "(no nginx log)"

    def stop(self) -> None:
        if self.nginx_proc is not None and self.nginx_proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.nginx_proc.pid, signal.SIGQUIT)  # graceful: finish the open requests
            try:
                self.nginx_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.nginx_proc.pid, signal.SIGKILL)
                self.nginx_proc.wait(timeout=10)
        for r in self.replicas:
            r.stop()
        if self._own_dir and not self.keep_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> Deployment:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=2, help="app processes (default: %(default)s; one per core is the sizing)")
    parser.add_argument("--port", type=int, default=8080, help="nginx's port (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="nginx's address (default: %(default)s; 0.0.0.0 for every interface)")
    parser.add_argument("--run-dir", help="logs, pid and nginx's files (default: a new temporary directory, kept)")
    parser.add_argument("--workers", default="1", help="nginx worker processes (default: %(default)s)")
    parser.add_argument("--max-conn-per-ip", type=int, default=256, help="connections one address may hold (default: %(default)s)")
    parser.add_argument("--restart", action="store_true", help="start a replica again when it dies or stops answering /_stcore/health")
    parser.add_argument("--print-compose-conf", action="store_true", help="print the nginx configuration for docker-compose.yml and exit")
    parser.add_argument("--print-app-scripts", metavar="APP", help=argparse.SUPPRESS)  # app_scripts()'s subprocess
    args = parser.parse_args(argv)
    if args.print_app_scripts:
        _print_app_scripts(args.print_app_scripts)
        return 0
    if args.print_compose_conf:
        sys.stdout.write(compose_conf())
        return 0
    stop = []
    try:
        deployment = Deployment(args.replicas, port=args.port, host=args.host, run_dir=args.run_dir, workers=args.workers,
                                max_conn_per_ip=args.max_conn_per_ip, keep_run_dir=True)  # fmt: skip
    except (RuntimeError, ValueError) as err:
        print(err, file=sys.stderr)
        return 2
    with deployment:
        for sig in (signal.SIGINT, signal.SIGTERM):  # from here on, a signal ends the loop below and the cleanup runs once
            signal.signal(sig, lambda *_: stop.append(True))
        print(f"{deployment.url} -> " + ", ".join(f"{r.name} :{r.port} (pid {r.pid})" for r in deployment.replicas))
        print(f"logs in {deployment.run_dir}; Ctrl-C stops everything")
        failures = dict.fromkeys((r.name for r in deployment.replicas), 0)  # health checks failed in a row
        while not stop:
            time.sleep(2)
            if deployment.nginx_proc.poll() is not None:
                print(f"nginx exited:\n{deployment.nginx_log()}", file=sys.stderr)
                return 1
            for r in deployment.replicas:
                failures[r.name] = 0 if r.alive() and healthy(r.url) else failures[r.name] + 1
                down = not r.alive() or failures[r.name] >= 3  # a busy replica may miss one 2 s check
                if not down:
                    continue
                if args.restart:
                    print(f"{r.name} is {'unhealthy' if r.alive() else 'dead'}: restarting", flush=True)
                    try:
                        deployment.restart(r)
                        failures[r.name] = 0
                    except RuntimeError as err:
                        print(f"{r.name} did not come back: {err}", file=sys.stderr, flush=True)
                elif failures[r.name] in (1, 3):  # say it once; nginx routes around it meanwhile
                    print(f"{r.name} is {'unhealthy' if r.alive() else 'dead'} (run with --restart to restart it)", flush=True)
        print("stopping nginx and the replicas", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
