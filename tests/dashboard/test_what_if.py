"""What if, on the page: edits from the link, the presets and the editor, read off the screen against torch running the same edits.

The expected numbers come from ``tests/oracle.py``'s loop of torch ops running the same edits
(``edits_callback``: its own reading of ``rnntrace.Edit``, written here by hand for each link, so
the link's grammar is checked too) on the lesson's model built with rnntrace's public API, never
from the dashboard's trace. The screen is read with ``tests/test_screen.py``'s readers.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from apptest import charts, dataset
from oracle import edits_callback, lesson, torch_steps
from streamlit.testing.v1 import AppTest
from test_screen import check_diagram, check_latex, check_tables, render

from rnntrace import Edit

BASE = {"N": 2, "T": 6, "D": 3, "M": 5, "K": 4}
LINKS = {  # the link's edit= value -> the same edits written as rnntrace.Edit
    "lstm_forget_open": ({"cell": "LSTM", **BASE, "seed": 4}, "f_t:u2:t3-:1", [Edit("f_t", 1.0, unit=2, t=slice(3, None))]),
    "gru_reset_closed": ({"cell": "GRU", **BASE, "seed": 3}, "r_t:0", [Edit("r_t", 0.0)]),
    "rnn_silence_and_no_input": (
        {"cell": "RNN", **BASE, "seed": 1},
        "h_t:u1:0,x_t:t1-:0",
        [Edit("h_t", 0.0, unit=1), Edit("x_t", 0.0, t=slice(1, None))],
    ),
    "lstm_two_layers_window": (
        {"cell": "LSTM", **BASE, "layers": 2, "seed": 5},
        "c_t:t1-2:l1:0.5,h_t:u3:t2:0",
        [Edit("c_t", 0.5, t=slice(1, 3), layer=1), Edit("h_t", 0.0, unit=3, t=2)],
    ),
}


def edited_lesson(config: dict, edits: list[Edit]):
    """The lesson's model and X, with torch's numbers for the edited run (oracle loop) and its head's y."""
    L = lesson(config)
    X_tnd = np.swapaxes(L.X, 0, 1)  # (T, N, D)
    ref = torch_steps(L.module, X_tnd, edit=edits_callback(edits, L.layers, X_tnd.shape[0]))
    with torch.no_grad():
        out = torch.from_numpy(ref.output).to(L.head.weight.dtype)
        y = L.head(out).numpy().astype(np.float64)  # (T, N, K)
    return dataclasses.replace(L, ref=ref, y=np.swapaxes(y, 0, 1), out=np.swapaxes(ref.output, 0, 1))


@pytest.mark.parametrize("name", LINKS)
def test_an_edit_in_the_link_shows_torchs_edited_numbers(name):
    config, link, edits = LINKS[name]
    E = edited_lesson(config, edits)
    layer, t, n = config.get("layers", 1) - 1, 3, 1
    at = render(config, "Step", edit=link, t=t, sample=n, **({"layer_sel": layer} if layer else {}))
    assert not at.warning, [w.value for w in at.warning]
    check_latex(at, E, layer, 0, t, n)
    check_tables(at, E, layer, 0, t, n)
    check_diagram(at, E, layer, 0, t, n)
    assert any(c.value.startswith("✏️ What if") for c in at.caption), "the header says what was edited"
    assert any(" ✏️]" in m.value and "= torch ✓" in m.value for m in at.markdown), "the badge compares with torch's edited run"
    plain = lesson(config)
    assert np.abs(plain.y - E.y).max() > 1e-3, "the edit changes what the page shows"


def test_the_over_time_chart_draws_the_original_beside_the_edited_run():
    config, link, edits = LINKS["lstm_forget_open"]
    E, plain = edited_lesson(config, edits), lesson(config)
    at = render(config, "Over time", edit=link, sample=1)
    frames = charts(at)
    (title,) = [k for k in frames if k and k.startswith("Output y_t")]
    y = dataset(frames[title], "manual", "torch", "original").sort_values(["k", "t0"])
    for column, expected in (("torch", E.y[1]), ("original", plain.y[1])):
        shown = y.pivot(index="t0", columns="k", values=column).to_numpy()
        np.testing.assert_allclose(shown, expected, rtol=1e-5, atol=2e-6, err_msg=column)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("f_t:u2:t3-:1", "nn.RNN computes no 'f_t'"),  # an LSTM's gate on an RNN
        ("h_t:u9:0", "unit=9 is out of range"),  # M = 5
        ("h_t:t6-:0", "t=slice(6, None, None) selects nothing"),  # T = 6
        ("h_t:u1:abc", "is not a number"),
        ("q_t:1", "'q_t' is not an editable quantity"),
    ],
)
def test_a_bad_edit_in_the_link_gives_one_notice_and_is_ignored(bad, why):
    at = render({"cell": "RNN", **BASE, "seed": 1}, "Step", edit=bad)
    assert len(at.warning) == 1 and "URL parameter edit=" in at.warning[0].value and why in at.warning[0].value, [
        w.value for w in at.warning
    ]
    assert not any(c.value.startswith("✏️ What if") for c in at.caption)  # no edit applied (the Step caption names What if)
    assert not any("✏️]" in m.value for m in at.markdown)
    assert "edit" not in at.query_params or not at.query_params["edit"]


def caption_edits(at: AppTest) -> str:
    (line,) = [c.value for c in at.caption if c.value.startswith("✏️ What if")]
    return line


def test_presets_the_editor_the_link_and_clear():
    config = {"cell": "LSTM", **BASE, "seed": 4}
    at = render(config, "Step", t=4)
    at.button(key="what_if_f_t:1").click().run()  # forget gate stuck open
    assert at.session_state["edit"] == "f_t:1"
    assert "f_t = 1" in caption_edits(at)
    at.number_input(key="what_if_unit").set_value(2).run()
    at.button(key="what_if_silence").click().run()
    assert at.session_state["edit"] == "f_t:1,h_t:u2:0"
    at.selectbox(key="what_if_q").set_value("g_t").run()
    at.selectbox(key="what_if_u").set_value(1).run()
    at.number_input(key="what_if_t").set_value(3).run()
    at.number_input(key="what_if_v").set_value(0.5).run()
    at.button(key="what_if_add").click().run()
    link = at.session_state["edit"]
    assert link == "f_t:1,h_t:u2:0,g_t:u1:t3-:0.5"
    edits = [Edit("f_t", 1.0), Edit("h_t", 0.0, unit=2), Edit("g_t", 0.5, unit=1, t=slice(3, None))]
    E = edited_lesson(config, edits)
    check_tables(at, E, 0, 0, 4, 0)

    again = render(config, "Step", t=4, edit=at.query_params["edit"])  # the link the page wrote opens the same edits
    assert caption_edits(again) == caption_edits(at)
    check_tables(again, E, 0, 0, 4, 0)

    at.button(key="what_if_clear").click().run()
    assert at.session_state["edit"] == ""
    assert not any(c.value.startswith("✏️ What if") for c in at.caption)
    check_tables(at, lesson(config), 0, 0, 4, 0)


def test_presentation_mode_shows_the_edits():
    at = render({"cell": "GRU", **BASE, "seed": 3}, None, edit="r_t:0", present="true")
    assert any("✏️ r_t = 0" in m.value for m in at.markdown), [m.value[:80] for m in at.markdown]


def test_the_backward_view_differentiates_the_edited_graph():
    """Its badge is validate_grads with the edits: autograd on torch's loop running them (tests/library/test_edits.py checks that loop)."""
    config, link, _ = LINKS["lstm_forget_open"]
    edited, plain = render(config, "Backward", edit=link), render(config, "Backward")
    badges = [m.value for m in edited.markdown if "= autograd" in m.value]
    assert badges and all("= autograd ✓" in b for b in badges), badges
    data = lambda at: {k: [f.to_numpy().tolist() for f in v] for k, v in charts(at).items() if k}  # noqa: E731
    assert data(edited) != data(plain), "the edited run's gradients are drawn, not the original's"


def test_the_code_view_gives_the_edits_as_library_calls():
    config, link, _ = LINKS["gru_reset_closed"]
    at = render(config, "Code", edit=link)
    assert any("rnntrace.Edit('r_t', 0.0)" in c.value and "edits=edits" in c.value for c in at.code), [c.value[:200] for c in at.code]


def test_the_lesson_step_a_forget_gate_stuck_open_keeps_c_exactly():
    from rnntrace.dashboard.tour import TOUR

    k = next(i for i, s in enumerate(TOUR, 1) if s.title.startswith("What if the forget gate"))
    at = render({}, None, tour=k)
    assert "f_t = 1 for t ≥ 1; i_t = 0 for t ≥ 1" in caption_edits(at)
    config = {"cell": "LSTM", "inputs": "impulse", "T": 30}
    E = edited_lesson(config, [Edit("f_t", 1.0, t=slice(1, None)), Edit("i_t", 0.0, t=slice(1, None))])
    check_tables(at, E, 0, 0, 20, 0)
    np.testing.assert_array_equal(E.ref.q("c_t")[20], E.ref.q("c_t")[0])  # torch's own: the memory of t = 0, kept
    at.button(key="what_if_clear").click().run()
    assert np.abs(lesson(config).ref.q("c_t")[20] - E.ref.q("c_t")[20]).max() > 1e-3  # without the edits it faded
    check_tables(at, lesson(config), 0, 0, 20, 0)


def test_the_picture_marks_the_edited_numbers():
    from apptest import stage_payload

    config, link, _ = LINKS["lstm_forget_open"]
    payload = stage_payload(render(config, "Step", edit=link))
    marked = set()
    for frame in payload["diagram"]["frames"]:
        for box in frame["boxes"]:
            for k, cell in enumerate(box[2]):
                if len(cell) > 5 and cell[5]:
                    assert "edited" in cell[3] and cell[0] == "1.000", cell
                    marked.add((box[0].split(":")[0], k, frame["t"]))
    assert marked == {("f_t", 2, t) for t in range(3, BASE["T"])}, sorted(marked)
