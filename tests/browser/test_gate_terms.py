"""A click on a gate's name shows its two terms (issue 23): in the payload and in Chromium, against torch.

torch computes every gate from two products, stacked by gate along the rows of its weights:

    f_t = σ(x_t W_ifᵀ + b_if + h_{t-1} W_hfᵀ + b_hf)
    n_t = tanh(x_t W_inᵀ + b_in + r_t ⊙ (h_{t-1} W_hnᵀ + b_hn))     (GRU)

Here each is recomputed with ``torch.nn.functional.linear`` from the module's own weights and
torch's own h_t (the module's output), and compared with what the stage prints: in every
frame of the payload (both directions of a bidirectional layer), and on screen in an offline
lesson file (``rnntrace.to_html``), a slide, the notebook widget's host and the dashboard, after
clicks and keys. The panel follows t with no request (the lesson file blocks the network).

    python -m pytest tests/browser/test_gate_terms.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.register_assert_rewrite("browser_support")
from browser_support import exceptions, wait_idle  # noqa: E402
from oracle import lesson  # noqa: E402
from test_lesson_file import offline_page  # noqa: E402
from test_stage_browser import open_stage  # noqa: E402
from test_widget_js import open_widget, painted  # noqa: E402

import rnntrace  # noqa: E402
from rnntrace.stage import exercise as stage_exercise  # noqa: E402
from rnntrace.stage import payload as stage_payload  # noqa: E402

pytest_plugins = ["browser_support"]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
SHOWN = 0.5e-3 + 1e-6  # the stage prints 3 decimals
ORDER = {"GRU": "rzn", "LSTM": "ifgo"}  # torch's stacking order of the gate blocks (torch docs), written here, not read from rnntrace

PANEL = """() => {
  const p = [...document.querySelectorAll('.rnntrace-stage .terms')].find((e) => !e.hidden);
  if (!p) return null;
  const r = p.getBoundingClientRect();
  return { gate: p.dataset.gate, head: p.querySelector('.equation').textContent,
           columns: [...p.querySelectorAll('thead th')].map((e) => e.textContent),
           rows: [...p.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => Number(td.textContent))),
           box: { top: r.top, bottom: r.bottom, left: r.left, right: r.right }, w: innerWidth, h: innerHeight,
           t: Number(document.querySelector('.rnntrace-stage').dataset.t) };
}"""


def torch_terms(module, x_ntd: torch.Tensor, h_ntd: torch.Tensor, direction: int = 0) -> dict[str, np.ndarray]:
    """Each gate's columns as the panel shows them, (T, N, H, columns), from the module's weights and torch's h_t.

    Args:
        x_ntd: (N, T, D) the layer's input; h_ntd: (N, T, H) torch's h_t of that direction (its output).
    """
    sfx = "_l0" + ("_reverse" if direction else "")
    W_ih, W_hh = getattr(module, "weight_ih" + sfx), getattr(module, "weight_hh" + sfx)  # (G·H, D), (G·H, H)
    b_ih, b_hh = getattr(module, "bias_ih" + sfx), getattr(module, "bias_hh" + sfx)  # (G·H,)
    H = module.hidden_size
    zeros = torch.zeros_like(h_ntd[:, :1])
    h_prev = torch.cat([h_ntd[:, 1:], zeros], 1) if direction else torch.cat([zeros, h_ntd[:, :-1]], 1)  # (N, T, H)
    with torch.no_grad():
        a = F.linear(x_ntd, W_ih, b_ih)  # (N, T, G·H) x_t W_ihᵀ + b_ih
        b = F.linear(h_prev, W_hh, b_hh)  # (N, T, G·H) h_{t-1} W_hhᵀ + b_hh
    kind = type(module).__name__
    block = {g: slice(j * H, (j + 1) * H) for j, g in enumerate(ORDER[kind])}
    out = {}
    for g, sl in block.items():
        ag, bg = a[..., sl], b[..., sl]
        if kind == "GRU" and g == "n":
            r = torch.sigmoid(a[..., block["r"]] + b[..., block["r"]])
            cols = [ag, bg, r, r * bg, ag + r * bg, torch.tanh(ag + r * bg)]
        else:
            s = ag + bg
            cols = [ag, bg, s, torch.tanh(s) if g == "g" else torch.sigmoid(s)]
        out[f"{g}_t"] = torch.stack(cols, -1).transpose(0, 1).double().numpy()  # (T, N, H, columns)
    return out


def case(kind: str, T: int = 8, bidirectional: bool = False, seed: int = 3):
    torch.manual_seed(seed)
    module = getattr(torch.nn, kind)(3, 5, batch_first=True, bidirectional=bidirectional)
    x = torch.randn(2, T, 3)
    with torch.no_grad():
        out = module(x)[0]  # (N, T, dirs·H): torch's own h_t
    H = module.hidden_size
    return module, x, {d: torch_terms(module, x, out[..., d * H : (d + 1) * H], d) for d in range(1 + bidirectional)}


# -- the payload, in Python --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
@pytest.mark.parametrize("direction", [0, 1])
def test_every_frame_carries_each_gates_two_terms_as_torch_computes_them(kind, direction):
    module, x, ref = case(kind, bidirectional=True)
    trace = rnntrace.trace(module, x)
    payload = stage_payload.build(trace, stage_payload.Shown(direction=direction, sample=1), key="test")
    gates = payload["diagram"]["gates"]
    assert sorted(gates) == sorted(f"{g}_t" for g in ORDER[kind])
    prev = "h_{t+1}" if direction else "h_{t-1}"
    for field, info in gates.items():
        g = field[0]
        assert info["columns"][:2] == [f"x_t W_i{g}ᵀ + b_i{g}", f"{prev} W_h{g}ᵀ + b_h{g}"], info["columns"]
        j = ORDER[kind].index(g)
        assert f"rows {5 * j}..{5 * j + 4} of W_ih" in info["rows"], info["rows"]
    assert ("r_t ⊙ (h" in gates["n_t"]["columns"][3]) if kind == "GRU" else True
    for frame in payload["diagram"]["frames"]:
        t = frame["t"]
        for field, rows in frame["terms"].items():
            got = np.array(rows, dtype=float)  # (H, columns)
            np.testing.assert_allclose(got, ref[direction][field][t, 1], atol=SHOWN, rtol=0, err_msg=f"{kind} {field} t={t} d={direction}")


def test_the_plain_rnn_has_no_gate_to_click_and_an_exercise_shows_no_terms():
    torch.manual_seed(0)
    rnn = rnntrace.trace(torch.nn.RNN(3, 4), torch.randn(5, 1, 3))
    plain = stage_payload.build(rnn, stage_payload.Shown(), key="rnn")
    assert "gates" not in plain["diagram"] and all("terms" not in f for f in plain["diagram"]["frames"])
    assert "click a gate" not in plain["diagram"]["svg"]  # its two terms are drawn as strips: nothing to click
    module, x, _ = case("LSTM")
    payload = stage_payload.build(rnntrace.trace(module, x), stage_payload.Shown(), key="lstm")
    assert "click a gate&#x27;s name: its terms" in payload["diagram"]["svg"]  # the title line says what a click does
    stage_exercise.mark(payload, 1, rnntrace.trace(module, x).config.spec)  # the terms and their sum would give answers away
    assert "gates" not in payload["diagram"] and all("terms" not in f for f in payload["diagram"]["frames"])
    assert "click a gate" not in payload["diagram"]["svg"]


# -- in Chromium: the lesson file (no server, no network), a slide, the widget's host ----------------


def check_panel(page, ref, field: str, t: int, n: int = 1, fits: bool = True) -> dict:
    page.wait_for_function(f"() => document.querySelector('.rnntrace-stage').dataset.painted === '{t}'")
    page.wait_for_function(f"() => ({PANEL})()?.head.includes('at t = {t}')")
    shown = page.evaluate(PANEL)
    assert shown["gate"] == field
    np.testing.assert_allclose(np.array(shown["rows"]), ref[field][t, n], atol=SHOWN, rtol=0, err_msg=f"{field} at t={t}")
    b = shown["box"]
    inside = b["top"] >= 0 and b["left"] >= 0 and b["right"] <= shown["w"] and b["bottom"] <= shown["h"]
    assert inside or not fits, f"the panel leaves the screen: {b}"
    return shown


@pytest.mark.browser
def test_in_the_lesson_file_a_click_or_a_key_on_a_gate_shows_its_terms_offline(browser, tmp_path):
    module, x, ref = case("LSTM", T=12)
    path = rnntrace.to_html(rnntrace.validate(module, x), tmp_path / "lesson.html", sample=1)
    context, page, blocked, errors = offline_page(browser, path)
    page.goto(path.as_uri())
    page.wait_for_function("() => document.querySelector('.rnntrace-stage')?.dataset.painted === '0'")
    assert "click a gate's name: its terms" in page.locator("svg text.note").last.text_content()  # said on screen
    assert page.evaluate(PANEL) is None  # hidden until asked for
    toggle = page.locator("g.toggle[data-gate='f_t']")
    assert toggle.get_attribute("role") == "button" and toggle.get_attribute("tabindex") == "0"
    assert "f_t" in toggle.get_attribute("aria-label") and toggle.get_attribute("aria-expanded") == "false"
    page.keyboard.press("ArrowRight")
    toggle.click()
    shown = check_panel(page, ref[0], "f_t", 1)
    assert shown["columns"][1:3] == ["xt Wifᵀ + bif", "ht−1 Whfᵀ + bhf"], shown["columns"]  # subscripts as <sub>
    assert toggle.get_attribute("aria-expanded") == "true"
    page.keyboard.press("ArrowRight")  # the panel follows t, from the payload (every request is blocked)
    check_panel(page, ref[0], "f_t", 2)
    page.locator("g.box[data-field='g_t'] g.cell[data-unit='1']").click()  # here a number is not editable: it opens its gate's terms
    check_panel(page, ref[0], "g_t", 2)
    page.locator("g.toggle[data-gate='g_t']").click()  # a second click hides them
    page.wait_for_function(f"() => ({PANEL})() === null")
    # the keyboard: Tab reaches a gate's name; Enter shows, Escape hides, Space shows (and does not play)
    page.locator("g.toggle[data-gate='o_t']").focus()
    page.keyboard.press("Enter")
    check_panel(page, ref[0], "o_t", 2)
    page.keyboard.press("Escape")
    page.wait_for_function(f"() => ({PANEL})() === null")
    page.keyboard.press("Space")
    check_panel(page, ref[0], "o_t", 2)
    page.wait_for_timeout(1300)  # nothing to wait for: at 1 step/s a Space that played would have moved t by now
    assert page.evaluate(PANEL)["t"] == 2, "Space on a focused gate played the stage"
    page.locator(".rnntrace-stage .terms button.close").click()
    page.wait_for_function(f"() => ({PANEL})() === null")
    page.keyboard.press("ArrowRight")  # the focus left the gate: the keys step again
    page.wait_for_function("() => document.querySelector('.rnntrace-stage').dataset.t === '3'")
    assert blocked == [] and errors == [], (blocked, errors)
    context.close()


@pytest.mark.browser
@pytest.mark.parametrize("dark", [False, True])
def test_a_gru_slide_shows_n_ts_terms_with_r_t_on_one_screen(browser, tmp_path, dark):
    module, x, ref = case("GRU", T=12)
    path = rnntrace.to_html(rnntrace.validate(module, x), tmp_path / "slides.html", slides=True, t=4, sample=1, dark=dark)
    context, page, blocked, errors = offline_page(browser, path)
    page.goto(path.as_uri())
    page.locator("g.toggle[data-gate='n_t']").click()
    shown = check_panel(page, ref[0], "n_t", 4)
    assert shown["columns"][3:5] == ["rt", "rt ⊙ (ht−1 Whnᵀ + bhn)"], shown["columns"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"gate_terms_gru_slide_{'dark' if dark else 'light'}_1280x720.png"))
    assert blocked == [] and errors == [], (blocked, errors)
    context.close()


@pytest.mark.browser
def test_in_the_notebook_widget_a_gates_terms_follow_t_and_escape_hides_them(browser, tmp_path):
    module, x, ref = case("GRU", T=10)
    w = rnntrace.show(rnntrace.validate(module, x), t=3, sample=1)
    page, _, errors = open_widget(browser, tmp_path, w)
    painted(page, 3)
    page.locator("g.toggle[data-gate='z_t']").click()  # the click also gives the stage the keys (a widget's keys are its own)
    check_panel(page, ref[0], "z_t", 3, fits=False)  # this stand-in notebook page loads no stage.css: no layout to check
    page.keyboard.press("ArrowRight")
    check_panel(page, ref[0], "z_t", 4, fits=False)
    page.locator("g.toggle[data-gate='n_t']").click()  # another gate: its terms replace the first's
    shown = check_panel(page, ref[0], "n_t", 4, fits=False)
    assert shown["columns"][3] == "rt"
    page.keyboard.press("Escape")
    page.wait_for_function(f"() => ({PANEL})() === null")
    assert errors == [], errors
    page.close()


# -- the dashboard: a click on a gate's name shows its terms, a click on a number still opens the What-if editor --

DASH = {"gru": {"cell": "GRU", "T": 12, "M": 4, "seed": 1}, "lstm": {"cell": "LSTM", "T": 12, "M": 4, "seed": 2}}


def dashboard_terms(config: dict) -> dict[str, np.ndarray]:
    L = lesson(config)
    x = torch.from_numpy(L.X)  # (N, T, D)
    h = torch.from_numpy(L.out).to(x.dtype)  # (N, T, M) torch's own h_t
    return torch_terms(L.module, x, h)


@pytest.mark.browser
@pytest.mark.parametrize("name, field", [("gru", "n_t"), ("lstm", "f_t")])
def test_in_the_dashboard_a_gates_name_shows_its_terms_and_a_number_still_opens_the_editor(browser, streamlit_server, name, field):
    config = DASH[name]
    ref = dashboard_terms(config)
    for scheme, query in (("light", {}), ("dark", {}), ("light", {"present": True})):
        context = browser.new_context(viewport={"width": 1280, "height": 720}, color_scheme=scheme)
        page = context.new_page()
        open_stage(page, streamlit_server, config, t=3, **query)
        page.locator(f"g.toggle[data-gate='{field}']").first.click()
        check_panel(page, ref, field, 3, n=0)
        shot = "present" if query else scheme
        page.screenshot(path=str(SHOTS / f"gate_terms_{name}_{shot}_1280x720.png"))
        page.keyboard.press("Escape")
        page.wait_for_function(f"() => ({PANEL})() === null")
        if query:
            context.close()
            continue
        page.locator(f"g.box[data-field='{field}'] g.cell[data-unit='1']").first.click()  # a number: the What-if editor, no terms
        page.locator(".st-key-what_if_add button").filter(has_text=f"{field}[1]").wait_for(state="visible", timeout=30_000)
        assert page.evaluate(PANEL) is None
        wait_idle(page)
        assert not exceptions(page)
        context.close()


def test_the_terms_follow_the_chosen_notation_with_the_same_numbers():
    module, x, ref = case("LSTM")
    trace = rnntrace.trace(module, x)
    book = stage_payload.build(trace, stage_payload.Shown(sample=1), key="book", notation="textbook")["diagram"]
    assert book["gates"]["f_t"]["columns"][:2] == ["W_xf x_t + b_xf", "W_hf h_{t-1} + b_hf"], book["gates"]["f_t"]["columns"]
    assert "rows 5..9 of W_ih, W_hh" in book["gates"]["f_t"]["rows"]  # torch's tensors named in either notation
    got = np.array(book["frames"][3]["terms"]["f_t"], dtype=float)
    np.testing.assert_allclose(got, ref[0]["f_t"][3, 1], atol=SHOWN, rtol=0)
