"""A dashboard session without a browser: Streamlit's own websocket protocol, spoken as the browser speaks it.

    session = ProtocolSession("http://127.0.0.1:8501", "?cell=GRU&T=20&t=3")
    await session.open()                 # the page's first run, as a link opens it
    run = await session.step()           # t -> t + 1 in the browser stage, then the pause's one sync
    run = await session.set_widget("seed", 7)   # a configuration change: the whole script reruns
    run = await session.set_view("Over time")
    print(run.ms, session.t, session.view, session.query)

What the browser does, and this client repeats (Streamlit 1.67, ``streamlit/web/server/starlette``):

1. ``GET /?<query>`` for the page, then ``GET /_stcore/health``, whose reply sets the
   ``_streamlit_xsrf`` cookie (behind ``deploy/nginx.conf.in``, the first reply also sets the
   ``rnntrace_route`` cookie that pins the visitor to a replica).
2. A websocket to ``/_stcore/stream`` with those cookies, ``Origin`` equal to the page's origin
   (the server refuses a cross-origin socket), and the subprotocols ``streamlit``, the XSRF
   cookie's value, and on a reconnect the previous session id (the server then resumes that
   session if it still holds it).
3. A ``BackMsg.rerun_script`` (``ClientState``) with the page's query string; the server answers
   with ``ForwardMsg``\\ s: ``new_session`` (with the session id and the run's fragment ids),
   ``delta``\\ s (elements and blocks, each at a ``delta_path``; a widget's element carries its
   ``id``, ``$$ID-<hash>-<user key>``, and its ``delta.fragment_id``), and ``script_finished``.
4. A widget change is a ``rerun_script`` with that widget's ``WidgetState`` (a slider sends
   ``double_array_value``, a checkbox or toggle ``bool_value``, a number input ``int_value`` or
   ``double_value`` by its data type, tabs the label as ``string_value``), the ``fragment_id`` of
   the fragment the widget was drawn in (only that fragment reruns), and the query string as the
   browser's address bar now reads it: the browser rewrites a ``bind="query-params"`` widget's
   parameter itself, the server does not report it.
5. Big elements are cached: the client lists the hashes it holds (``cached_message_hashes``) and
   the server sends ``ref_hash`` references instead of the bytes. The server trusts that list, so
   the client forgets a message when the browser does (``ForwardMessageCache.incrementRunCount``):
   after more than ``max_cached_message_age`` runs unseen, where a fragment run ages only the
   messages drawn in its fragments (the sidebar's and the Vega bundle's stay while the stage syncs).

**The browser stage** (``rnntrace/dashboard/stage.py``) is a components-v2 element,
``bidi_component``, keyed ``stage_<view>``; its ``bytes`` are the stage's payload, gzip-compressed
JSON with every step of the configuration (``stage_payload.pack``). The browser steps through it
with no server traffic. When the student pauses (about 250 ms after the last step), the browser
writes ``t=<t>`` into the address bar (``history.replaceState``) and sends the component's state:
one ``rerun_script`` with ``WidgetState(id=<element id>, json_value='{"t": <t>}')`` and the stage's
fragment. That settled sync is what ``step()`` sends: a student stepping, then pausing.

Widgets are found by their user key (the id's suffix), never by the full id, which changes with
the widget's label, options and position whenever the app is restructured.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

XSRF_COOKIE = "_streamlit_xsrf"
REPLICA_HEADER = "X-Rnntrace-Replica"  # set by deploy/nginx.conf.in: which upstream served the request
FINISHED_OK = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
CACHE_AGE = 2  # runs a cached message survives unseen (global.maxCachedMessageAge; new_session says the server's)
STAGE_PREFIX = "stage_"  # the browser stage's keys: stage_<view module>, and stage_step_chart on a slide


class ProtocolError(RuntimeError):
    """The server closed, refused, timed out or answered something this client cannot read."""


def user_key(element_id: str) -> str | None:
    """The user key inside a widget id ``$$ID-<hash>-<key>`` (keys may contain '-'), else None."""
    if not element_id.startswith("$$ID-"):
        return None
    parts = element_id.split("-", 2)
    return parts[2] if len(parts) == 3 and parts[2] != "None" else None


def unpack(data: bytes) -> dict:
    """A stage payload (``rnntrace.stage.payload.unpack``, repeated: the load generator imports no torch)."""
    return json.loads(gzip.decompress(data))


def with_param(query: str, name: str, value: str) -> str:
    """``query`` (with or without '?') with ``name`` set to ``value``: replaced in place, else appended."""
    pairs = urllib.parse.parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if any(k == name for k, _ in pairs):
        pairs = [(k, value if k == name else v) for k, v in pairs]
    else:
        pairs.append((name, value))
    return urllib.parse.urlencode(pairs)


@dataclass
class Widget:
    """A keyed widget as the page shows it after the last run.

    Attributes:
        key: the user key (``key=`` in the app).
        id: Streamlit's element id (changes when the app is restructured; look widgets up by key).
        kind: the element type: ``slider``, ``tab_container``, ``checkbox``, ``number_input``,
            ``bidi_component`` (a components-v2 element: the browser stage), ``button``, ...
        fragment_id: the fragment the widget was drawn in ('' outside fragments).
        value: what the page shows: a slider's, checkbox's or number input's value, the open tab's
            label, a bidi component's state as the browser last sent it (a dict, ``{}`` before);
            None if unknown.
        query_param_key: the URL parameter the widget is bound to ('' if none).
        path: the element's delta path (where it sits in the page).
        proto: the element's protobuf, for anything else.
        digest: the delta's message hash (a bidi component's data changed iff it changed).
    """

    key: str
    id: str
    kind: str
    fragment_id: str
    value: Any
    query_param_key: str
    path: tuple[int, ...]
    proto: Any = None
    options: list[str] = field(default_factory=list)
    digest: str = ""


@dataclass
class Run:
    """One script run as the client saw it.

    Attributes:
        ms: milliseconds from sending the BackMsg (or opening the socket) to ``script_finished``.
        status: the ``script_finished`` status (0 full run, 3 fragment run).
        fragment: whether only a fragment ran.
        bytes: websocket payload bytes received for the run.
        messages: ForwardMsgs received for the run.
        exceptions: texts of exception elements the run drew (should be none).
        error_alerts: texts of ``st.error`` boxes the run drew.
        warnings: texts of ``st.warning`` boxes the run drew (notices, "busy, try again").
        texts: texts of the run's Markdown and code elements, in the order drawn.
    """

    ms: float
    status: int
    fragment: bool
    bytes: int
    messages: int
    exceptions: list[str]
    error_alerts: list[str]
    warnings: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in FINISHED_OK and not self.exceptions and not self.error_alerts


async def http_get(url: str, headers: dict[str, str], timeout: float = 30.0) -> tuple[int, list[tuple[str, str]], bytes]:
    """A plain HTTP/1.1 GET (status, headers in order, body); enough for the page and its cookies."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port, ssl=parts.scheme == "https"), timeout)
    try:
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    if not status_line.startswith("HTTP/"):
        raise ProtocolError(f"GET {url}: not an HTTP answer: {status_line[:80]!r}")
    pairs = [(k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in header_lines)]
    return int(status_line.split()[1]), pairs, body


class ProtocolSession:
    """One visitor: a page load, a websocket, and the reruns it asks for (see the module docstring).

    Args:
        base_url: the app's (or nginx's) origin, e.g. ``http://127.0.0.1:8080``.
        query: the link's query string, with or without '?'.
        timeout: seconds any one run, connect or page load may take before ``ProtocolError``.
        fetch_page: GET the page first (cookies, as a browser); False connects the socket directly.
    """

    def __init__(self, base_url: str, query: str = "", *, timeout: float = 60.0, fetch_page: bool = True):
        self.base_url = base_url.rstrip("/")
        self.query = query.lstrip("?")
        self.timeout = timeout
        self.fetch_page = fetch_page
        self.cookies: dict[str, str] = {}
        self.session_id: str | None = None
        self.replica: str | None = None  # nginx's X-Rnntrace-Replica on the websocket handshake
        self.page_replica: str | None = None  # ... and on the page load
        self.widgets: dict[str, Widget] = {}
        self.connects = 0
        self.last_run: dict = {}  # the last run's id, status and message count, for error messages
        self._ws = None
        self._cache: dict[str, tuple[ForwardMsg, int, str]] = {}  # hash -> (message, runs when last seen, its fragment)
        self._runs = 0  # finished runs, the browser's scriptRunCount
        self._max_age = CACHE_AGE
        self._payloads: dict[str, tuple[str, dict]] = {}  # element id -> (digest, unpacked payload): one per stage

    # ------------------------------------------------------------ connection
    @property
    def connected(self) -> bool:
        return self._ws is not None

    def _cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def _take_cookies(self, headers) -> None:
        for name, value in headers:
            if name.lower() == "set-cookie":
                k, _, v = value.split(";", 1)[0].partition("=")
                self.cookies[k.strip()] = v.strip()

    async def load_page(self) -> int:
        """GET the page and then ``/_stcore/health``, as a browser opening the link does; keeps the cookies.

        The health check's reply is what sets the XSRF cookie; behind nginx, the first reply sets the
        route cookie and the second already goes where it points. Returns the page's HTTP status.
        """
        page = f"{self.base_url}/" + (f"?{self.query}" if self.query else "")
        for url in (page, f"{self.base_url}/_stcore/health"):
            headers = {"Cookie": self._cookie_header()} if self.cookies else {}
            status, reply, _ = await http_get(url, headers, self.timeout)
            self._take_cookies(reply)
            if url == page:
                self.page_replica = next((v for k, v in reply if k.lower() == REPLICA_HEADER.lower()), None)
            if status != 200:
                raise ProtocolError(f"GET {url}: HTTP {status}")
        return 200

    async def connect(self, *, resume: bool = True) -> None:
        """Open the websocket (resuming the server's session for this client if ``resume`` and it still exists)."""
        from websockets.asyncio.client import connect

        if self.fetch_page and not self.cookies:
            await self.load_page()
        ws_url = "ws" + self.base_url[len("http") :] + "/_stcore/stream"
        # positions matter: [subprotocol, XSRF token, session to resume]; "-" holds an empty place
        protocols = ["streamlit", self.cookies.get(XSRF_COOKIE) or "-"]
        if resume and self.session_id:
            protocols.append(self.session_id)
        headers = {"Origin": self.base_url}  # same-origin, as the page's own script
        if self.cookies:
            headers["Cookie"] = self._cookie_header()
        try:
            self._ws = await connect(
                ws_url,
                subprotocols=protocols,
                additional_headers=headers,
                max_size=None,
                open_timeout=self.timeout,
                ping_interval=None,  # the browser sends no pings either; nginx's read timeout bounds idle sockets
                compression="deflate",
            )
        except Exception as err:
            raise ProtocolError(f"websocket to {ws_url}: {type(err).__name__}: {err}") from err
        self.connects += 1
        self.replica = self._ws.response.headers.get(REPLICA_HEADER)

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):  # closing a dead socket: nothing left to do
                await asyncio.wait_for(ws.close(), 5)

    def drop(self) -> None:
        """Lose the socket without a close handshake (a network blip, a killed server)."""
        ws, self._ws = self._ws, None
        if ws is not None:
            ws.transport.abort()

    # ------------------------------------------------------------ runs
    async def open(self) -> Run:
        """Load the page, connect, and run the script for the link's query string."""
        start = time.perf_counter()
        await self.connect(resume=False)
        run = await self.rerun()
        run.ms = (time.perf_counter() - start) * 1e3
        return run

    async def reconnect(self, *, resume: bool = True) -> Run:
        """A new socket (on the same route cookie) and a run of the page as the URL now reads."""
        self.drop()
        start = time.perf_counter()
        await self.connect(resume=resume)
        run = await self.rerun()
        run.ms = (time.perf_counter() - start) * 1e3
        return run

    async def rerun(self, states: list[WidgetState] | None = None, fragment_id: str = "") -> Run:
        """Send one ``rerun_script`` and read the answer up to its ``script_finished``."""
        if self._ws is None:
            raise ProtocolError("not connected")
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.fragment_id = fragment_id
        cs.widget_states.widgets.extend(states or [])
        cs.cached_message_hashes.extend(self._cache)
        start = time.perf_counter()
        try:
            await self._ws.send(msg.SerializeToString())
            return await asyncio.wait_for(self._read_run(start), self.timeout)
        except TimeoutError as err:
            raise ProtocolError(f"no script_finished within {self.timeout:.0f} s") from err
        except ProtocolError:
            raise
        except Exception as err:  # a closed socket, mostly
            self._ws = None
            raise ProtocolError(f"{type(err).__name__}: {err}") from err

    async def clear_cache(self) -> None:
        """Send ``BackMsg.clear_cache``, what the page menu's "Clear cache" sends (any client can: the server answers nothing)."""
        if self._ws is None:
            raise ProtocolError("not connected")
        msg = BackMsg()
        msg.clear_cache = True
        await self._ws.send(msg.SerializeToString())

    async def _read_run(self, start: float) -> Run:
        """Messages up to the ``script_finished`` of the run this request started.

        A run starts with ``new_session`` (carrying its run id) and ends with a ``script_finished``
        for the same id. Whatever comes before that ``new_session`` (the end of a run the request
        interrupted, say) belongs to another run and is not counted.
        """
        nbytes = count = deltas = 0
        run_id: str | None = None
        fragment_run = False
        run_fragments: list[str] = []
        seen: dict[str, Widget] = {}
        tab_labels: dict[tuple[int, ...], list[str]] = {}
        exceptions: list[str] = []
        alerts: list[str] = []
        warnings: list[str] = []
        texts: list[str] = []
        while True:
            data = await self._ws.recv()
            nbytes += len(data)
            count += 1
            fwd = ForwardMsg()
            fwd.ParseFromString(data)
            kind = fwd.WhichOneof("type")
            if kind == "ref_hash":
                cached = self._cache.get(fwd.ref_hash)
                if cached is None:
                    raise ProtocolError(f"server referred to a message this client does not hold ({fwd.ref_hash})")
                self._cache[fwd.ref_hash] = (cached[0], self._runs, cached[2])  # seen again: young again
                fwd, kind = self._restore(cached[0], fwd), cached[0].WhichOneof("type")
            elif fwd.metadata.cacheable and fwd.hash:
                held = self._cache.get(fwd.hash)
                fragment = fwd.delta.fragment_id if kind == "delta" else ""
                self._cache[fwd.hash] = (held[0], self._runs, held[2]) if held else (fwd, self._runs, fragment)
            if kind == "new_session":
                self.session_id = fwd.new_session.initialize.session_id or self.session_id
                self._max_age = fwd.new_session.config.max_cached_message_age or self._max_age
                run_id = fwd.metadata.run.script_run_id
                run_fragments = list(fwd.metadata.run.fragment_ids)
                fragment_run = bool(run_fragments)
                seen, tab_labels, exceptions, alerts, warnings, texts, deltas = {}, {}, [], [], [], [], 0
            elif kind == "delta":
                deltas += 1
                self._read_delta(fwd, seen, tab_labels, exceptions, alerts, warnings, texts)
            elif kind == "page_info_changed":
                self.query = fwd.page_info_changed.query_string
            elif kind == "script_finished":
                finished = fwd.metadata.run.script_run_id if fwd.metadata.HasField("run") else run_id
                if run_id is None or finished != run_id or fwd.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue  # another run's end (one this request interrupted, or the app's st.rerun())
                ms = (time.perf_counter() - start) * 1e3
                if not fragment_run and not deltas:
                    # a full run that draws nothing: the server's answer to a BackMsg it failed to handle
                    # (its exception follows as a message of its own); the page keeps what it showed
                    exceptions.append("the server ran nothing for this request (a BackMsg it could not handle)")
                else:
                    self._finish(seen, tab_labels, run_fragments)
                self._age_cache(run_fragments)
                self.last_run = {"run_id": run_id, "status": fwd.script_finished, "fragment": fragment_run, "messages": count}
                return Run(ms, fwd.script_finished, fragment_run, nbytes, count, exceptions, alerts, warnings, texts)

    @staticmethod
    def _restore(original: ForwardMsg, ref: ForwardMsg) -> ForwardMsg:
        msg = ForwardMsg()
        msg.CopyFrom(original)
        msg.metadata.CopyFrom(ref.metadata)  # the reference carries this run's position
        return msg

    def _read_delta(
        self, fwd: ForwardMsg, seen: dict, tab_labels: dict, exceptions: list, alerts: list, warnings: list, texts: list
    ) -> None:
        delta = fwd.delta
        path = tuple(fwd.metadata.delta_path)
        which = delta.WhichOneof("type")
        if which == "new_element":
            el_kind = delta.new_element.WhichOneof("type")
            el = getattr(delta.new_element, el_kind)
            if el_kind == "exception":
                exceptions.append(f"{el.type}: {el.message}")
            elif el_kind == "alert" and el.format == el.ERROR:
                alerts.append(el.body)
            elif el_kind == "alert" and el.format == el.WARNING:
                warnings.append(el.body)
            elif el_kind == "markdown":
                texts.append(el.body)
            elif el_kind == "code":
                texts.append(el.code_text)
            key = user_key(getattr(el, "id", ""))
            if key is not None:
                qp = getattr(el, "query_param_key", "")
                seen[key] = Widget(key, el.id, el_kind, delta.fragment_id, _element_value(el_kind, el), qp, path, el, digest=fwd.hash)
        elif which == "add_block":
            block = delta.add_block
            if block.WhichOneof("type") == "tab_container" and user_key(block.id):
                tc = block.tab_container
                seen[user_key(block.id)] = Widget(
                    user_key(block.id), block.id, "tab_container", delta.fragment_id, tc.default_tab_index, tc.query_param_key, path, block
                )
                tab_labels[path] = []
            elif block.WhichOneof("type") == "tab" and path[:-1] in tab_labels:
                tab_labels[path[:-1]].append(block.tab.label)

    def _finish(self, seen: dict[str, Widget], tab_labels: dict, fragments: list[str]) -> None:
        for w in seen.values():
            before = self.widgets.get(w.key)
            if w.kind == "tab_container":  # the server always says which tab is open
                w.options = tab_labels.get(w.path, [])
                w.value = w.options[w.value] if 0 <= w.value < len(w.options) else None
            elif w.value is None and before is not None and before.id == w.id:
                w.value = before.value  # not set by the server: the page keeps what it showed
            elif w.value is None:
                w.value = _default_value(w.kind, w.proto)  # a new widget starts from its default
        if fragments:  # a fragment run redraws its fragments: their widgets it did not draw are gone (another tab's stage)
            self.widgets = {k: w for k, w in self.widgets.items() if w.fragment_id not in fragments or k in seen}
            self.widgets.update(seen)
        else:  # a full run redraws the page: widgets it did not draw are gone
            self.widgets = seen
        live = {w.id for w in self.widgets.values()}
        self._payloads = {i: p for i, p in self._payloads.items() if i in live}

    def _age_cache(self, fragments: list[str]) -> None:
        """One run more (the browser's ``incrementRunCount``): forget messages unseen for more than the max age.

        A fragment run ages only the messages drawn in its fragments; the rest of the page was not redrawn.
        """
        self._runs += 1
        self._cache = {
            h: (m, n, f) for h, (m, n, f) in self._cache.items() if (fragments and f not in fragments) or self._runs - n <= self._max_age
        }

    # ------------------------------------------------------------ widgets
    def widget(self, key: str) -> Widget:
        """The widget with user key ``key`` on the page now; KeyError names the keys there are."""
        try:
            return self.widgets[key]
        except KeyError:
            raise KeyError(f"no widget with key {key!r} on the page; keys: {sorted(self.widgets)}; last run: {self.last_run}") from None

    def value(self, key: str) -> Any:
        """The widget's value; ``"t"`` on a page without a ``t`` widget is the stage's t (the slider moved into the stage)."""
        if key == "t" and "t" not in self.widgets and self.stage() is not None:
            return self.t
        return self.widget(key).value

    @property
    def view(self) -> str | None:
        """The open tab of the ``view`` tabs."""
        return self.widgets["view"].value if "view" in self.widgets else None

    # ------------------------------------------------------------ the browser stage
    def payload(self, key: str) -> dict:
        """The unpacked payload of the bidi component ``key``, unpacked once per element and data.

        A stage is redrawn on every rerun of its fragment, mostly as a ``ref_hash`` to the same
        cached message: the digest says whether the data changed, so each configuration (or window
        of steps) is inflated once, not once per sync.
        """
        w = self.widget(key)
        if w.kind != "bidi_component" or w.proto.WhichOneof("data") != "bytes":
            raise TypeError(f"widget {key!r} is a {w.kind} without bytes; stage payloads are a bidi_component's bytes")
        digest = w.digest or hashlib.blake2b(w.proto.bytes, digest_size=16).hexdigest()
        held = self._payloads.get(w.id)
        if held is None or held[0] != digest:
            held = self._payloads[w.id] = (digest, unpack(w.proto.bytes))
        return held[1]

    def stage(self) -> Widget | None:
        """The page's stage with t controls: the first ``stage_*`` component in page order (a slide's follower has none)."""
        stages = sorted(
            (w for k, w in self.widgets.items() if k.startswith(STAGE_PREFIX) and w.kind == "bidi_component"), key=lambda w: w.path
        )
        return next((w for w in stages if self.payload(w.key).get("controls", True)), stages[0] if stages else None)

    @property
    def t(self) -> int:
        """The stage's t as the browser shows it: its last synced t, else the link's, else 0 (clamped to the payload's T).

        A new payload (another configuration) keeps the page's t when it is a step of the new run, as ``stage.js`` does.
        """
        return self._stage_t(self._the_stage())

    def _the_stage(self) -> Widget:
        w = self.stage()
        if w is None:
            raise KeyError(f"no stage on the page; keys: {sorted(self.widgets)}; last run: {self.last_run}")
        return w

    def _stage_t(self, w: Widget) -> int:
        T = int(self.payload(w.key)["T"])
        for candidate in ((w.value or {}).get("t"), dict(urllib.parse.parse_qsl(self.query)).get("t")):
            with contextlib.suppress(TypeError, ValueError):
                if 0 <= int(candidate) < T:
                    return int(candidate)
        return 0

    # ------------------------------------------------------------ changes
    async def set_widget(self, key: str, value: Any) -> Run:
        """Change one widget as a user would: its state, its fragment, and the URL if it is bound.

        A bidi component's ``value`` is its state dict (the stage's: ``{"t": 5}``), sent as ``json_value``;
        its ``t`` goes into the address bar, as ``stage.js`` puts it there.
        """
        w = self.widget(key)
        state = WidgetState(id=w.id)
        if w.kind in ("slider", "select_slider"):
            state.double_array_value.data.extend([float(value)])
            url_value = str(int(value)) if float(value).is_integer() else str(value)
        elif w.kind == "tab_container":
            if value not in w.options:
                raise ValueError(f"tab {value!r} is not one of {w.options}")
            state.string_value = value
            url_value = value
        elif w.kind == "checkbox":
            state.bool_value = bool(value)
            url_value = str(bool(value)).lower()
        elif w.kind == "number_input":
            if w.proto.data_type == w.proto.INT:
                value = int(value)
                state.int_value = value
            else:
                value = float(value)
                state.double_value = value
            url_value = str(value)
        elif w.kind == "bidi_component":
            if not isinstance(value, dict):
                raise TypeError(f"widget {key!r} is a bidi component: its value is a state dict such as {{'t': 3}}, not {value!r}")
            state.json_value = json.dumps(value)
            url_value = None
            if "t" in value:
                self.query = with_param(self.query, "t", str(value["t"]))  # history.replaceState in stage.js
        elif w.kind == "button":
            state.trigger_value = True
            url_value = None
        else:
            raise TypeError(f"widget {key!r} is a {w.kind}; this client sets sliders, tabs, checkboxes, number inputs, stages, buttons")
        if w.query_param_key and url_value is not None:
            self.query = with_param(self.query, w.query_param_key, url_value)  # the browser's address bar follows
        if w.kind != "button":
            w.value = value  # the page shows the new value at once; the server echoes it only if it changes it
        return await self.rerun([state], w.fragment_id)

    async def step(self, key: str | None = None, by: int = 1) -> Run:
        """Move t by ``by``, wrapping around, as a student stepping and then pausing; the one request that costs.

        With no ``key`` (or a stage's key): the stage's t moves in the browser, with no server traffic,
        and the pause sends the settled t, one rerun of the stage's fragment (past the payload's
        window of steps, that rerun also brings the next window). A slider ``key`` (pages before the
        stage) moves the slider across its range instead.
        """
        if key is None or key.startswith(STAGE_PREFIX):
            w = self.widget(key) if key is not None else self._the_stage()
            T = int(self.payload(w.key)["T"])
            return await self.set_widget(w.key, {**(w.value or {}), "t": (self._stage_t(w) + by) % T})
        w = self.widget(key)
        lo, hi = int(w.proto.min), int(w.proto.max)
        current = int(w.value if w.value is not None else lo)
        return await self.set_widget(key, lo + (current - lo + by) % (hi - lo + 1))

    async def set_view(self, label: str, key: str = "view") -> Run:
        return await self.set_widget(key, label)


def _element_value(kind: str, el) -> Any:
    """The value the server set on a widget in this run, or None when it left the page's value alone."""
    if kind in ("slider", "select_slider") and el.set_value and len(el.value):
        return _number(list(el.value), el)
    if kind == "checkbox" and el.set_value:
        return el.value
    if kind == "number_input" and el.set_value:
        return _number([el.value], el)
    return None


def _default_value(kind: str, el) -> Any:
    if kind in ("slider", "select_slider") and len(el.default):
        return _number(list(el.default), el)
    if kind == "checkbox":
        return el.default
    if kind == "number_input":
        return _number([el.default], el)
    if kind == "bidi_component":
        return {}  # the browser has sent no state yet
    return None


def _number(values: list[float], el) -> Any:
    values = [int(v) if el.data_type == el.INT else v for v in values]
    return values[0] if len(values) == 1 else values
