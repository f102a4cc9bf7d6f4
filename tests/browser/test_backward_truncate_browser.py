"""The Backward view with a truncation cut, in Chromium at 1280×720: drawn, legible, on one screen as a slide."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("browser_support")
from browser_support import exceptions, overflowing, wait_charts, wait_idle  # noqa: E402

pytest_plugins = ["browser_support"]  # its fixtures: streamlit_server, browser, page

LINK = "?view=Backward&cell=LSTM&T=24&bp_truncate=6&bp_loss=every%20step&t=11"


@pytest.mark.browser
def test_truncated_backward_view_fits_1280_and_the_badge_is_whole(page, streamlit_server):
    page.goto(f"{streamlit_server.url}/{LINK}")
    wait_idle(page, timeout=120)
    assert wait_charts(page) >= 5
    badge = page.get_by_text("= autograd ✓").first
    assert badge.is_visible()
    assert badge.inner_text().rstrip().endswith("k = 6"), badge.inner_text()
    clipped = badge.evaluate("e => e.scrollWidth > e.clientWidth + 1")
    assert not clipped, "the badge is cut off"
    assert page.get_by_role("spinbutton", name="detach every k").input_value() == "6"
    assert overflowing(page) == []
    assert not exceptions(page)


@pytest.mark.browser
def test_the_slide_with_a_cut_fits_one_screen(page, streamlit_server):
    page.goto(f"{streamlit_server.url}/{LINK}")
    wait_idle(page, timeout=120)
    page.get_by_text("Presentation").click()
    wait_idle(page, timeout=120)
    page.get_by_role("tab", name="Backward", exact=True).click()
    wait_idle(page, timeout=120)
    wait_charts(page)
    assert page.get_by_text("Truncated:").first.is_visible()
    height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
    assert height <= 722, f"the Backward slide with a cut is {height} px tall on a 720 px screen"
    assert overflowing(page) == []
    assert not exceptions(page)
