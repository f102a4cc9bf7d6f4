"""The notebook widget's module in Chromium against a stand-in anywidget model, against torch.

anywidget's front end imports the widget's ``_esm`` text from a Blob URL, calls its default
export with no argument and calls ``render({ model, el })``; the model has ``get``, ``set``,
``on``, ``off``, ``save_changes`` and ``send`` (anywidget's documented model interface, as its
own docs test widgets). Here a stand-in model holds the Python widget's synced state; what the
module saves or sends is applied to the Python widget, and the Python widget's changes are
handed back, as a kernel's comm would. Keys step the stage (while it has the focus), the numbers
drawn equal torch's, ``t`` reaches Python, Python's ``t`` moves the stage, and past the byte
budget the next window of steps comes from Python on request.

    python -m pytest tests/browser/test_widget_js.py
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch

pytest.register_assert_rewrite("browser_support")
from oracle import torch_steps  # noqa: E402

import rnntrace  # noqa: E402
from rnntrace.stage import payload as stage_payload  # noqa: E402
from rnntrace.stage.source import part, source  # noqa: E402
from rnntrace.stage.widget import Stage  # noqa: E402

pytest_plugins = ["browser_support"]

SHOWN = 0.5e-3 + 1e-6

PAGE = """<!doctype html><html><head><meta charset="utf-8"></head>
<body><p id="elsewhere" tabindex="0">a notebook cell</p><div id="el"></div>
<script id="state" type="application/json">%(state)s</script>
<script type="module">
const state = JSON.parse(document.getElementById("state").textContent);
const bytes = (b64) => new DataView(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer);  // a Bytes trait arrives as a DataView
const values = { t: state.t, payload: bytes(state.payload), _vega: state._vega };
const listeners = {};
const fire = (name) => (listeners["change:" + name] || []).forEach((f) => f());
window.toKernel = [];
window.model = {
  get: (name) => values[name],
  set: (name, value) => { values[name] = value; fire(name); },
  on: (event, f) => (listeners[event] ||= []).push(f),
  off: (event, f) => { listeners[event] = (listeners[event] || []).filter((g) => g !== f); },
  save_changes: () => window.toKernel.push({ state: { t: values.t } }),
  send: (content) => window.toKernel.push({ msg: content }),
  fromKernel: (name, value) => { values[name] = name === "payload" ? bytes(value) : value; fire(name); },
};
const url = URL.createObjectURL(new Blob([state._esm], { type: "text/javascript" }));
const mod = await import(url);
const widget = typeof mod.default === "function" ? await mod.default() : mod.default;
window.cleanup = await widget.render({ model: window.model, el: document.getElementById("el") });
window.rendered = true;
</script></body></html>"""

READ = """() => ({ t: Number(document.querySelector('.rnntrace-stage').dataset.t),
  h: [...document.querySelectorAll("g.box[data-field='h_t'] text.v")].map((e) => Number(e.textContent)),
  r: [...document.querySelectorAll("g.box[data-field='r_t'] text.v")].map((e) => Number(e.textContent)) })"""


class Kernel:
    """The comm between the stand-in model and the Python widget: each side's changes, delivered to the other."""

    def __init__(self, page, w: Stage):
        self.page, self.w = page, w
        self.sent = {"t": w.t, "payload": w.payload}
        self.fetches: list[int] = []

    def pump(self) -> None:
        for item in self.page.evaluate("() => window.toKernel.splice(0)"):
            if "state" in item:
                self.w.t = item["state"]["t"]  # the comm's update: validated by the widget
                self.sent["t"] = self.w.t
            if "msg" in item:
                self.fetches.append(item["msg"]["fetch"])
                self.w._on_msg(self.w, item["msg"], [])
        if self.w.payload != self.sent["payload"]:
            self.sent["payload"] = self.w.payload
            self.page.evaluate("(b64) => window.model.fromKernel('payload', b64)", base64.b64encode(self.w.payload).decode())
        if self.w.t != self.sent["t"]:
            self.sent["t"] = self.w.t
            self.page.evaluate("(t) => window.model.fromKernel('t', t)", self.w.t)


def open_widget(browser, tmp_path, w: Stage):
    state = {"t": w.t, "payload": base64.b64encode(w.payload).decode(), "_vega": w._vega, "_esm": w._esm}
    path = tmp_path / "widget.html"
    path.write_text(PAGE % {"state": json.dumps(state)}, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_function("() => window.rendered")
    return page, Kernel(page, w), errors


def painted(page, t: int) -> None:
    page.wait_for_function(f"() => document.querySelector('.rnntrace-stage')?.dataset.painted === '{t}'", timeout=15_000)


@pytest.mark.browser
def test_the_widget_steps_syncs_t_and_shows_torchs_numbers(browser, tmp_path):
    torch.manual_seed(7)
    module = torch.nn.GRU(3, 4, batch_first=True)
    x = torch.randn(2, 10, 3)
    q = torch_steps(module, x.numpy().swapaxes(0, 1)).steps[(0, 0)]
    w = rnntrace.show(rnntrace.validate(module, x), t=3, sample=1)
    page, kernel, errors = open_widget(browser, tmp_path, w)
    painted(page, 3)
    page.wait_for_function("() => document.querySelector('.chart svg')?.textContent.includes('How step t = 3 moved')")

    def check(t: int) -> None:
        painted(page, t)
        shown = page.evaluate(READ)
        np.testing.assert_allclose(shown["h"], q["h_t"][t, 1], atol=SHOWN, rtol=0, err_msg=f"h_t at t={t}")
        np.testing.assert_allclose(shown["r"], q["r_t"][t, 1], atol=SHOWN, rtol=0, err_msg=f"r_t at t={t}")

    check(3)
    page.click(".rnntrace-stage .diagram")  # the stage takes the keys while it has the focus
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    check(5)
    page.wait_for_function("() => window.toKernel.length > 0")  # the settled t, about 250 ms after the last step
    kernel.pump()
    assert w.t == 5, "the browser's t did not reach Python"
    w.t = 8  # Python moves the stage
    kernel.pump()
    check(8)
    page.wait_for_function("() => document.querySelector('.chart svg').textContent.includes('How step t = 8 moved')")
    page.keyboard.press("End")
    check(9)
    page.focus("#elsewhere")  # the notebook's own keys stay the notebook's
    page.keyboard.press("Home")
    page.wait_for_timeout(300)  # nothing to wait for: a key that must not act (and the settle time passes)
    assert page.evaluate(READ)["t"] == 9
    page.wait_for_function("() => window.toKernel.length > 0")
    kernel.pump()
    assert w.t == 9 and page.evaluate("() => location.search") == "", "the notebook's URL is left alone"
    assert errors == [], errors
    page.close()


@pytest.mark.browser
def test_past_the_budget_the_widget_asks_python_for_the_next_steps(browser, tmp_path):
    torch.manual_seed(8)
    module = torch.nn.GRU(3, 4, batch_first=True)
    x = torch.randn(1, 60, 3)
    q = torch_steps(module, x.numpy().swapaxes(0, 1)).steps[(0, 0)]
    src = source(rnntrace.trace(module, x), "test")
    w = Stage(src, part(src.trace, 0), budget=int(20 * stage_payload.step_bytes(src.trace, stage_payload.Shown())))
    first = w.window
    assert first[1] < 60
    page, kernel, errors = open_widget(browser, tmp_path, w)
    painted(page, 0)
    page.click(".rnntrace-stage .diagram")
    page.keyboard.press("End")  # outside the window: the stage says so and asks for the steps around t
    page.wait_for_function("() => window.toKernel.some((m) => m.msg)")
    kernel.pump()
    assert kernel.fetches and w.window != first and w.window[0] <= 59 < w.window[1]
    painted(page, 59)
    np.testing.assert_allclose(page.evaluate(READ)["h"], q["h_t"][59, 0], atol=SHOWN, rtol=0)
    assert errors == [], errors
    page.close()
