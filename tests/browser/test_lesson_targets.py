"""A student alone, in Chromium at 1280×720 with the sidebar open: each lesson step's target is on screen.

For every ``?tour=k`` the element the lesson names is the one whose ``aria-describedby`` points at
the lesson's "Look at" line, and it lies whole inside the viewport (axes included: the whole
element box), below the lesson panel, whose look line stays on screen. The panel's buttons say
what they do. Keys: a focused speed box and the t slider keep their arrow keys.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("browser_support")
from browser_support import button, exceptions, open_app, slider_value, stage_status  # noqa: E402

from rnntrace.dashboard.tour import LOOK_ID, TOUR  # noqa: E402

pytest_plugins = ["browser_support"]  # its fixtures: streamlit_server, browser, page
pytestmark = pytest.mark.browser

FIND = """(look) => {
  const els = [...document.querySelectorAll(`[aria-describedby="${look}"]`)];
  const text = document.getElementById(look);
  return els.map((el) => {
    const r = el.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, w: innerWidth, h: innerHeight,
            outlined: el.classList.contains("rnntrace-lesson-target"), look: text ? text.innerText : null,
            look_top: text ? text.getBoundingClientRect().top : null, look_bottom: text ? text.getBoundingClientRect().bottom : null,
            panel_bottom: document.querySelector(".st-key-tour_panel").getBoundingClientRect().bottom};
  });
}"""


def target(page, timeout_s: float = 30.0) -> dict:
    """The one element the lesson points at, once it is marked and has stopped moving."""
    last = None
    for _ in range(int(timeout_s / 0.25)):
        found = page.evaluate(FIND, LOOK_ID)
        if len(found) == 1 and found[0] == last:
            return found[0]
        last = found[0] if len(found) == 1 else None
        page.wait_for_timeout(250)
    raise AssertionError(f"no single element described by the lesson's look line: {page.evaluate(FIND, LOOK_ID)}")


@pytest.mark.parametrize("k", range(1, len(TOUR) + 1))
def test_each_lesson_step_shows_what_it_names_whole_on_the_first_screen(page, streamlit_server, k):
    page.set_viewport_size({"width": 1280, "height": 720})
    open_app(page, streamlit_server, f"?tour={k}")
    box = target(page)
    assert box["outlined"], "the target is highlighted"
    assert box["look"] and box["look"].startswith("Look at"), box["look"]
    inside = 0 <= box["top"] and box["bottom"] <= box["h"] and 0 <= box["left"] and box["right"] <= box["w"]
    assert inside, f"lesson {k} ({TOUR[k - 1].title}): its target {TOUR[k - 1].target} is not whole on the screen: {box}"
    # the look line that names it stays on screen too (the panel sticks under the header), and covers none of it
    assert 0 <= box["look_top"] and box["look_bottom"] <= box["h"], f"lesson {k}: the look line left the screen: {box}"
    assert box["top"] >= box["panel_bottom"] - 1, f"lesson {k}: the lesson panel covers the top of its target: {box}"
    sidebar = page.locator("[data-testid='stSidebar']")
    assert sidebar.is_visible() and sidebar.bounding_box()["width"] > 200, "the sidebar stays open"
    labels = [button(page, key).inner_text() for key in ("tour_back", "tour_next", "tour_leave")]
    assert [label.split("\n")[-1].strip() for label in labels] == ["Back", "Next lesson step", "Leave lesson"], labels
    assert not exceptions(page)


def test_leaving_the_lesson_removes_the_mark(page, streamlit_server):
    open_app(page, streamlit_server, "?tour=2")
    target(page)
    button(page, "tour_leave").click()
    page.wait_for_function("() => !document.querySelector('.rnntrace-lesson-target')", timeout=30_000)
    assert page.evaluate("(look) => document.querySelectorAll(`[aria-describedby='${look}']`).length", LOOK_ID) == 0
    assert not exceptions(page)


def test_a_focused_speed_box_and_t_slider_keep_their_arrow_keys(page, streamlit_server):
    open_app(page, streamlit_server, "?T=12&t=5")
    speed = page.locator(".rnntrace-stage select").first
    before_speed, before_t = speed.input_value(), slider_value(page)
    speed.focus()
    page.keyboard.press("ArrowDown")
    page.wait_for_timeout(300)
    assert speed.input_value() != before_speed, "ArrowDown on the focused speed box picks the next speed"
    assert slider_value(page) == before_t, "...and does not step t"
    page.locator(".rnntrace-stage input[type=range]").first.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('.rnntrace-stage').dataset.t === '6'", timeout=10_000)
    assert "t = 6" in stage_status(page)
    page.locator("[data-testid='stMain'] h4").first.click()  # focus on the page: ← steps t back
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => document.querySelector('.rnntrace-stage').dataset.t === '5'", timeout=10_000)
