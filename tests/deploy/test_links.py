"""A link reproduces the screen: the URL the server writes keeps every sidebar value, defaults included.

Spoken over Streamlit's own websocket protocol (``bench/protocol_client.py``), as a browser does:
the server rewrites the address bar (``page_info_changed``) when a widget bound to the URL
changes. A widget leaves out a value equal to its *default*, so that default must be the
lesson's (bias on, T=10), not Streamlit's (False, the minimum): else ``bias=false`` or ``T=1``
vanish from the link and opening it shows something else.

    python -m pytest tests/deploy/test_links.py
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import urllib.parse

import pytest
from browser_support import REPO, StreamlitServer

sys.path.insert(0, str(REPO / "bench"))
from protocol_client import ProtocolSession


@pytest.fixture(scope="module")
def server():
    with StreamlitServer() as s:
        yield s


def _run(coro):
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:  # a loop of its own (Playwright may hold this one's)
        return pool.submit(asyncio.run, coro).result()


async def _walk(url: str) -> list[dict[str, str]]:
    """Open a link, turn the bias off, set T=1, then a seed: the query after each, as the server wrote it."""
    s = ProtocolSession(url, "?cell=GRU&T=20")
    await s.open()
    seen = []
    for key, value in (("bias", False), ("T", 1), ("seed", 3)):
        run = await s.set_widget(key, value)
        assert run.ok, (key, run.exceptions, run.error_alerts)
        seen.append(dict(urllib.parse.parse_qsl(s.query.lstrip("?"))))
    reopened = ProtocolSession(url, "?" + urllib.parse.urlencode(seen[-1]))
    await reopened.open()
    seen.append({k: str(reopened.value(k)) for k in ("bias", "T", "seed")})
    await s.close()
    await reopened.close()
    return seen


def test_a_link_keeps_values_equal_to_streamlits_own_defaults(server):
    after_bias, after_T, after_seed, reopened = _run(_walk(server.url))
    assert after_bias.get("bias") == "false", after_bias
    assert after_T.get("bias") == "false" and after_T.get("T") == "1", after_T
    assert after_seed == {"cell": "GRU", "T": "1", "bias": "false", "seed": "3"} | {
        k: v for k, v in after_seed.items() if k not in ("cell", "T", "bias", "seed")
    }, after_seed
    assert reopened == {"bias": "False", "T": "1", "seed": "3"}, f"the link opened as {reopened}"
