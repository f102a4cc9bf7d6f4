"""The dashboard in a real browser: ``streamlit run app.py`` driven by Debian's headless Chromium.

What AppTest cannot see: the shortcuts (← → P), the URL the browser shows, lazily loaded
widgets, Vega charts drawn, uploads through the file input, the dark theme. One server
for the session (``browser_support.streamlit_server``); every test opens fresh pages and
ends by checking that no exception box was drawn.

    python -m pytest tests/browser/test_browser.py          # about 2 minutes here
    RNNTRACE_REQUIRE_BROWSER=1 python -m pytest tests/browser/test_browser.py   # no Chromium = failure

Screenshots of the key states land in artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import time
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

pytest.register_assert_rewrite("browser_support")  # before its import, so that pytest_plugins below can load it
from browser_support import (  # noqa: E402
    EXCEPTION,
    SCREENSHOTS,
    RunClock,
    agrees,
    choose,
    exceptions,
    main_text,
    open_app,
    slider,
    slider_value,
    stage_button,
    stage_status,
    take_screenshots,
    type_number,
    url_params,
    wait_charts,
    wait_idle,
)

pytest_plugins = ["browser_support"]  # its fixtures: streamlit_server, browser, page
pytestmark = pytest.mark.browser


def test_first_load_shows_the_lesson(page, streamlit_server):
    open_app(page, streamlit_server)
    assert page.get_by_role("heading").filter(has_text="nn.RNN(tanh) + nn.Linear").first.is_visible()
    assert agrees(page)
    assert agrees(page)
    assert slider_value(page) == 0
    assert page.locator(".katex").count() > 0, "the step's equations are drawn"
    assert page.locator("[data-testid='stDataFrame']").count() > 0
    assert page.get_by_role("tab", name="Step", exact=True).get_attribute("aria-selected") == "true"
    assert not exceptions(page)


def test_stepping_with_buttons_and_arrow_keys(page, streamlit_server):
    clock = open_app(page, streamlit_server)
    for expected in [1, 2]:
        clock.act(lambda: stage_button(page, "next").click())
        assert slider_value(page) == expected
        assert url_params(page).get("t") == str(expected)
    clock.act(lambda: stage_button(page, "prev").click())
    assert slider_value(page) == 1
    for key, expected in [("ArrowRight", 2), ("ArrowRight", 3), ("ArrowLeft", 2)]:
        clock.press(key)
        assert slider_value(page) == expected, key
        assert url_params(page).get("t") == str(expected)
    assert stage_status(page).startswith("t = 2 of 0..9"), "the stage's status follows t"
    latex = page.evaluate("() => [...document.querySelectorAll('.katex-mathml annotation')].map((e) => e.textContent).join(' ')")
    assert "h_{2}" in latex.replace(" ", ""), "the equations under the stage follow the settled t"
    clock.press("End")
    assert slider_value(page) == 9
    clock.press("ArrowRight")  # clamps at the end
    assert slider_value(page) == 9
    clock.press("Home")
    assert slider_value(page) == 0
    assert not exceptions(page)


def test_play_steps_on_its_own_and_pause_stops(page, streamlit_server):
    open_app(page, streamlit_server, "?T=10")
    page.keyboard.press("Space")  # play, at 1 step/s
    deadline = time.monotonic() + 30
    while slider_value(page) < 2 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert slider_value(page) >= 2, "playing advances t without any key press"
    page.keyboard.press("Space")  # pause
    time.sleep(2.5)  # a tick already under way may still land
    paused = slider_value(page)
    time.sleep(3)
    assert slider_value(page) == paused, "paused: t stays put"
    assert not exceptions(page)


def test_changing_cell_and_size_updates_the_page(page, streamlit_server):
    clock = open_app(page, streamlit_server)
    clock.act(lambda: choose(page, "cell", "LSTM"))
    assert "nn.LSTM" in main_text(page)
    assert page.locator(".katex").filter(has_text="f").count() > 0, "the LSTM's equations are drawn"
    clock.act(lambda: type_number(page, "T", 15))
    assert "T=15" in main_text(page)
    # the stage (a component) redraws its slider just after the script run ends: wait for it, up to 15 s
    expect(slider(page)).to_have_attribute("max", "14", timeout=15_000)
    assert url_params(page) | {"cell": "LSTM", "T": "15"} == url_params(page)
    assert agrees(page)
    assert not exceptions(page)


# (tab, what its content must show)
TAB_CONTENT = {
    "Step": ".katex",
    "Over time": ".vega-embed",
    "Shapes": "[data-testid='stDataFrame']",
    "Weights": ".vega-embed",
    "Code": "[data-testid='stCode']",
    "Export": "[data-testid='stDownloadButton']",
}


def test_every_tab_shows_its_content(page, streamlit_server):
    clock = open_app(page, streamlit_server, "?cell=GRU")
    for name, selector in TAB_CONTENT.items():
        tab = page.get_by_role("tab", name=name, exact=True)
        if tab.get_attribute("aria-selected") != "true":
            clock.act(tab.click)
        assert tab.get_attribute("aria-selected") == "true"
        panel = page.locator("[data-testid='stTabPanel']:visible")
        panel.locator(selector).first.wait_for(state="visible", timeout=30_000)
        if name != "Step":
            assert url_params(page).get("view") == name
        if selector == ".vega-embed":
            drawn = wait_charts(page)
            assert drawn >= (4 if name == "Over time" else 3), f"{name}: {drawn} charts"
            assert page.locator(".vega-embed canvas, .vega-embed svg").count() >= drawn
        if name == "Code":
            assert "def cell(" in panel.locator("[data-testid='stCode']").first.inner_text()
        if name == "Export":
            assert panel.get_by_role("button", name="trace.csv").count() == 1
        assert not exceptions(page), name


def test_url_round_trip_reproduces_the_view(page, browser, streamlit_server):
    clock = open_app(page, streamlit_server)
    clock.act(lambda: choose(page, "cell", "GRU"))
    for _ in range(3):
        clock.press("ArrowRight")
    clock.act(page.get_by_role("tab", name="Over time", exact=True).click)
    link = page.evaluate("() => location.href")
    assert url_params(page) | {"cell": "GRU", "t": "3", "view": "Over time"} == url_params(page), link

    other = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        fresh = other.new_page()
        open_app(fresh, streamlit_server, "?" + urlparse(link).query)
        assert slider_value(fresh) == 3
        assert fresh.locator(".st-key-cell input[role=combobox]").input_value() == "GRU"
        assert fresh.get_by_role("tab", name="Over time", exact=True).get_attribute("aria-selected") == "true"
        assert wait_charts(fresh) >= 4
        assert not exceptions(fresh)
    finally:
        other.close()


def _presenting(page) -> bool:
    """Presentation mode is on: larger root type and no sidebar at all (not merely collapsed)."""
    font, sidebar = page.evaluate(
        """() => [getComputedStyle(document.documentElement).fontSize,
                 getComputedStyle(document.querySelector("[data-testid='stSidebar']")).display]"""
    )
    assert (font == "21px") == (sidebar == "none"), (font, sidebar)
    return sidebar == "none"


def test_presentation_mode_by_url_and_by_key(page, streamlit_server):
    clock = open_app(page, streamlit_server, "?present=true")
    assert _presenting(page)
    assert page.get_by_role("tab", name="Shapes", exact=True).count() == 0, "slides of the essentials only"
    assert page.get_by_role("tab", name="Step", exact=True).count() == 1
    assert page.locator(".katex").count() > 0 and wait_charts(page) >= 1
    clock.press("p")
    assert not _presenting(page)
    assert page.get_by_role("tab", name="Shapes", exact=True).count() == 1
    clock.press("p")
    assert _presenting(page)
    clock.press("ArrowRight")  # stepping still works while presenting
    assert slider_value(page) == 1
    assert not exceptions(page)


def test_bad_url_value_warns_and_the_lesson_runs(page, streamlit_server):
    open_app(page, streamlit_server, "?T=abc")
    warning = page.locator("[data-testid='stAlertContentWarning']")
    assert "T='abc'" in warning.first.inner_text()
    assert "T=10" in main_text(page), "the default T is used"
    assert agrees(page)
    assert page.locator(EXCEPTION).count() == 0


def test_upload_a_csv_sequence(page, streamlit_server, tmp_path):
    open_app(page, streamlit_server)
    uploader = page.locator(".st-key-inputs_file input[type=file]")
    if uploader.count() == 0:
        pytest.skip("app.py has no st.file_uploader with key 'inputs_file'")
    csv = tmp_path / "walk.csv"
    rows = [f"{0.1 * t:.2f},{(-1) ** t * 0.5:.2f}" for t in range(7)]  # T = 7 steps, D = 2 features
    csv.write_text("a,b\n" + "\n".join(rows) + "\n")
    clock = RunClock(page)
    clock.install()  # on the loaded page: times by the script state
    clock.act(lambda: uploader.set_input_files(str(csv)))
    page.wait_for_function("() => document.body.innerText.includes('T=7, D=2')", timeout=30_000)
    wait_idle(page)
    assert "T=7, D=2" in main_text(page)
    expect(slider(page)).to_have_attribute("max", "6", timeout=15_000)  # the stage redraws just after the run
    assert agrees(page)
    assert not exceptions(page)


def test_screenshots_light_and_dark(browser, streamlit_server):
    shots = take_screenshots(browser, streamlit_server.url, SCREENSHOTS)
    assert len(shots) == 16
    for shot in shots:
        assert not shot["exceptions"], shot
        dark = shot["scheme"] == "dark"
        assert (shot["luminance"] < 0.2) if dark else (shot["luminance"] > 0.8), f"{shot['scheme']} renders {shot['background']}"
