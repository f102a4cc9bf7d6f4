"""The offline lesson file (``rnntrace.to_html``) in Chromium with every network request blocked, against torch.

The file is opened from disk; a route aborts every request that is not the file itself and
records it (there must be none). The keys step the stage, and the numbers it draws, and the
state chart's title, are read from the page and compared with torch's (``tests/oracle.py``)
at several t. The file's text holds no URL that a browser would load, and the default
lesson's file stays under the size README documents.

    python -m pytest tests/browser/test_lesson_file.py
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.register_assert_rewrite("browser_support")
from oracle import lesson, torch_steps  # noqa: E402

import rnntrace  # noqa: E402

pytest_plugins = ["browser_support"]

ROOT = Path(__file__).resolve().parents[2]
SHOWN = 0.5e-3 + 1e-6  # the diagram prints 3 decimals
# http(s) strings in the file that load nothing: SVG/XML namespaces, error-message links and the Vega editor's
# address inside vl-convert's Vega bundle (the stage embeds with actions off, so no link to it is drawn)
NOT_LOADED = {
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/2000/xmlns/",
    "https://github.com/vega/vega-lite/issues/2415",
    "https://vega.github.io/schema/vega/v6.json",
    "https://vega.github.io/schema/vega-lite/v6.json",
    "https://vega.github.io/editor/",
}
LESSON_LIMIT = 1_200_000  # bytes; README ("In a notebook") promises the default lesson's file stays under 1.2 MB

READ = """() => {
  const root = document.querySelector('.rnntrace-stage');
  const box = (f) => [...document.querySelectorAll(`g.box[data-field='${f}'] text.v`)].map((e) => Number(e.textContent));
  const chart = document.querySelector('.chart[data-name] svg');
  return { t: Number(root.dataset.t), painted: root.dataset.painted, h: box('h_t'), c: box('c_t'), f: box('f_t'),
           status: root.querySelector('.status').textContent, chart: chart ? chart.textContent : '' };
}"""


def lstm_case(T: int = 12):
    torch.manual_seed(3)
    module = torch.nn.LSTM(3, 5, batch_first=True)
    x = torch.randn(2, T, 3)
    return module, x, torch_steps(module, x.numpy().swapaxes(0, 1))


def offline_page(browser, path: Path, viewport=(1280, 720)):
    """A page that may load the file and nothing else; ``blocked`` lists every other request it made."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, offline=True)
    page = context.new_page()
    blocked, errors = [], []
    file_url = path.resolve().as_uri()

    def route(r):
        if r.request.url == file_url or r.request.url.startswith(file_url + "?"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return context, page, blocked, errors


@pytest.mark.browser
def test_the_lesson_steps_offline_and_shows_torchs_numbers(browser, tmp_path):
    module, x, ref = lstm_case()
    v = rnntrace.validate(module, x)
    path = rnntrace.to_html(v, tmp_path / "lesson.html", sample=1, title="LSTM, step by step")
    context, page, blocked, errors = offline_page(browser, path)
    page.goto(path.as_uri())
    page.wait_for_function("() => document.querySelector('.rnntrace-stage')?.dataset.painted === '0'")
    page.wait_for_function("() => document.querySelector('.chart svg')?.textContent.includes('How step t = 0')")
    q = ref.steps[(0, 0)]

    def check(t: int) -> None:
        page.wait_for_function(f"() => document.querySelector('.rnntrace-stage').dataset.painted === '{t}'")
        page.wait_for_function(f"() => document.querySelector('.chart svg').textContent.includes('How step t = {t} moved')")
        shown = page.evaluate(READ)
        for field, name in (("h", "h_t"), ("c", "c_t"), ("f", "f_t")):
            np.testing.assert_allclose(shown[field], q[name][t, 1], atol=SHOWN, rtol=0, err_msg=f"{name} at t={t}")
        assert f"t = {t} of 0..11" in shown["status"] and "|replay − torch| at t" in shown["status"]

    check(0)
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    check(4)
    page.keyboard.press("End")
    check(11)
    page.keyboard.press("ArrowLeft")
    check(10)
    page.keyboard.press("Home")
    check(0)
    assert page.title() == "LSTM, step by step" and page.locator("h1").inner_text() == "LSTM, step by step"
    assert blocked == [], f"the lesson file asked the network for {blocked}"
    assert errors == [], errors
    context.close()


@pytest.mark.browser
def test_slides_fill_a_projector_screen_and_open_at_t(browser, tmp_path):
    module, x, ref = lstm_case()
    path = rnntrace.to_html(rnntrace.validate(module, x), tmp_path / "slides.html", slides=True, t=6)
    context, page, blocked, errors = offline_page(browser, path)
    page.goto(path.as_uri())
    page.wait_for_function("() => document.querySelector('.rnntrace-stage')?.dataset.painted === '6'")
    page.wait_for_function("() => document.querySelector('.chart svg')?.textContent.includes('How step t = 6')")
    np.testing.assert_allclose(page.evaluate(READ)["h"], ref.steps[(0, 0)]["h_t"][6, 0], atol=SHOWN, rtol=0)
    fit = page.evaluate("""() => ({
      sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth,
      bottom: document.querySelector('.rnntrace-stage .diagram svg').getBoundingClientRect().bottom, h: innerHeight,
      present: document.querySelector('.rnntrace-stage').classList.contains('present')})""")
    assert fit["present"] and fit["sw"] <= fit["cw"], fit
    assert fit["bottom"] <= fit["h"], f"the diagram ends at {fit['bottom']} px, below the 720 px screen"
    page.screenshot(path=str(ROOT / "artifacts" / "screenshots" / "lesson_slides_1280x720.png"))
    page.goto(path.as_uri() + "?t=2")  # a link's step wins over the one the file was saved at
    painted = "() => document.querySelector('.rnntrace-stage')?.dataset.painted === '2'"
    page.wait_for_function(painted)
    np.testing.assert_allclose(page.evaluate(READ)["h"], ref.steps[(0, 0)]["h_t"][2, 0], atol=SHOWN, rtol=0)
    assert blocked == [] and errors == [], (blocked, errors)
    context.close()


def test_an_edited_lesson_says_what_was_edited(tmp_path):
    module, x, _ = lstm_case()
    v = rnntrace.validate(module, x, edits=[rnntrace.Edit("f_t", 1.0, unit=2)])
    text = rnntrace.to_html(v, tmp_path / "what_if.html").read_text(encoding="utf-8")
    assert "What if: f_t[unit 2] = 1 at every t." in text


def test_the_file_holds_no_url_to_load(tmp_path):
    module, x, _ = lstm_case()
    text = rnntrace.to_html(rnntrace.backprop(module, x), tmp_path / "bp.html").read_text(encoding="utf-8")
    found = set(re.findall(r"https?://[^\s\"'`)<>]*", text))
    assert found <= NOT_LOADED, f"URLs in the lesson file: {sorted(found - NOT_LOADED)}"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "an element that loads from the network"
    assert "Content-Security-Policy" in text and "default-src 'none'" in text, "the file forbids loading anything"


def test_the_default_lesson_stays_under_the_documented_size(tmp_path):
    ls = lesson({})  # the dashboard's default lesson: RNN, T = 10, D = 3, M = 5, K = 2, seed 0
    v = rnntrace.validate(ls.module, torch.from_numpy(ls.X), head=ls.head)
    size = rnntrace.to_html(v, tmp_path / "default.html").stat().st_size
    assert size < LESSON_LIMIT, f"the default lesson's file is {size:,} bytes"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "under 1.2 MB" in readme, "README documents the default lesson file's size"


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"path": "lesson.txt"}, ValueError, "should end in .html"),
        ({"t": 12}, ValueError, "t=12 is out of range"),
        ({"title": 3}, TypeError, "title must be a str"),
    ],
)
def test_bad_input_says_what_to_pass(tmp_path, kwargs, error, says):
    module, x, _ = lstm_case()
    path = tmp_path / kwargs.pop("path", "lesson.html")
    with pytest.raises(error, match=re.escape(says)):
        rnntrace.to_html(rnntrace.trace(module, x), path, **kwargs)
