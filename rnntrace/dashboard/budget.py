"""Caches bounded by the bytes they hold, and one lane for heavy work: a public demo that no visitor can stall.

``st.cache_resource(max_entries=12)`` bounds entries, not memory: twelve traces at the demo's
limits hold ~2.9 GB. ``ByteCache`` counts what each entry really holds (every array and
tensor reachable from it, once) and evicts the least recently used entries until the total is
within its budget. The caches are module globals, not ``st.cache_*``: the hidden menu's
"Clear cache" (which any client can send) does not empty them, and nothing but the cache
holds an entry (a session keeps cache keys, never the objects, between reruns).

Heavy work (a new trace, a backward pass) takes the ``HEAVY`` lane: at most one at a time, so
on a 2-core server the other core keeps serving every other session's steps. A request that
waits longer than ``wait`` seconds gets ``Busy`` ("busy, try again") instead of queueing forever.
"""

from __future__ import annotations

import dataclasses
import gc
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np
import torch

T = TypeVar("T")


class Busy(RuntimeError):
    """The heavy lane stayed taken longer than a visitor should wait."""


HEAVY = threading.BoundedSemaphore(1)  # one heavy computation at a time, server-wide


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


class ByteCache:
    """A shared LRU cache bounded by bytes. ``get(key, compute)`` returns the cached value or computes it once.

    Concurrent requests for the same key wait for one computation. A value larger than the whole
    budget is returned but not kept.
    """

    def __init__(self, name: str, budget: int, *, heavy: bool = True, wait: float = 20.0):
        self.name, self.budget, self.heavy, self.wait = name, budget, heavy, wait
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self.used = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:  # computed by another session while we waited
                    self._items.move_to_end(key)
                    return self._items[key][0]
            value = self._compute(compute)
            self._store(key, value)
        with self._lock:
            self._key_locks.pop(key, None)
        return value

    def _compute(self, compute: Callable[[], T]) -> T:
        if not self.heavy:
            return compute()
        if not HEAVY.acquire(timeout=self.wait):
            raise Busy(f"the server is busy with another large computation ({self.name}); try again in a few seconds.")
        try:
            return compute()
        finally:
            HEAVY.release()

    def _store(self, key: Hashable, value: Any) -> None:
        size = nbytes(value)
        evicted = 0
        with self._lock:
            if size > self.budget:
                return
            self._items[key] = (value, size)
            self.used += size
            while self.used > self.budget:
                _, (old, old_size) = self._items.popitem(last=False)
                self.used -= old_size
                evicted += old_size
                del old
        if evicted > 50 * 2**20:  # a big eviction: free any cycles now (the app runs without Streamlit's per-rerun GC)
            gc.collect()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.used = 0
