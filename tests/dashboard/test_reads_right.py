"""Things that read as wrong (issue 23, item 4): each checked against the source, the page or torch.

- No ratio is printed with a fixed number of decimals ("0.00×" for 0.0008×): the sources hold
  no ``:.Nf}×`` / ``×{...:.Nf}`` format, and the memory task's chart title prints torch's losses' ratio.
- Lesson 4 ("fades"): the impulse fades to each unit's resting value (not to white), as its text says,
  checked with torch's own forward on the lesson's model.
- Lessons about the forget gate, and the LSTM slide (``?present=true&cell=LSTM``), open at a t where
  c_{t-1} ≠ 0 (torch's c_{t-1}); the slide says why it opens at t = 1.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from apptest import new_app, run_clean, shown_t
from oracle import edits_callback, lesson, torch_steps

from rnntrace import Edit
from rnntrace.dashboard import tour
from rnntrace.dashboard.stage import KEPT_T

ROOT = Path(__file__).resolve().parents[2]
FIXED_RATIO = re.compile(r"\{[^{}]*:[^{}]*\.\d+f\}\s*×|×\s*\{[^{}]*:[^{}]*\.\d+f\}")  # f"{r:.2f}×", f"×{r:.2f}"


def test_no_ratio_is_printed_with_fixed_decimals():
    files = [ROOT / "app.py", *sorted((ROOT / "rnntrace").rglob("*.py"))]
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in files for i, line in enumerate(p.read_text().splitlines(), 1)]
    bad = [line for line in found if FIXED_RATIO.search(line)]
    assert not bad, "a ratio under 0.01 would print as 0.00×: use a :.2g format\n" + "\n".join(bad)
    assert FIXED_RATIO.search('f"fell to {r:.2f}× its start"') and FIXED_RATIO.search('f"×{r:.3f}"'), "the pattern finds what it looks for"


def _lesson_config(k: int) -> dict:
    """A lesson step's configuration: the defaults with its setup over them (what the page runs)."""
    return {key: v for key, v in {**tour.DEFAULTS, **tour.TOUR[k - 1].setup}.items() if key in ("cell", "T", "inputs", "nonlinearity")}


def test_lesson_4_the_impulse_fades_to_each_units_resting_value_as_its_text_says():
    k = next(i for i, s in enumerate(tour.TOUR, 1) if s.title == "Memory: an impulse")
    step = tour.TOUR[k - 1]
    assert "fades" in step.text and "resting point, not always white" in step.look
    L = lesson(_lesson_config(k))
    h = L.ref.q("h_t")[:, 0]  # (T, M) torch's h_t (the oracle's, checked against torch's fused forward)
    m = L.module
    rest = torch.zeros(1, m.hidden_size)
    with torch.no_grad():  # with no input at all: h* = tanh(b_ih + h* W_hhᵀ + b_hh), iterated to its fixed point
        for _ in range(500):
            rest = torch.tanh(m.bias_ih_l0 + rest @ m.weight_hh_l0.T + m.bias_hh_l0)
    rest = rest[0].double().numpy()
    assert np.abs(h[0] - rest).max() > 0.1, "the impulse stands out at t = 0"
    settled = next(t for t in range(len(h)) if np.abs(h[t:] - rest).max() < 0.01)
    assert settled <= 8, f"'fades within a few steps': torch's h_t is within 0.01 of its resting value only from t = {settled}"
    if np.abs(rest).max() > 0.05:  # the heatmap does not turn white there: the text must not say it does
        assert "fades to white" not in step.text + step.look


def _c_prev(config: dict, t: int, edits: list[Edit] = ()) -> np.ndarray:
    L = lesson(config)
    if not edits:
        return L.ref.q("c_prev")[t, 0]
    ref = torch_steps(L.module, np.swapaxes(L.X, 0, 1), edit=edits_callback(list(edits), 1, config["T"]))
    return ref.q("c_prev")[t, 0]


@pytest.mark.parametrize("k", [i for i, s in enumerate(tour.TOUR, 1) if "forget gate" in s.title + s.text])
def test_a_lesson_about_the_forget_gate_opens_where_c_prev_is_not_zero(k):
    setup = tour.TOUR[k - 1].setup
    config = _lesson_config(k)
    assert config["cell"] == "LSTM"
    t = setup["t"]
    edits = []
    if "edit" in setup:  # "from t = 1 on, f_t = 1 and i_t = 0", as the lesson says it, for torch's loop
        assert setup["edit"] == "f_t:t1-:1,i_t:t1-:0", setup["edit"]
        edits = [Edit("f_t", 1.0, t=slice(1, None)), Edit("i_t", 0.0, t=slice(1, None))]
    c = _c_prev(config, t, edits)
    assert t >= 1 and np.abs(c).min() > 1e-3, f"lesson {k} opens at t = {t}, where torch's c_t-1 = {c}"


def test_the_lstm_slide_opens_at_t_1_where_c_prev_is_not_zero_and_says_so():
    at = run_clean(new_app(present=True, cell="LSTM"))
    assert shown_t(at) == KEPT_T >= 1
    assert at.query_params["t"] == [str(KEPT_T)] or at.query_params["t"] == str(KEPT_T), at.query_params["t"]
    payloads = [p for p in (stage_payload_or_none(at),) if p]
    assert payloads and payloads[0]["seek"][0] == KEPT_T, "the browser stage is sent to t = 1"
    assert any(f"opens at t = {KEPT_T}" in c.value and "c_t−1 = c0 = 0" in c.value for c in at.caption), "the slide says why"
    c = _c_prev({"cell": "LSTM"}, KEPT_T)
    assert np.abs(c).min() > 1e-3, f"torch's c_t-1 at t = {KEPT_T}: {c}"
    linked = run_clean(new_app(present=True, cell="LSTM", t=0))  # a link's t wins
    assert shown_t(linked) == 0
    gru = run_clean(new_app(present=True, cell="GRU"))  # no cell state: nothing to wait for
    assert shown_t(gru) == 0 and not any("opens at t" in c.value for c in gru.caption)


def stage_payload_or_none(at) -> dict | None:
    """The slide's picture stage (the one with the diagram)."""
    from apptest import stage_payloads

    with_diagram = [p for p in stage_payloads(at) if p.get("diagram")]
    return with_diagram[0] if with_diagram else None
