"""The lesson's words name what the screen shows (issue 23: "lesson texts match what the screen shows").

- A label the lesson quotes ("next step") is drawn in the picture or is a chart's title on that page.
- The agreement with torch has one name: the status line's "|replay − torch|" is the chart's
  "|replay − torch| per step" that lesson 7 points at (it read "|manual − torch|").
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from apptest import new_app, run_clean, stage_payloads

from rnntrace.dashboard.tour import TOUR

QUOTED = [(k, q) for k, s in enumerate(TOUR, 1) for q in re.findall(r'"([^"]+)"', s.look)]


def picture_texts(at) -> list[str]:
    """Each text element of every picture on the page, its tspans (subscripts) joined."""
    out = []
    for p in stage_payloads(at):
        if p.get("diagram"):
            root = ET.fromstring(p["diagram"]["svg"])
            out += ["".join(e.itertext()) for e in root.iter("{http://www.w3.org/2000/svg}text")]
    return out


def chart_titles(at) -> list[str]:
    """Every chart's title on the page, the stage's and Streamlit's (a title moved by t_now: its expression's text)."""
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    specs += [c["spec"] for p in stage_payloads(at) for c in p["charts"]]
    titles = []
    for spec in specs:
        title = spec.get("title", "")
        title = title.get("text", "") if isinstance(title, dict) else title
        titles.append(title["expr"] if isinstance(title, dict) else str(title))
    return titles


@pytest.mark.parametrize(("k", "quoted"), QUOTED)
def test_what_a_lesson_quotes_is_on_its_page(k, quoted):
    at = run_clean(new_app(tour=k))
    shown = picture_texts(at) + chart_titles(at)
    assert any(quoted in s for s in shown), f"lesson {k} quotes {quoted!r}; the page draws {sorted(set(shown))[:60]}"


def test_the_agreement_chart_has_the_status_lines_name():
    k = next(i for i, s in enumerate(TOUR, 1) if "per step" in s.look and "torch" in s.look)
    assert "|replay − torch| per step" in TOUR[k - 1].look
    at = run_clean(new_app(tour=k))
    titles = chart_titles(at)
    assert "|replay − torch| per step" in titles, titles
    assert not any("manual" in t for t in titles), titles


@pytest.mark.parametrize("view", ["Backward", "Over time"])
def test_a_presentation_link_opens_the_slide_it_names(view):
    """?present=true&view=Backward opens the Backward slide (it opened the Step slide, saying nothing)."""
    from rnntrace.dashboard.views import VIEWS

    (module,) = [v for v in VIEWS if v.TITLE == view]
    assert module.IN_PRESENTATION
    at = run_clean(new_app(present="true", view=view, T=12))
    titles = chart_titles(at)
    expected = {"Backward": "dL/dh_t over time", "Over time": "h_t over time"}[view]
    assert any(expected in t for t in titles), (view, titles)


def test_a_presentation_link_to_a_view_without_a_slide_says_so():
    at = run_clean(new_app(present="true", view="Shapes"))
    said = [c.value for c in at.caption]
    assert any("view=Shapes has no slide" in c for c in said), said
