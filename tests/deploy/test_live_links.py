"""Issue 24's links, clear_cache and health page against a live ``streamlit run app.py``, over Streamlit's protocol.

No browser: ``bench/protocol_client.py`` opens each link as a browser does (page, cookies,
websocket, ``rerun_script`` with the query string) and reads what the server drew: exception
elements, error boxes, warnings, Markdown. Before the fixes, ``?T=inf`` and its kind drew
Streamlit's error box; ``?task=bogus`` and its kind drew nothing at all.

    python -m pytest tests/deploy/test_live_links.py
"""

from __future__ import annotations

import pytest
from browser_support import StreamlitServer
from live import health, run, visit, visit_all
from protocol_client import ProtocolSession


@pytest.fixture(scope="module")
def server():
    with StreamlitServer() as s:
        yield s


# the links that crashed the page (issue 24, finding 4): the parameter each notice must name
CRASHED = [
    ("?T=inf", "T"),
    ("?N=-inf", "N"),
    ("?M=1e309", "M"),
    ("?K=Infinity", "K"),
    ("?layers=inf", "layers"),
    ("?seed=inf", "seed"),
    ("?T=" + "9" * 400, "T"),
    ("?task=memory&task_hidden=inf", "task_hidden"),
    ("?tour=%C2%B2", "tour"),  # ?tour=² as the browser sends it
]
# notices that said the wrong thing or nothing (finding 5; direction and unknown names: round two)
SAID = [
    ("?T=1e3", "T='1e3' read as 1000"),
    ("?task=memory&seed=1e9", "seed='1e9' read as 1000000000"),
    ("?task=bogus", "task='bogus' ignored"),
    ("?task=Memory", "task='Memory' read as memory"),
    ("?task=memory&task_hidden=0", "task_hidden='0' ignored"),
    ("?task=memory&task_hidden=65", "task_hidden='65' ignored"),
    ("?task=memory&task_hidden=nan", "task_hidden='nan' ignored"),
    ("?view=Backward&bp_loss=bogus", "bp_loss='bogus' ignored"),
    ("?view=Backward&bp_param=bogus", "bp_param='bogus' ignored"),
    ("?task=memory&t=1999", "t='1999' ignored"),
    ("?direction=reverse", "direction='reverse' ignored: this layer runs one direction"),
    ("?seeed=3", "seeed='3' ignored: not a parameter of this page (did you mean seed?)"),
]


def _one_notice(page) -> str:
    assert not page.error, page.error
    assert page.ok, f"{page.query}: an error box or exception: {page.errors}"
    notices = [w for w in page.warnings if "URL parameter" in w]
    assert len(notices) == 1, f"{page.query}: one notice expected, got {page.warnings}"
    return notices[0].replace("\\", "")  # the notice is Markdown-escaped


@pytest.mark.parametrize(("query", "name"), CRASHED, ids=[q[:20] for q, _ in CRASHED])
def test_a_link_that_crashed_the_page_gives_one_notice_and_no_error_box(server, query, name):
    page = run(visit(server.url, query))
    notice = _one_notice(page)
    assert f"URL parameter {name}=" in notice, notice
    assert "ignored" in notice, notice
    assert page.keys, "the page was drawn (its widgets are there)"


def test_every_notice_says_what_was_used(server):
    pages = visit_all(server.url, [q for q, _ in SAID])
    for page, (_, says) in zip(pages, SAID, strict=True):
        assert says in _one_notice(page), (page.query, page.warnings)


def test_the_backward_badge_names_an_overflow(server):
    page = run(visit(server.url, "?nonlinearity=relu&w_scale=5&T=200&view=Backward"))
    assert page.ok, page.errors
    text = " ".join(page.texts)
    assert "overflowed at t=" in text and "disagrees nan" not in text


def test_clear_cache_from_a_visitor_leaves_trained_models_in_place(server):
    trained = run(visit(server.url, "?task=sine&cell=GRU&seed=5&view=Backward"))
    assert trained.ok, trained.errors
    before = health(server.url)["stores"]

    async def wipe():
        s = ProtocolSession(server.url, "")
        await s.open()
        await s.clear_cache()  # what any client may send; the server answers nothing
        again = await s.rerun()  # the same socket's next run: the message was handled before it
        await s.close()
        return again

    assert run(wipe()).ok
    after = health(server.url)["stores"]
    for store in ("trained model", "gradients", "trace"):
        assert after[store]["entries"] >= before[store]["entries"] >= 1, (store, before[store], after[store])
    reopened = run(visit(server.url, "?task=sine&cell=GRU&seed=5&view=Backward"))
    assert reopened.ok
    final = health(server.url)["stores"]
    assert final["trained model"]["computed"] == before["trained model"]["computed"], "the model was not trained again"
    assert final["gradients"]["computed"] == before["gradients"]["computed"], "nor its gradients computed again"


def test_the_health_page_reports_every_store_against_the_server_budget(server):
    report = health(server.url)
    stores = report["stores"]
    names = {"trace", "gradients", "trained model", "task page trace", "download", "stage payload", "time chart", "upload"}
    assert names <= set(stores), sorted(stores)
    assert sum(stores[n]["budget"] for n in names) <= stores["total"]["budget"]
    assert all(stores[n]["used"] <= stores[n]["budget"] for n in stores)
    assert report["lane"]["limit_s"] > 0 and report["rss_bytes"] > 0
