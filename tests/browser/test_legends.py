"""Every colour scale on the page has a legend (issue 23): each heatmap of every view, and the picture, in Chromium.

A chart is read as Vega drew it (SVG): a mark group of rectangles with many different fills is a
colour-scaled heatmap (a bar chart's bars share one or two fills), and each such group needs a
legend in its chart (Vega draws a gradient legend per colour scale: ``g.role-legend``). The
views are the registry's (``rnntrace.dashboard.views.VIEWS``) that draw charts; the picture
of the Step view names its colour ramps under it (σ 0..1 viridis, the red–white–blue of tanh).
The Backward slide (``?present=true``) keeps its heatmap's legends, upright beside the plot, on one screen;
the Step slide's picture leaves its ramps out (one screen: the picture, the state chart, the equations).

    python -m pytest tests/browser/test_legends.py
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("browser_support")
from browser_support import exceptions, wait_charts  # noqa: E402
from test_stage_browser import open_stage  # noqa: E402

pytest_plugins = ["browser_support"]
pytestmark = pytest.mark.browser

READ = r"""() => [...document.querySelectorAll("[data-testid='stMain'] svg.marks")].map((svg) => {
  const heat = [...svg.querySelectorAll('g.role-mark')].filter((g) => {
    if (!/mark-rect/.test(g.getAttribute('class'))) return false;
    const fills = new Set([...g.children].map((c) => c.getAttribute('fill')));
    return g.children.length >= 8 && fills.size >= 6;  // a colour scale: many values, many colours
  });
  const legends = [...svg.querySelectorAll('g.role-legend')].filter((l) => l.querySelector('.role-legend-gradient, g.role-legend-symbol'));
  return { title: svg.querySelector('.role-title-text')?.textContent || '(untitled)', heatmaps: heat.length, legends: legends.length };
})"""

PAGES = {
    # name: (configuration, the heatmaps this page must have at least: so the check cannot pass on an empty page)
    "Step-GRU": ({"cell": "GRU", "T": 12, "M": 4, "seed": 1, "view": "Step"}, 0),
    "Over time-LSTM": ({"cell": "LSTM", "T": 30, "M": 6, "seed": 2, "view": "Over time"}, 2),
    "Backward-RNN": ({"cell": "RNN", "T": 40, "seed": 0, "view": "Backward"}, 3),
    "Backward-GRU-T100": ({"cell": "GRU", "T": 100, "M": 4, "seed": 1, "view": "Backward"}, 3),
    "Weights-LSTM": ({"cell": "LSTM", "T": 12, "M": 4, "seed": 2, "view": "Weights"}, 2),
    "Compare": ({"cell": "GRU", "T": 20, "M": 4, "seed": 1, "view": "Compare"}, 6),
    "Task-memory": ({"cell": "LSTM", "task": "memory", "view": "Task"}, 2),
    "Task-sine": ({"cell": "GRU", "task": "sine", "view": "Task"}, 2),
    "Task-chars": ({"cell": "GRU", "task": "chars", "view": "Task"}, 2),
    "Over time-RNN": ({"cell": "RNN", "T": 20, "seed": 3, "view": "Over time"}, 1),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_every_colour_scale_on_the_page_has_a_legend(page, streamlit_server, name):
    config, least = PAGES[name]
    open_stage(page, streamlit_server, config)
    wait_charts(page, timeout=120)
    charts = page.evaluate(READ)
    heatmaps = sum(c["heatmaps"] for c in charts)
    assert heatmaps >= least, f"{name}: {heatmaps} heatmaps found, expected at least {least}: {charts}"
    missing = [c for c in charts if c["heatmaps"] > c["legends"]]
    assert not missing, f"{name}: colour scales without a legend: {missing}"
    pictures = page.locator("[data-testid='stMain'] .rnntrace-stage .diagram svg")
    for i in range(pictures.count()):  # each picture's colour scales: a ramp per scheme its boxes use
        svg = pictures.nth(i)
        legend = " ".join(svg.locator("text.legend").all_text_contents())
        sigma = svg.locator(", ".join(f"g.box[data-field='{g}_t']" for g in "ifozr")).count() > 0  # σ gates: viridis
        assert "tanh and the rest" in legend, f"{name}: the picture's red–white–blue scale has no legend: {legend!r}"
        assert ("σ gates" in legend) == sigma, f"{name}: the picture's σ scale (viridis) legend: {legend!r}"
    assert pictures.count() >= (1 if config["view"] == "Step" else 0)
    assert not exceptions(page)


def test_the_backward_slide_keeps_its_heatmaps_legends_on_one_screen(page, streamlit_server):
    open_stage(page, streamlit_server, {"present": True, "T": 30}, t=12)
    page.get_by_role("tab", name="Backward").click()
    page.locator("[data-testid='stMain'] svg.marks").first.wait_for(timeout=60_000)
    wait_charts(page, timeout=120)
    charts = page.evaluate(READ)
    assert sum(c["heatmaps"] for c in charts) >= 2, charts
    missing = [c for c in charts if c["heatmaps"] > c["legends"]]
    assert not missing, f"the slide's colour scales without a legend: {missing}"
    height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
    assert height <= 720 + 2, f"the Backward slide is {height} px tall on a 720 px screen"
    page.screenshot(path="artifacts/screenshots/backward_slide_legends_1280x720.png")
    assert not exceptions(page)
