"""What the page draws reads right at 1280×720, in Chromium: nothing drawn over something else.

- A slide (``?present=true``) is one screen, its picture whole, however many units.
- A colour legend's title and its gradient's labels do not overlap (the first label is centred on
  the gradient's left end, under a title put left of it: "h_t ±0.505" ran into "−0.50").

    python -m pytest tests/browser/test_screen_reads.py
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("browser_support")
from browser_support import exceptions, wait_charts  # noqa: E402
from test_stage_browser import open_stage  # noqa: E402

pytest_plugins = ["browser_support"]
pytestmark = pytest.mark.browser

# every (legend title line, gradient label) pair of boxes that intersect, as Vega drew them (SVG)
LEGEND_OVERLAPS = """() => {
  const hits = [];
  const legends = [...document.querySelectorAll("[data-testid='stMain'] g.role-legend")];
  for (const legend of legends) {
    const titles = [...legend.querySelectorAll('g.role-legend-title text')];
    const labels = [...legend.querySelectorAll('g.role-legend-label text')];
    for (const a of titles) for (const b of labels) {
      const p = a.getBoundingClientRect(), q = b.getBoundingClientRect();
      const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
      const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
      if (w > 0.5 && h > 0.5) hits.push(`${a.textContent} over ${b.textContent} (${w.toFixed(1)} px)`);
    }
  }
  return { legends: legends.length, hits };
}"""

LEGEND_PAGES = {
    "Compare": {"cell": "GRU", "T": 20, "M": 4, "seed": 1, "view": "Compare"},
    "Compare-default": {"view": "Compare"},
    "Over time-LSTM": {"cell": "LSTM", "T": 30, "M": 6, "seed": 2, "view": "Over time"},
    "Backward-GRU-T100": {"cell": "GRU", "T": 100, "M": 4, "seed": 1, "view": "Backward"},
}


@pytest.mark.parametrize("name", list(LEGEND_PAGES))
def test_no_legend_title_runs_into_its_labels(page, streamlit_server, name):
    open_stage(page, streamlit_server, LEGEND_PAGES[name])
    wait_charts(page, timeout=120)
    found = page.evaluate(LEGEND_OVERLAPS)
    assert found["legends"] >= 2, f"{name}: {found['legends']} legends drawn; the check needs some"
    assert not found["hits"], f"{name}: legend titles over labels: {found['hits']}"
    assert not exceptions(page)


SLIDE_BOTTOMS = """() => {
  const main = document.querySelector("[data-testid='stMain']");
  const pictures = [...document.querySelectorAll('.rnntrace-stage .diagram svg')].map((s) => s.getBoundingClientRect());
  const px = (key) => pictures.map((r) => Math.round(r[key]));
  return { scroll: main.scrollHeight, bottoms: px('bottom'), heights: px('height') };
}"""


@pytest.mark.parametrize("config", [{"cell": "LSTM", "M": 8}, {"cell": "GRU", "M": 12}, {"task": "memory"}], ids=str)
def test_a_slide_with_many_units_keeps_its_picture_on_the_screen(page, streamlit_server, config):
    """The slide (?present=true) is one 1280×720 screen: the LSTM picture at M = 8 ended at 801 px."""
    open_stage(page, streamlit_server, {**config, "present": True})
    wait_charts(page, timeout=120)
    found = page.evaluate(SLIDE_BOTTOMS)
    assert found["bottoms"] and max(found["bottoms"]) <= 720, found
    assert found["scroll"] <= 720 + 2, found
    assert min(found["heights"]) >= 250, f"the picture must stay readable, not shrink to nothing: {found}"
    assert not exceptions(page)
