"""The page as a lecture uses it, in a real 1280×720 Chromium: nothing clipped, one slide per step, keys, clicks.

Geometry, not pixels: no element of the main area is wider than its box, the Step view's
first screen holds the cell diagram and a chart, ``?present=true`` fits one screen; and
behaviour: the keys step t after a sidebar widget was used, clicking a time chart sets t,
``?tour=3`` opens lesson step 3.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("browser_support")
from browser_support import _DONE_JS as DONE_JS  # noqa: E402
from browser_support import RunClock, button, choose, exceptions, open_app, overflowing, slider_value, wait_charts, wait_idle  # noqa: E402

pytest_plugins = ["browser_support"]
pytestmark = pytest.mark.browser

from rnntrace.dashboard.views import NAMES as VIEWS  # noqa: E402  (every tab of the registry)

# Elements of the main area whose content is wider than their own box (scrolling code blocks are allowed to scroll).
_BOTTOM_JS = """(sel) => {
  const e = document.querySelector(sel);
  if (!e) return null;
  const r = e.getBoundingClientRect();
  return [r.top, r.bottom];
}"""


def _open_view(page, server, view: str, query: str = "") -> None:
    open_app(page, server, f"?view={view.replace(' ', '+')}{query}")
    wait_charts(page)


@pytest.mark.parametrize("query", ["", "?cell=LSTM&M=8&D=8", "?cell=GRU&layers=2&bidirectional=true&N=2"])
def test_no_view_overflows_sideways_at_1280(page, streamlit_server, query):
    open_app(page, streamlit_server, query)
    for view in VIEWS:
        page.get_by_role("tab", name=view, exact=True).click()
        wait_idle(page)
        wait_charts(page)
        assert overflowing(page) == [], view


def test_the_step_views_first_screen_holds_the_diagram_and_a_chart(page, streamlit_server):
    open_app(page, streamlit_server)
    wait_charts(page)
    diagram = page.evaluate(_BOTTOM_JS, "[data-testid='stMain'] svg[role='img']")
    chart = page.evaluate(_BOTTOM_JS, "[data-testid='stMain'] .vega-embed")
    assert diagram is not None and chart is not None
    assert diagram[1] <= 720 and chart[1] <= 720, (diagram, chart)


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
@pytest.mark.parametrize("query", ["", "&cell=LSTM", "&cell=GRU"])
def test_presentation_mode_is_one_slide(browser, streamlit_server, size, query):
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": size[0], "height": size[1]}, color_scheme=scheme)
        page = context.new_page()
        RunClock(page).install()  # _press_keeping_focus waits on its record of runs
        page.goto(f"{streamlit_server.url}/?present=true{query}")
        wait_idle(page, timeout=90)
        wait_charts(page)
        height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
        assert height <= size[1] + 2, f"{scheme}: the slide is {height} px tall on a {size[1]} px screen"
        for what in ("[data-testid='stMain'] svg[role='img']", "[data-testid='stMain'] .vega-embed", "[data-testid='stMain'] .katex"):
            box = page.evaluate(_BOTTOM_JS, what)
            assert box is not None and box[1] <= size[1], (scheme, what, box)
        font = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector(\"[data-testid='stMain'] p\")).fontSize)")
        assert font >= 20, f"slide text is {font}px"
        assert overflowing(page) == []
        start = slider_value(page)  # an LSTM's slide opens at t = 1 (c_{t-1} = 0 at t = 0), the others at 0
        assert start == (1 if "LSTM" in query else 0), start
        _press_keeping_focus(page, "ArrowRight")
        assert slider_value(page) == start + 1, "the keys drive the slide"
        assert not exceptions(page)
        context.close()


def _press_keeping_focus(page, key: str) -> None:
    """Press a key without blurring first (RunClock.press blurs, which would hide the bug tested here), wait for the run."""
    since = page.evaluate("() => performance.now()")
    page.keyboard.press(key)
    page.wait_for_function(DONE_JS, arg=since, timeout=60_000, polling=10)


def test_keys_still_step_after_the_sidebar_was_used(page, streamlit_server):
    clock = open_app(page, streamlit_server)
    clock.act(lambda: choose(page, "cell", "GRU"))
    page.locator(".st-key-cell input").focus()  # a select box keeps the focus after a choice
    _press_keeping_focus(page, "ArrowRight")
    assert slider_value(page) == 1
    _press_keeping_focus(page, "End")
    assert slider_value(page) == 9
    page.locator(".st-key-T input").click()  # typing into a field: the keys are the field's
    page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(1500)
    assert slider_value(page) == 9, "an arrow in a text field moves the caret, not t"
    page.locator(".st-key-seed input").blur()
    page.locator(".st-key-bias input").focus()  # a toggle is not a text field
    label = "() => document.querySelector('.rnntrace-stage button[data-action=play]').innerText"
    page.keyboard.press(" ")
    page.wait_for_function(f"() => ({label})().includes('Pause')", timeout=20_000)  # Space plays
    page.keyboard.press(" ")
    page.wait_for_function(f"() => ({label})().includes('Play')", timeout=20_000)  # and pauses


def test_question_mark_lists_the_keys(page, streamlit_server):
    open_app(page, streamlit_server)
    page.keyboard.press("?")
    page.get_by_text("presentation mode on / off").wait_for(timeout=10_000)


def test_clicking_a_time_chart_sets_t(page, streamlit_server):
    _open_view(page, streamlit_server, "Over time", "&T=20")
    chart = page.locator(".rnntrace-stage .chart[data-name='diff'] svg").first
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    # the plot spans t = -0.5 .. 19.5 between the y axis and the right edge; click near the right end
    page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] - 95)  # just above the t axis' labels
    page.wait_for_function("() => new URLSearchParams(location.search).get('t') !== null", timeout=15_000)
    wait_idle(page)  # the stage moved t in the browser (no rerun) and wrote it into the link
    t = int(page.evaluate("() => new URLSearchParams(location.search).get('t')"))
    assert t >= 14, f"clicked near the end, t = {t}"
    assert slider_value(page) == t


def test_tour_3_opens_lesson_step_3(page, streamlit_server):
    open_app(page, streamlit_server, "?tour=3")
    page.get_by_text("Lesson 3 of").wait_for(timeout=30_000)
    button(page, "tour_next").click()
    page.get_by_text("Lesson 4 of").wait_for(timeout=30_000)
    assert page.evaluate("() => new URLSearchParams(location.search).get('tour')") == "4"


@pytest.mark.browser
def test_backward_tab_renders_and_fits_1280_wide(page, streamlit_server):
    """At 1280×720: no exception, every chart drawn, nothing wider than the page; the slide fits one screen."""
    open_app(page, streamlit_server, "?view=Backward&cell=LSTM&T=40&inputs=impulse&t=20")
    drawn = wait_charts(page)
    assert drawn >= 5, f"{drawn} charts drawn"
    assert page.get_by_text("= autograd ✓").first.is_visible()
    assert overflowing(page) == []
    assert not exceptions(page)
    open_app(page, streamlit_server, "?present=true&t=3")
    page.get_by_role("tab", name="Backward", exact=True).click()
    wait_idle(page)
    wait_charts(page)
    height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
    assert height <= 722, f"the Backward slide is {height} px tall on a 720 px screen"
    assert overflowing(page) == []
    assert not exceptions(page)
