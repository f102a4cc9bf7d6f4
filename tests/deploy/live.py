"""Shared by the live-server tests in this folder: a protocol visitor, many at once, and the server's ``?health=1``.

Not a test module: the tests import it (``tests/deploy`` is on ``sys.path`` when pytest collects them).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "bench")]

from protocol_client import ProtocolError, ProtocolSession  # noqa: E402

BUSY = "try again in ~"  # what every budget.Busy says (the lane's, and a shared computation's that takes too long)


def run(coro):
    """Run ``coro`` on a loop of its own (the test's thread may hold another)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class Visit:
    """One visitor's page load as the server answered it.

    Attributes:
        query: the link opened.
        seconds: from the page request to the run's end (or the error).
        ok: the run ended normally, with no exception element and no error box.
        warnings: the ``st.warning`` texts (URL notices, "busy, try again in ~N s").
        texts: the Markdown and code texts.
        keys: the keyed widgets drawn.
        error: a protocol failure (timeout, closed socket), else ''.
    """

    query: str
    seconds: float = 0.0
    ok: bool = False
    warnings: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def busy(self) -> bool:
        """Told to come back: the warning, and its Try again button."""
        return any(BUSY in w for w in self.warnings) and "busy_retry" in self.keys


async def visit(url: str, query: str, timeout: float = 120.0) -> Visit:
    out = Visit(query)
    session = ProtocolSession(url, query, timeout=timeout)
    start = time.perf_counter()
    try:
        result = await session.open()
        out.ok, out.warnings, out.texts = result.ok, result.warnings, result.texts
        out.errors = result.exceptions + result.error_alerts
        out.keys = set(session.widgets)
    except ProtocolError as err:
        out.error = str(err)
    finally:
        out.seconds = time.perf_counter() - start
        await session.close()
    return out


def visit_all(url: str, queries: list[str], timeout: float = 120.0) -> list[Visit]:
    """Every link opened at once, each by its own visitor."""

    async def crowd():
        return await asyncio.gather(*(visit(url, q, timeout) for q in queries))

    return run(crowd())


def health(url: str) -> dict:
    """The server's ``?health=1`` page: the budget's stores, the lane and the process's resident bytes."""
    page = run(visit(url, "?health=1"))
    assert page.ok and page.texts, (page.error, page.errors)
    return json.loads(page.texts[-1])
