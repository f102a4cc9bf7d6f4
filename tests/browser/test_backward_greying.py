"""The Backward view in Chromium at 1280×720, sidebar open: what each chart greys is what its caption says, and its t axis fits.

The backward pass walks t = T−1 down to 0 (a reverse direction's walks up), so at step t the
steps it has not reached yet are those before t (after t in reverse). Every chart of the view
with a t axis (the ‖dL/dh_t‖ strip and heatmap, the norm chart, the input strip, ‖∂h_t/∂h_{t−1}‖,
each step's share of a weight's gradient) is read as Vega drew it (SVG renderer: one element per
datum, its ``opacity`` attribute, its position mapped to t through the axis' own labels) and:

- its caption names exactly the steps greyed (``greyed: ... (t < 40)``), or says nothing is greyed;
- every data mark of a step not reached is faded (opacity <= 0.3) and every one reached is not
  (opacity >= 0.99); the shaded band behind the data greys the same steps;
- scrolled into view, its t axis lies inside the viewport and the main column.

    python -m pytest tests/browser/test_backward_greying.py
"""

from __future__ import annotations

import re

import pytest

pytest.register_assert_rewrite("browser_support")
from browser_support import exceptions  # noqa: E402
from test_stage_browser import open_stage  # noqa: E402

pytest_plugins = ["browser_support"]
pytestmark = pytest.mark.browser

READ = r"""(i) => {
  const el = [...document.querySelectorAll("[data-testid='stMain'] [data-testid='stVegaLiteChart']")][i];
  el.scrollIntoView({ block: 'end' });
  const svg = el.querySelector('svg.marks');
  const axis = [...svg.querySelectorAll('g.role-axis')].find((a) => (a.getAttribute('aria-label') || '').startsWith('X-axis'));
  const box = (e) => { const r = e.getBoundingClientRect(); return { l: r.left, r: r.right, t: r.top, b: r.bottom }; };
  const labels = [...axis.querySelectorAll('g.role-axis-label text')].map((e) => [Number(e.textContent), box(e)]);
  const main = document.querySelector("[data-testid='stMain']").getBoundingClientRect();
  return {
    title: svg.querySelector('.role-title-text')?.textContent || '',
    caption: [...svg.querySelectorAll('.role-title-subtitle')].map((e) => e.textContent).join(' | '),
    axis: { label: axis.getAttribute('aria-label'), ...box(axis) }, chart: box(el), w: innerWidth, h: innerHeight, main: main.right,
    labels: labels.map(([v, b]) => [v, (b.l + b.r) / 2]),
    marks: [...svg.querySelectorAll('g.role-mark')].map((g) => ({
      name: g.getAttribute('class'),
      items: [...g.children].map((c) => { const b = box(c); return [b.l, b.r, Number(c.getAttribute('opacity') ?? 1)]; }),
    })),
  };
}"""

CASES = {
    # name: (configuration, t, the walk's direction)
    "rnn-T100-forward": ({"cell": "RNN", "T": 100, "seed": 0, "view": "Backward"}, 40, False),
    "lstm-T200-forward": ({"cell": "LSTM", "T": 200, "M": 4, "seed": 2, "view": "Backward"}, 150, False),
    "gru-T100-reverse": (
        {"cell": "GRU", "T": 100, "M": 4, "bidirectional": True, "direction": "reverse", "seed": 1, "view": "Backward"},
        40,
        True,
    ),
}


def to_t(labels: list) -> callable:
    """x (px) -> t, from the axis' own labels (a linear scale)."""
    (v0, x0), (v1, x1) = labels[0], labels[-1]
    return lambda x: v0 + (x - x0) * (v1 - v0) / (x1 - x0)


@pytest.mark.parametrize("name", list(CASES))
def test_each_backward_chart_greys_what_its_caption_says_and_its_t_axis_fits(page, streamlit_server, name):
    config, t, reverse = CASES[name]
    open_stage(page, streamlit_server, config, t=t)
    sidebar = page.locator("[data-testid='stSidebar']")
    assert sidebar.is_visible() and sidebar.bounding_box()["width"] > 200, "the sidebar is open"
    n = page.locator("[data-testid='stMain'] [data-testid='stVegaLiteChart']").count()
    assert n >= 5, f"the Backward view drew {n} charts"
    greyed_charts = 0
    for i in range(n):
        chart = page.evaluate(READ, i)
        a, what = chart["axis"], chart["title"]
        # the axis: inside the screen and the main column once the chart is scrolled into view
        assert a["l"] >= chart["chart"]["l"] - 1 and a["r"] <= min(chart["w"], chart["main"]) + 1, (what, a, chart["chart"])
        assert 0 <= a["t"] and a["b"] <= chart["h"], f"{what}: its axis spans y {a['t']:.0f}..{a['b']:.0f} on a {chart['h']} px screen"
        if not a["label"].startswith("X-axis titled 't'"):
            assert "greyed" not in chart["caption"], what  # the flow matrix: s across, nothing greyed
            continue
        nothing = "nothing greyed" in chart["caption"]
        said = re.search(r"greyed: the steps the backward pass has not reached yet at t = (\d+) \(t ([<>]) (\d+)\)", chart["caption"])
        assert nothing or said, f"{what}: the caption does not say what is greyed: {chart['caption']!r}"
        if said:  # what the caption says, read back: then the marks must grey exactly that
            assert int(said[1]) == t == int(said[3]), (what, said[0])
            walks_up = said[2] == ">"
            if what.startswith("dL/dh_t") or what.startswith("‖dL/dh_t‖") or what.startswith("‖∂h_t"):
                assert walks_up == reverse, f"{what}: the shown direction's pass walks {'up' if reverse else 'down'}: {said[0]}"
        x_to_t = to_t(chart["labels"])
        rev = bool(said) and said[2] == ">"
        checked, wrong = 0, []
        for mark in chart["marks"]:
            if not re.search(r"mark-(rect|symbol)", mark["name"]) or len(mark["items"]) < 10:
                continue  # rules (t, cuts), text, the norm chart's two region bands
            band = "steps_marks" in mark["name"]  # the band behind the data: shaded, or there only to be clicked
            for left, right, opacity in mark["items"]:
                lo, hi = sorted((x_to_t(left), x_to_t(right)))
                if hi - lo > 20 or right - left < 0.5:
                    continue  # a full-width mark, or one with no width
                not_reached = (lo > t + 0.5) if rev else (hi < t - 0.5)
                reached = (hi > t + 0.5) if not rev else (lo < t - 0.5)
                if lo <= t <= hi or not (reached or not_reached):
                    continue  # the step t itself (a bucket holding it)
                faded = opacity <= (0.3 if not band else 0.25) and (opacity >= 0.15 if band else True)
                should = not_reached and not nothing
                ok = faded if should else opacity >= (0.99 if not band else 0.0) and (opacity <= 0.01 if band else True)
                checked += 1
                if not ok:
                    wrong.append((mark["name"], round(lo, 1), round(hi, 1), opacity))
        assert checked > 0, what
        assert not wrong, f"{what}: {len(wrong)} of {checked} marks not greyed as the caption says, e.g. {wrong[:4]}"
        if nothing:
            assert not said, (what, chart["caption"])
            continue
        greyed_charts += 1
    assert greyed_charts >= 4, f"only {greyed_charts} charts grey the steps not reached"
    page.screenshot(path=f"artifacts/screenshots/backward_{name}_1280x720.png")
    assert not exceptions(page)
