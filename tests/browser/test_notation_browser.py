"""``?notation=textbook`` in Chromium at 1280×720: the picture's labels and hovers read as the lecture, its numbers are torch's.

A real ``streamlit run app.py`` and Debian's headless Chromium. What the stage draws is read
from the page (box labels, printed numbers, hover texts) and compared with torch computed in
the lecture's column form from the module's own parameters: ``W_x x_t + b_x`` is
``weight_ih @ x_t + bias_ih`` (a gate's rows of them for a gated cell). The sidebar's switch
is clicked and the link and the picture follow it.

    python -m pytest tests/browser/test_notation_browser.py
"""

from __future__ import annotations

from urllib.parse import urlencode

import numpy as np
import pytest

pytest.register_assert_rewrite("browser_support")
import torch  # noqa: E402
from browser_support import exceptions, overflowing, url_params, wait_idle  # noqa: E402
from oracle import lesson  # noqa: E402

pytest_plugins = ["browser_support"]
pytestmark = pytest.mark.browser

SHOWN = 0.5e-3 + 1e-5  # 3 decimals printed
READ_JS = """() => {
  const stage = globalThis.__rnntraceStage.stages.filter((s) => s.root.isConnected && s.root.querySelector('svg')).at(-1);
  const svg = stage.root.querySelector('.diagram svg');
  const visible = (el) => [...el.childNodes].filter((c) => c.nodeName !== 'title').map((c) => c.textContent).join('');
  const boxes = [...svg.querySelectorAll('g.box')].map((g) => ({
    field: g.dataset.field,
    label: visible(g.querySelector('text.label')),
    values: [...g.querySelectorAll('g.cell text.v')].map((e) => e.textContent),
    titles: [...g.querySelectorAll('g.cell > title')].map((e) => e.textContent),
  }));
  const texts = [...svg.querySelectorAll('text')].map(visible);
  const box = svg.getBoundingClientRect();
  return {t: stage.t, boxes, texts, bottom: box.bottom, height: box.height, vh: innerHeight};
}"""
RNN = {"cell": "RNN", "N": 1, "T": 6, "D": 3, "M": 4, "seed": 3}
LSTM = {"cell": "LSTM", "N": 1, "T": 6, "D": 3, "M": 4, "seed": 2}


def open_stage(page, server, config: dict, **extra) -> dict:
    q = {k: str(v).lower() if isinstance(v, bool) else v for k, v in {**config, **extra}.items()}
    page.goto(f"{server.url}/?{urlencode(q)}")
    wait_idle(page, timeout=120)
    page.wait_for_function("() => globalThis.__rnntraceStage?.stages.some((s) => s.root.isConnected && s.root.dataset.painted)")
    assert not exceptions(page)
    return page.evaluate(READ_JS)


def lecture_terms(config: dict, t: int, n: int = 0) -> dict[tuple[str, str], np.ndarray]:
    """(side, gate) -> W v + b in column form from the gate's rows of torch's weight_ih / weight_hh; torch's own h_{t-1}."""
    L = lesson(config)
    H = config["M"]
    p = {k: v.detach() for k, v in L.module.named_parameters()}
    x = torch.as_tensor(L.X[n, t], dtype=p["weight_ih_l0"].dtype)
    h = torch.as_tensor(L.ref.q("h_prev")[t, n], dtype=x.dtype)
    out = {}
    for k, g in enumerate(L.ref.gates or ("",)):
        rows = slice(k * H, (k + 1) * H)
        out[("x", g)] = (p["weight_ih_l0"][rows] @ x + p["bias_ih_l0"][rows]).numpy()
        out[("h", g)] = (p["weight_hh_l0"][rows] @ h + p["bias_hh_l0"][rows]).numpy()
    return out


def test_the_rnn_picture_in_the_lectures_notation_shows_torchs_numbers(page, streamlit_server):
    page.set_viewport_size({"width": 1280, "height": 720})
    torch_form = open_stage(page, streamlit_server, RNN, t=2)
    shown = open_stage(page, streamlit_server, RNN, t=2, notation="textbook")
    assert shown["t"] == 2
    terms = lecture_terms(RNN, 2)
    labels = {b["field"]: b for b in shown["boxes"]}
    assert labels["input_term"]["label"] == "Wx xt + bx", labels["input_term"]["label"]  # W_x x_t + b_x, subscripts as tspans
    assert labels["hidden_term"]["label"] == "Wh ht−1 + bh", labels["hidden_term"]["label"]
    for field, key in (("input_term", ("x", "")), ("hidden_term", ("h", ""))):
        values = np.array([float(v) for v in labels[field]["values"]])
        assert np.all(np.abs(values - terms[key]) <= SHOWN), (field, values, terms[key])
    assert labels["input_term"]["titles"][1].startswith("(W_x x_t + b_x)[1] = "), labels["input_term"]["titles"][1]
    assert labels["pre_activation"]["titles"][0].startswith("pre[0] = (W_x x_t + b_x)[0] + (W_h h_prev + b_h)[0] = ")
    assert "Wx" in shown["texts"] and "Wh" in shown["texts"], "the wires' weights are W_x and W_h"
    assert not [s for s in shown["texts"] if "ᵀ" in s or "Wih" in s or "Whh" in s], shown["texts"]
    # the same picture, no taller, nothing sideways out of the page
    assert shown["height"] <= torch_form["height"] + 1, (shown["height"], torch_form["height"])
    assert not overflowing(page), overflowing(page)


def test_a_gate_hover_reads_as_the_lecture(page, streamlit_server):
    page.set_viewport_size({"width": 1280, "height": 720})
    shown = open_stage(page, streamlit_server, LSTM, t=3, notation="textbook")
    terms = lecture_terms(LSTM, 3)
    (f_box,) = [b for b in shown["boxes"] if b["field"] == "f_t"]
    for k, title in enumerate(f_box["titles"]):
        first, second = title.split("\n")[:2]
        assert first == f"f_3[{k}] = σ((W_xf x_t + b_xf)[{k}] + (W_hf h_prev + b_hf)[{k}])", first
        a, b = (float(v) for v in second.removeprefix("= σ(").split(")")[0].split(" + "))
        assert abs(a - terms[("x", "f")][k]) <= SHOWN and abs(b - terms[("h", "f")][k]) <= SHOWN, (title, terms[("x", "f")][k])
    assert "Wx" in shown["texts"] and "Wh" in shown["texts"]
    assert not [s for s in shown["texts"] if "ᵀ" in s or "Wih" in s], shown["texts"]
    assert not overflowing(page), overflowing(page)


def test_the_sidebar_switch_changes_the_notation_and_the_link(page, streamlit_server):
    page.set_viewport_size({"width": 1280, "height": 720})
    shown = open_stage(page, streamlit_server, RNN)
    assert {b["field"]: b["label"] for b in shown["boxes"]}["input_term"] == "xt Wihᵀ + bih"
    assert url_params(page).get("notation") is None  # the default is left out of the link
    page.locator(".st-key-notation").get_by_text("textbook", exact=True).click()
    wait_idle(page, timeout=90)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.rnntrace-stage .diagram g.box text.label')].some((e) => e.textContent.startsWith('Wx'))",
        timeout=30_000,
    )
    assert url_params(page).get("notation") == "textbook"
    shown = page.evaluate(READ_JS)
    assert {b["field"]: b["label"] for b in shown["boxes"]}["input_term"] == "Wx xt + bx"
    bridge = page.locator("[data-testid='stMain'] .katex-html", has_text="tensors:")  # KaTeX writes torch’s with a curly ’
    bridge.first.wait_for(timeout=30_000)
    assert bridge.count() == 1, "the line naming torch's tensors is on the page"
    assert "Wih" in bridge.inner_text().replace("\n", ""), bridge.inner_text()
