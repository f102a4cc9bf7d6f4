"""The Task page's charts built once for every visitor, in the heavy lane (issue 24, round two).

60 visitors opening a task page at once each waited ~37 s and none was told "busy": every page
built its six charts again (0.6 CPU-s, under a lock Streamlit holds for every session), outside
the lane. Now each chart is built once, in the lane, and kept (``time_charts.CHARTS``).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rnntrace.dashboard import budget, time_charts

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TASK_LINK = {"task": "memory", "cell": "LSTM", "view": "Task"}


def opened(query: dict) -> AppTest:
    """A new visitor (a new session) opening the link."""
    at = AppTest.from_file(APP, default_timeout=300)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def drawn_charts(at: AppTest) -> list[tuple]:
    """Every Vega-Lite chart as sent: its spec text and its datasets' bytes."""
    return [(c.proto.spec, [(d.name, d.data.data) for d in c.proto.datasets]) for c in at.get("vega_lite_chart")]


def test_a_second_visitor_gets_the_same_task_page_with_no_chart_built_again():
    first = opened(TASK_LINK)
    built = time_charts.CHARTS.computed
    second = opened(TASK_LINK)
    assert time_charts.CHARTS.computed == built, "the second visitor built no chart"
    assert drawn_charts(second) == drawn_charts(first) and len(drawn_charts(first)) >= 5
    titles = [json.loads(spec)["title"]["text"] for spec, _ in drawn_charts(first)]
    assert "P(marked bit = 1) vs the bit" in titles and "h_t after training" in titles, titles


def test_a_kept_chart_is_the_chart_streamlit_would_send():
    """What ``show`` keeps and sends is what ``st.altair_chart`` sends for the same chart (spec and Arrow data)."""
    import numpy as np
    from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

    from rnntrace.dashboard import charts

    chart = time_charts.aligned(charts.hidden_heatmap(np.linspace(-1, 1, 40).reshape(10, 4), 3, title="h", bound=1.0))
    direct = _convert_altair_to_vega_lite_spec(chart)
    kept = time_charts.drawn(time_charts.streamlit_spec(chart))
    assert kept == direct


def test_a_task_page_beyond_the_wait_limit_says_busy_with_a_retry(monkeypatch):
    opened(TASK_LINK)  # the model trained and the traces kept: only the page's charts need the lane below
    time_charts.CHARTS.clear()
    monkeypatch.setattr(budget.LANE, "limit", 1.0)
    monkeypatch.setitem(budget.LANE.expected, "held", 30.0)
    started, release = threading.Event(), threading.Event()

    def hold():
        with budget.LANE.slot("held"):
            started.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        started.wait(5)
        at = AppTest.from_file(APP, default_timeout=300)
        for k, v in TASK_LINK.items():
            at.query_params[k] = v
        at.run()
    finally:
        release.set()
        holder.join()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    busy = [w.value for w in at.warning if "busy, try again in ~" in w.value]
    assert busy and "your charts" in busy[0], [w.value for w in at.warning]
    assert at.button(key="busy_retry").label == "Try again"


@pytest.fixture(autouse=True)
def _lane_free():
    yield
    assert budget.LANE.running == 0 and budget.LANE.waiting == 0
