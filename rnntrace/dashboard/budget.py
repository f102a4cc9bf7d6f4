"""One budget for everything the server keeps, and one lane for heavy work: a public demo no visitor can stall.

Memory. Every object the server keeps for visitors (traces, gradients and what is derived from
them, the Task page's traces, trained models, built downloads) lives in a ``ByteCache``: a
least-recently-used store that counts the bytes each entry really holds (every array and tensor
reachable from it, once) and evicts until its total is within its share. The shares are in
``config.LIMITS`` and add up to at most ``LIMITS.server_bytes``; ``report()`` gives the totals
(and logs them as one line, ``rnntrace budget: ...``, at most once a minute when they change).
``st.cache_resource(max_entries=4)`` bounded entries, not memory, and five visitors thrashed it.

``clear_cache``. The stores are module globals, not ``st.cache_*``: Streamlit's "Clear cache"
message, which any client can send, empties ``st.cache_data`` and ``st.cache_resource`` and
nothing here (a visitor could wipe everyone's trained models with it).

Time. Heavy work (a trace, a backward pass, the Jacobian norms, a training, the Task page's
traces) takes the ``LANE``: one computation at a time, first come first served, so on a 2-core
server the other core keeps answering every visitor's steps. Each kind of work keeps an average
of how long it takes; a visitor whose estimated wait passes ``LIMITS.wait_seconds`` is told at
once "busy, try again in ~N s" (``Busy``); one who waits less is shown the wait. Work that many
visitors ask for at once (the first trained model, a popular link) is computed once: the others
wait for that computation, visibly, and share it.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import gc
import inspect
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any, TypeVar

import numpy as np
import torch

from .config import LIMITS

T = TypeVar("T")
log = logging.getLogger("rnntrace.budget")


class Declined(RuntimeError):
    """The server will not do this now: the message says why and what to do (shown to the visitor as is)."""


class Busy(Declined):
    """The heavy lane would keep the visitor waiting longer than ``LIMITS.wait_seconds``."""


class TooBig(Declined):
    """One result would hold more bytes than its store may keep."""


# ------------------------------------------------------------------------------ bytes


def nbytes(obj: Any, _seen: set[int] | None = None) -> int:
    """Bytes of every ndarray and tensor reachable from ``obj`` through dataclasses, dicts, sequences,
    modules and plain attributes, each buffer counted once (views count their base once)."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen or obj is None or isinstance(obj, str | bytes | int | float | bool):
        return len(obj) if isinstance(obj, bytes) else 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        base = obj
        while isinstance(base.base, np.ndarray):
            base = base.base
        if id(base) in seen and base is not obj:
            return 0
        seen.add(id(base))
        return base.nbytes
    if isinstance(obj, torch.Tensor):
        return obj.untyped_storage().nbytes() if obj.device.type != "meta" else 0
    if isinstance(obj, torch.nn.Module):
        return sum(nbytes(t, seen) for t in [*obj.parameters(), *obj.buffers()])
    if isinstance(obj, dict):
        return sum(nbytes(v, seen) for v in obj.values())
    if isinstance(obj, list | tuple | set | frozenset):
        return sum(nbytes(v, seen) for v in obj)
    if dataclasses.is_dataclass(obj):
        return sum(nbytes(getattr(obj, f.name), seen) for f in dataclasses.fields(obj)) + nbytes(getattr(obj, "__dict__", {}), seen)
    if hasattr(obj, "__dict__"):
        return nbytes(vars(obj), seen)
    return 0


# ------------------------------------------------------------------------------ the lane


def _notice(text: str):
    """A spinner with ``text`` when a Streamlit script is running (the visitor sees the wait), else nothing."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        if get_script_run_ctx() is not None:
            import streamlit as st

            return st.spinner(text)
    except ImportError:  # pragma: no cover
        pass
    return contextlib.nullcontext()


class Lane:
    """At most ``slots`` heavy computations at a time, server-wide, in arrival order.

    ``slot(kind)`` estimates the wait (what is left of the running work plus the queued work,
    each from its kind's average duration) and raises ``Busy`` when it passes ``limit``; else it
    queues, shows the wait, and raises ``Busy`` if the wait runs past the limit after all. A
    thread already in the lane passes through (a cached computation may call another).
    """

    def __init__(self, slots: int = 1, limit: float | None = None):
        self.slots = slots
        self.limit = LIMITS.wait_seconds if limit is None else limit
        self.expected: dict[str, float] = {}  # kind -> average seconds (exponential, weight 0.3 for the newest)
        self._cond = threading.Condition()
        self._running: dict[int, tuple[str, float]] = {}  # thread id -> (kind, start)
        self._queue: collections.deque[tuple[int, str]] = collections.deque()
        self._local = threading.local()

    def guess(self, kind: str) -> float:
        return self.expected.get(kind, LIMITS.first_guess_seconds)

    def wait_estimate(self, kind: str | None = None) -> float:
        """Seconds a new request would wait now: the running work's remainder, then the queue's (call with the lock held or not)."""
        now = time.monotonic()
        left = sorted(max(self.guess(k) - (now - start), 0.2) for k, start in self._running.values())
        if len(self._running) < self.slots and not self._queue:
            return 0.0
        queued = sum(self.guess(k) for _, k in self._queue)
        return (left[0] if left else 0.0) + queued / self.slots

    @contextlib.contextmanager
    def visit(self) -> Iterator[None]:
        """One script run of one visitor: all its waits for the lane together stay within ``limit``.

        Without it a visitor could wait the limit for a training, then again for the trace, then again for
        the page (43 s measured for a 20 s limit). Nested visits (the page's fragment inside a full run) share
        the outer one's deadline; a fragment's own rerun starts a new visit.
        """
        depth = getattr(self._local, "visits", 0)
        if depth == 0:
            self._local.visit_deadline = time.monotonic() + self.limit
        self._local.visits = depth + 1
        try:
            yield
        finally:
            self._local.visits = depth
            if depth == 0:
                self._local.visit_deadline = None

    def _allowance(self) -> float:
        """Seconds this thread may still wait: the limit, or what its visit has left of it."""
        deadline = getattr(self._local, "visit_deadline", None)
        return self.limit if deadline is None else min(self.limit, deadline - time.monotonic())

    def holding(self) -> bool:
        """Whether this thread holds a slot (then ``slot`` passes through)."""
        return getattr(self._local, "depth", 0) > 0

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @property
    def running(self) -> int:
        return len(self._running)

    @contextlib.contextmanager
    def slot(self, kind: str, what: str | None = None) -> Iterator[None]:
        """Hold one of the lane's slots for ``kind`` of work (``what``: the visitor's words for it)."""
        me = threading.get_ident()
        if getattr(self._local, "depth", 0):  # nested: this thread holds a slot already
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        what = what or kind
        allowance = self._allowance()
        with self._cond:
            wait = self.wait_estimate(kind)
            if wait > max(allowance, 0.0):  # a free lane serves even a visitor whose allowance is spent
                raise Busy(self._busy_text(what, wait))
            self._queue.append((me, kind))
        deadline = time.monotonic() + allowance
        try:
            ahead = len(self._running) + len(self._queue) - 1
            shown = f"Waiting for the server: {ahead} heavy computation(s) ahead of {what}, about {math.ceil(wait)} s…"
            with _notice(shown) if wait > 0.5 else contextlib.nullcontext(), self._cond:
                while not (len(self._running) < self.slots and self._queue[0][0] == me):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Busy(self._busy_text(what, self.wait_estimate(kind)))
                    self._cond.wait(min(left, 0.5))
                self._queue.popleft()
                self._running[me] = (kind, time.monotonic())
        except BaseException:
            with self._cond:
                with contextlib.suppress(ValueError):
                    self._queue.remove((me, kind))
                self._cond.notify_all()
            raise
        self._local.depth = 1
        start = time.monotonic()
        try:
            yield
        finally:
            took = time.monotonic() - start
            self._local.depth = 0
            with self._cond:
                del self._running[me]
                old = self.expected.get(kind)
                self.expected[kind] = took if old is None else 0.7 * old + 0.3 * took
                self._cond.notify_all()

    def _busy_text(self, what: str, wait: float) -> str:
        ahead = len(self._running) + len(self._queue)
        return (
            f"the server is busy, try again in ~{max(1, math.ceil(wait))} s: {ahead} heavy computation(s) ahead of {what} "
            f"would keep you waiting longer than {self.limit:g} s."
        )


LANE = Lane()


# ------------------------------------------------------------------------------ the stores


class ByteCache:
    """A shared LRU store bounded by bytes (and optionally by entries). ``get(key, compute)`` returns the
    kept value or computes it once, in the lane.

    Concurrent requests for the same key wait (visibly, up to the lane's limit) for one computation
    and share it. A value larger than the whole share is returned but not kept; ``admit`` (given
    the cached function's arguments by ``shared``) refuses a computation before it starts.
    """

    def __init__(
        self,
        name: str,
        budget: int,
        *,
        heavy: bool = True,
        wait: float | None = None,
        max_entries: int | None = None,
        kind: str | None = None,
        lane: Lane | None = None,
        admit: Callable[[dict], None] | None = None,
    ):
        self.name, self.budget, self.heavy, self.max_entries = name, budget, heavy, max_entries
        self.kind = kind or name
        self.admit = admit  # raises TooBig for a computation the store will not take (``shared`` calls it with the arguments)
        self.lane = lane if lane is not None else (LANE if wait is None else Lane(limit=wait))
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self.used = 0
        self.evictions = 0
        self.computed = 0  # values computed (misses); a computation shared by visitors who asked at once counts once
        STORES.append(self)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._items)

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """The kept value for ``key`` (no recency update, no computation), or ``default``."""
        with self._lock:
            item = self._items.get(key)
        return default if item is None else item[0]

    def lookup(self, key: Hashable) -> Any:
        """The kept value for ``key`` (now the most recently used), or ``MISSING``: never computes."""
        with self._lock:
            if key not in self._items:
                return MISSING
            self._items.move_to_end(key)
            return self._items[key][0]

    def get(
        self, key: Hashable, compute: Callable[[], T], *, what: str | None = None, kind: str | None = None, heavy: bool | None = None
    ) -> T:
        """The kept value for ``key``, else ``compute()`` once, in the lane unless ``heavy`` (default: the store's) is False."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        if not key_lock.acquire(blocking=False):  # another visitor is computing this very thing: wait for it and share it
            if self.lane.holding():
                # in the lane already (a cached computation calling another) while the key's holder may be queued for
                # the lane: waiting could deadlock, so compute it here (rare: the same thing asked for twice at once)
                value = compute()
                self.computed += 1
                self._store(key, value)
                return value
            with _notice(f"Another visitor asked for the same {self.name} a moment ago: it is computed once, for both; waiting…"):
                if not key_lock.acquire(timeout=self.lane.limit + self.lane.guess(self.kind)):
                    again = math.ceil(self.lane.guess(self.kind))
                    raise Busy(f"the server is busy computing this {self.name} for another visitor; try again in ~{again} s.")
        try:
            with self._lock:
                if key in self._items:  # computed by another session while we waited
                    self._items.move_to_end(key)
                    return self._items[key][0]
            value = self._compute(compute, what, kind or self.kind, self.heavy if heavy is None else heavy)
            self.computed += 1
            self._store(key, value)
        finally:
            key_lock.release()
            with self._lock:
                if self._key_locks.get(key) is key_lock and not key_lock.locked():
                    self._key_locks.pop(key, None)
        return value

    def _compute(self, compute: Callable[[], T], what: str | None, kind: str, heavy: bool) -> T:
        if not heavy:
            return compute()
        with self.lane.slot(kind, what or f"your {self.name}"):
            return compute()

    def _store(self, key: Hashable, value: Any) -> None:
        size = nbytes(value)
        evicted = 0
        with self._lock:
            if size > self.budget:
                return
            self._items[key] = (value, size)
            self.used += size
            while self.used > self.budget or (self.max_entries is not None and len(self._items) > self.max_entries):
                _, (old, old_size) = self._items.popitem(last=False)
                self.used -= old_size
                evicted += old_size
                self.evictions += 1
                del old
        if evicted > 50 * 2**20:  # a big eviction: free any cycles now (the app runs without Streamlit's per-rerun GC)
            gc.collect()
        _log_totals()

    def discard(self, key: Hashable) -> None:
        """Forget ``key`` (if kept)."""
        with self._lock:
            item = self._items.pop(key, None)
            if item is not None:
                self.used -= item[1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.used = 0


STORES: list[ByteCache] = []
MISSING = object()


def report() -> dict[str, dict[str, int]]:
    """Every store's bytes used and allowed, entries and evictions, and the total against ``LIMITS.server_bytes``."""
    stores = {
        s.name: {"used": s.used, "budget": s.budget, "entries": len(s), "evictions": s.evictions, "computed": s.computed} for s in STORES
    }
    total = {"used": sum(s.used for s in STORES), "budget": LIMITS.server_bytes, "entries": sum(len(s) for s in STORES)}
    return stores | {"total": total | {"evictions": sum(s.evictions for s in STORES)}}


def health() -> dict:
    """``report()``, the lane (running, waiting, each kind's average seconds) and the process's resident memory: ``?health=1``."""
    rss = None
    with contextlib.suppress(OSError, ValueError, IndexError):  # Linux: /proc/self/statm's second field, resident pages
        import os

        rss = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")  # noqa: SIM115 (read once)
    lane = {"running": LANE.running, "waiting": LANE.waiting, "limit_s": LANE.limit, "expected_s": dict(LANE.expected)}
    return {"stores": report(), "lane": lane, "rss_bytes": rss}


def summary() -> str:
    """``report()`` as one line, in MB."""
    parts = [f"{name} {r['used'] / 2**20:.0f}/{r['budget'] / 2**20:.0f} MB ({r['entries']})" for name, r in report().items()]
    return "rnntrace budget: " + ", ".join(parts) + f"; lane: {LANE.running} running, {LANE.waiting} waiting"


_last_log = [0.0, ""]


def _log_totals() -> None:
    now = time.monotonic()
    line = summary()
    if now - _last_log[0] >= 60 and line != _last_log[1]:
        _last_log[:] = [now, line]
        log.info(line)


# ------------------------------------------------------------------------------ a drop-in for st.cache_resource


def shared(store: ByteCache, spinner: str | None = None, *, kind: str | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Keep a function's results in ``store``, keyed on its name and its arguments whose names do not start
    with ``_`` (``st.cache_resource``'s convention: ``_run`` is passed, not hashed).

    ``spinner``: what the visitor reads while it is computed (in the lane); ``kind``: the lane's name for
    this work (its durations are averaged per kind), by default the store's.
    """

    def wrap(func: Callable[..., T]) -> Callable[..., T]:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def cached(*args, **kwargs) -> T:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            key = (func.__qualname__, *((k, v) for k, v in bound.arguments.items() if not k.startswith("_")))
            hit = store.lookup(key)
            if hit is not MISSING:
                return hit

            if store.admit is not None:
                store.admit(dict(bound.arguments))

            def compute() -> T:
                with _notice(spinner) if spinner else contextlib.nullcontext():
                    return func(*bound.args, **bound.kwargs)

            return store.get(key, compute, what=f"your {kind or store.name}", kind=kind)

        cached.store = store
        return cached

    return wrap
