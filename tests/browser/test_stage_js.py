"""The stage's JS module on its own (no Streamlit), in Chromium, against torch; and its payload in Python.

``assets/stage.js`` is one module shared by the dashboard, a notebook widget and an offline
lesson file: here it is mounted with ``mount(el, payload, host)`` in a blank page (as an
offline file would), from a payload built by ``stage_payload`` for a trace, and driven with
the keyboard. The numbers it draws are compared with torch's (``tests/oracle.py``). Past the
byte budget the payload holds a window of steps: stepping to its end asks the host for the
next window, and the numbers after it are torch's too.

    python -m pytest tests/browser/test_stage_js.py
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

pytest.register_assert_rewrite("browser_support")
from browser_support import launch_chromium  # noqa: E402
from oracle import torch_steps  # noqa: E402

import rnntrace  # noqa: E402
from rnntrace.stage import payload as stage_payload  # noqa: E402
from rnntrace.stage.payload import ASSETS  # noqa: E402

pytest_plugins = ["browser_support"]

SHOWN = 0.5e-3 + 1e-6  # the diagram prints 3 decimals


def gru_case(T: int = 60, seed: int = 4):
    torch.manual_seed(seed)
    module = torch.nn.GRU(3, 4, batch_first=True)
    x = torch.randn(1, T, 3)
    trace = rnntrace.trace(module, x)
    ref = torch_steps(module, x.numpy().swapaxes(0, 1))
    return trace, ref


def frame_numbers(payload: dict, t: int) -> dict[str, list[float]]:
    """field -> the numbers a frame prints, using the SVG's box order."""
    import xml.etree.ElementTree as ET

    svg = ET.fromstring(payload["diagram"]["svg"])
    fields = [g.get("data-field") for g in svg.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "box"]
    lo = payload["window"][0]
    frame = payload["diagram"]["frames"][t - lo]
    return {f: [float(c[0]) for c in cells] for f, (_, _, cells) in zip(fields, frame["boxes"], strict=True)}


# -- the payload, in Python ------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
def test_every_frame_prints_torchs_numbers(cell):
    torch.manual_seed(1)
    module = getattr(torch.nn, cell)(3, 5, batch_first=True)
    x = torch.randn(2, 7, 3)
    trace = rnntrace.trace(module, x)
    ref = torch_steps(module, x.numpy().swapaxes(0, 1)).steps[(0, 0)]
    payload = stage_payload.build(trace, stage_payload.Shown(sample=1), key="test")
    assert payload["window"] == [0, 7] and len(payload["diagram"]["frames"]) == 7
    for t in range(7):
        for field, numbers in frame_numbers(payload, t).items():
            np.testing.assert_allclose(numbers, ref[field][t, 1, : len(numbers)], atol=SHOWN, rtol=0, err_msg=f"{cell} {field} t={t}")


def test_a_window_past_the_budget_starts_a_little_before_t_and_fits():
    trace, ref = gru_case(T=60)
    per = stage_payload.step_bytes(trace, stage_payload.Shown())
    lo, hi = stage_payload.window(60, 30, per, budget=math.ceil(20 * per))  # room for exactly 20 steps
    assert (lo, hi) == (28, 48), "20 steps fit; the window starts a tenth of it before t"
    payload = stage_payload.build(trace, stage_payload.Shown(), key="test", window=(lo, hi))
    assert len(stage_payload.pack(payload)) < 20 * per + 40_000  # the frames within budget (plus the SVG once)
    for t in (28, 47):
        np.testing.assert_allclose(frame_numbers(payload, t)["h_t"], ref.steps[(0, 0)]["h_t"][t, 0], atol=SHOWN, rtol=0)
    assert stage_payload.window(60, 5, per, budget=10**9) == (0, 60), "everything fits: all steps"


# -- the module in a blank page ----------------------------------------------------------------


PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>%(css)s</style></head>
<body><div id="app"></div>
<script>%(vega)s</script>
<script type="module">
%(js)s
const host = { fetch: async (t) => { const p = await window.fetchWindow(t); window.stage.load(JSON.parse(p)); } };
window.stage = mount(document.getElementById("app"), %(payload)s, host);
</script></body></html>"""


@pytest.mark.browser
def test_mount_steps_with_keys_and_fetches_the_next_window(tmp_path):
    from browser_support import chromium_path

    if chromium_path() is None:
        pytest.skip("Chromium not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    trace, ref = gru_case(T=60)
    per = stage_payload.step_bytes(trace, stage_payload.Shown())
    budget = int(20 * per)
    first = stage_payload.build(trace, stage_payload.Shown(), key="js", window=stage_payload.window(60, 0, per, budget))
    fetched = []

    def fetch_window(t: int) -> str:
        fetched.append(t)
        return json.dumps(stage_payload.build(trace, stage_payload.Shown(), key="js", window=stage_payload.window(60, t, per, budget)))

    html = PAGE % {
        "css": (ASSETS / "stage.css").read_text(),
        "vega": stage_payload.vega_bundle(),
        "js": (ASSETS / "stage.js").read_text(),
        "payload": json.dumps(first),
    }
    path = tmp_path / "stage.html"
    path.write_text(html, encoding="utf-8")
    read = """() => ({t: window.stage.t, painted: document.querySelector('.rnntrace-stage').dataset.painted,
      h: [...document.querySelectorAll("g.box[data-field='h_t'] text.v")].map((e) => Number(e.textContent)),
      z: [...document.querySelectorAll("g.box[data-field='z_t'] text.v")].map((e) => Number(e.textContent))})"""
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.expose_function("fetchWindow", fetch_window)
        page.goto(path.as_uri())
        page.wait_for_function("() => window.stage && document.querySelector('.rnntrace-stage').dataset.painted === '0'")
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        shown = page.evaluate(read)
        assert shown["t"] == 5 and shown["painted"] == "5"
        np.testing.assert_allclose(shown["h"], ref.steps[(0, 0)]["h_t"][5, 0], atol=SHOWN, rtol=0)
        np.testing.assert_allclose(shown["z"], ref.steps[(0, 0)]["z_t"][5, 0], atol=SHOWN, rtol=0)
        for _ in range(20):  # past the first window (steps 0..19)
            page.keyboard.press("ArrowRight")
        page.wait_for_function("() => document.querySelector('.rnntrace-stage').dataset.painted === '25'", timeout=15_000)
        assert fetched, "the stage never asked for the next window"
        shown = page.evaluate(read)
        np.testing.assert_allclose(shown["h"], ref.steps[(0, 0)]["h_t"][25, 0], atol=SHOWN, rtol=0)
        page.keyboard.press("End")
        page.wait_for_function("() => document.querySelector('.rnntrace-stage').dataset.painted === '59'", timeout=15_000)
        np.testing.assert_allclose(page.evaluate(read)["h"], ref.steps[(0, 0)]["h_t"][59, 0], atol=SHOWN, rtol=0)
        assert not errors, errors
        browser.close()
