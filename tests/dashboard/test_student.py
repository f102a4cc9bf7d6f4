"""A student alone (issue 23): the words on the page say what the screen shows.

Each test reads the page through AppTest and checks it against what it describes: the loss
ratio against the trained model's own losses, the memory task's text against the cell kind,
the lesson panel's buttons against their jobs.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from apptest import new_app, run_clean, stage_payload
from oracle import lesson

from rnntrace.dashboard import state
from rnntrace.dashboard.tour import LOOK_ID, TOUR
from rnntrace.tasks import LOSS_WINDOW, TASKS


def test_a_loss_ratio_under_0_01_is_never_printed_as_zero():
    at = run_clean(new_app(task="memory", cell="LSTM", view="Task", timeout=300))
    (key,) = [k for k in state._trained_store()["models"] if k[:2] == ("memory", "lstm")]
    trained = state._trained_store()["models"][key]
    w = max(1, min(LOSS_WINDOW, len(trained.losses) // 2))  # the ratio as documented: mean of the last w over the first w
    ratio = float(np.mean(trained.losses[-w:]) / np.mean(trained.losses[:w]))
    captions = " ".join(c.value for c in at.caption)
    found = re.search(r"loss fell to ([0-9.e+-]+)× its start", captions)
    assert found, captions
    shown = float(found[1])
    assert shown > 0, f"a ratio of {ratio:.3g} printed as {found[1]}"
    assert shown == pytest.approx(ratio, rel=0.05), (found[1], ratio)  # two significant digits


def test_the_memory_task_says_an_lstm_keeps_the_bit_in_its_cell_state():
    text = TASKS["memory"].describe()
    assert "c_t" in text and "LSTM" in text, text


@pytest.mark.parametrize("k", [1, len(TOUR)])
def test_the_lesson_panel_names_its_buttons_and_its_look_line(k):
    at = run_clean(new_app(tour=k))
    labels = {b.key: b.label for b in at.button if b.key and b.key.startswith("tour_")}
    assert labels == {"tour_back": "Back", "tour_next": "Next lesson step", "tour_leave": "Leave lesson"}, labels
    assert any(f"id='{LOOK_ID}'" in m.value and "Look at" in m.value for m in at.markdown)
    assert any(e.label == "Read the explanation" for e in at.expander)


def test_the_help_popover_explains_the_pages_words_and_one_name_per_size():
    at = run_clean(new_app(task="sine", view="Task", timeout=300))
    text = " ".join(m.value for m in at.markdown)
    for word in ("N, T, D", "**M**", "**K**", "head", "replay", "autograd", "Adam", "h0 / h_0", "W_ih"):
        assert word in text, f"the ? popover does not explain {word!r}"
    shown = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert not re.search(r"\bH = \d", shown), "the hidden size is M everywhere on the page, not H"
    assert re.search(r"\bM = \d", shown), "the Task page names its hidden size M"


NUMBER = r"(-?\d+\.\d+)"


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
def test_under_the_picture_one_sentence_reads_the_step_with_torchs_numbers(cell):
    config = {"cell": cell, "T": 6}
    t = 3
    at = run_clean(new_app(**config, t=t))
    (frame,) = [f for f in stage_payload(at)["diagram"]["frames"] if f["t"] == t]
    reads = frame["reads"]
    q = lesson(config).ref.steps[(0, 0)]
    k = int(re.match(r"Unit (\d+) changed most", reads)[1])
    state = "c" if cell == "LSTM" else "h"
    moved = np.abs(q[f"{state}_t"][t, 0] - q[f"{state}_prev"][t, 0])[:8]
    assert k == int(np.argmax(moved)), f"the sentence reads unit {k}; torch's {state}_t moved most at unit {np.argmax(moved)}"
    expect = {
        "RNN": [("h_t", "h_t")],
        "GRU": [("z_t", "z_t"), ("n_t", "n_t"), ("r_t", "r_t"), ("h_t", "h_t")],
        "LSTM": [("f_t", "f_t"), ("c_t−1", "c_prev"), ("c_t", "c_t"), ("o_t", "o_t")],
    }[cell]
    if cell == "RNN":  # pre[k] = a from x_t ± b from h_t−1 = p: the two terms and their sum
        m = re.search(re.escape(f"pre[{k}] = ") + NUMBER + r" from x_t ([+−]) (\d+\.\d+) from h_t−1 = " + NUMBER, reads)
        a, b, p = float(m[1]), float(m[3]) * (-1 if m[2] == "−" else 1), float(m[4])
        for shown, name in ((a, "input_term"), (b, "hidden_term"), (p, "pre_activation")):
            assert abs(shown - q[name][t, 0, k]) <= 5e-4 + 1e-6, f"{name}[{k}] reads {shown}; torch's is {q[name][t, 0, k]:.6f}"
    for label, name in expect:
        shown = float(re.search(re.escape(f"{label}[{k}]") + r" = " + NUMBER, reads)[1])
        assert abs(shown - q[name][t, 0, k]) <= 5e-4 + 1e-6, f"{label}[{k}] reads {shown}; torch's {name} is {q[name][t, 0, k]:.6f}"


def test_exercise_mode_keeps_the_sentence_that_would_give_the_answer_away():
    at = run_clean(new_app(exercise=1, t=2))
    assert all(f["reads"] == "" for f in stage_payload(at)["diagram"]["frames"])


@pytest.mark.parametrize("cell", ["RNN", "LSTM"])
def test_every_colour_scale_on_the_picture_and_the_heatmaps_has_a_legend(cell):
    at = run_clean(new_app(cell=cell, T=6, view="Over time"))
    payload = stage_payload(at)
    at = run_clean(new_app(cell=cell, T=6))
    svg = stage_payload(at)["diagram"]["svg"]
    assert "tanh and the rest: −" in svg and svg.count('class="legend"') >= 9, "the picture's red–white–blue ramp"
    assert ("σ gates: 0" in svg) == (cell == "LSTM"), "a σ ramp where gates are drawn"

    def colours(node):
        if isinstance(node, dict):
            if "color" in node.get("encoding", {}):
                yield node["encoding"]["color"]
            for value in node.values():
                yield from colours(value)
        elif isinstance(node, list):
            for value in node:
                yield from colours(value)

    checked = set()
    for chart in payload["charts"]:
        for colour in colours(chart["spec"]):
            if colour.get("type") == "quantitative":
                assert colour.get("legend", {}) is not None, f"the {chart['name']} chart's colour scale has no legend"
                checked.add(chart["name"])
    assert "h_t" in checked, f"the h_t heatmap's colour scale was read: {checked}"
