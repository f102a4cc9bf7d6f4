"""The dashboard through Streamlit's AppTest: every cell, every view, edge sizes, stepping, URLs.

Numbers on screen are checked against torch run here, independently of the app.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from apptest import agreement, frame_by_title, new_app, run_clean, settle, shown_t, stage_payloads
from streamlit.testing.v1 import AppTest
from test_screen import READ as SCREEN_READ

import rnntrace
from rnntrace.dashboard.config import LessonConfig, build_input, build_model
from rnntrace.dashboard.url import VIEWS
from rnntrace.inputs import make_input


def torch_reference(config: LessonConfig):
    """torch's own output and y for the config, computed here, not by the app."""
    model = build_model(config)
    X = torch.from_numpy(build_input(config))
    with torch.no_grad():
        out, _ = model.rnn(X)
        y = model.fc(out)
    return out.numpy(), y.numpy()


def test_first_screen_is_the_lesson_and_agrees_with_torch():
    at = run_clean(new_app())
    assert agreement(at) < 1e-5
    assert any("nn.RNN(tanh) + nn.Linear" in m.value for m in at.markdown)
    assert "N=1, T=10, D=3, M=5, K=2" in at.caption[0].value
    # the y_t table at t = 0 shows torch's y beside ours; both match torch computed here
    _, y = torch_reference(LessonConfig())
    table = frame_by_title(at, "y_t torch")
    np.testing.assert_allclose(table["y_t torch"].to_numpy(), y[0, 0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(table["y_t"].to_numpy(), y[0, 0], rtol=0, atol=1e-5)
    assert at.latex, "the step's equations are shown"


def test_settled_steps_update_the_numbers_and_clamp():
    at = run_clean(new_app())
    out, y = torch_reference(LessonConfig())
    for expected in [1, 2, 3]:
        settle(at, expected)
        assert shown_t(at) == expected
        h = frame_by_title(at, "h_t")["h_t"].to_numpy()
        np.testing.assert_allclose(h, out[0, expected], atol=1e-5)
    settle(at, 9)
    np.testing.assert_allclose(frame_by_title(at, "y_t torch")["y_t"].to_numpy(), y[0, 9], atol=1e-5)
    settle(at, 12)  # past the end (a smaller T after a change): clamped to the last step
    assert shown_t(at) == 9
    np.testing.assert_allclose(frame_by_title(at, "h_t")["h_t"].to_numpy(), out[0, 9], atol=1e-5)


# The numbers of the views that tests/dashboard/test_screen.py reads (READ) are checked there, under their
# labels, against torch; here every other view of the registry renders cleanly for every cell kind.
@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("view", [v for v in VIEWS if v not in SCREEN_READ])
def test_every_cell_renders_the_views_no_screen_test_reads(cell, view):
    at = run_clean(new_app(cell=cell, view=view, t=4))
    assert agreement(at) < 1e-5


@pytest.mark.parametrize(
    "query",
    [
        {"T": 1},
        {"M": 1},
        {"D": 1},
        {"K": 1},
        {"N": 3, "sample": 2},
        {"layers": 2, "bidirectional": "true", "layer_sel": 1, "direction": "reverse", "cell": "LSTM"},
        {"inputs": "sine", "D": 4},
        {"inputs": "onehot", "D": 6, "T": 12},
        {"cell": "GRU", "bias": "false", "dtype": "float64"},
        {"nonlinearity": "relu"},
    ],
)
def test_edge_sizes_and_options(query):
    at = run_clean(new_app(**query))
    assert agreement(at) < 1e-5
    at.query_params["view"] = "Over time"
    settle(at, 1)


def test_over_time_at_the_largest_steady_state():
    at = run_clean(new_app(T=500, M=128, view="Over time", t=250, cell="LSTM"))
    (payload,) = stage_payloads(at)
    assert [c["name"] for c in payload["charts"]] == ["h_t", "x_t", "gates", "y_t", "diff"]  # heatmap, input, gates, y, |Δ|
    assert payload["T"] == 500 and payload["window"] == [0, 500] and payload["diagram"] is None


def test_url_parameters_reproduce_the_view():
    at = run_clean(new_app(cell="GRU", T=20, M=7, seed=3, t=12))
    assert at.selectbox(key="cell").value == "GRU"
    assert at.number_input(key="T").value == 20
    assert shown_t(at) == 12
    out, _ = torch_reference(LessonConfig(cell="GRU", T=20, M=7, seed=3))
    np.testing.assert_allclose(frame_by_title(at, "h_t")["h_t"].to_numpy(), out[0, 12], atol=1e-5)


@pytest.mark.parametrize(
    "bad",
    [{"T": "abc"}, {"N": "99"}, {"cell": "Transformer"}, {"t": "50"}, {"bias": "maybe"}, {"view": "Nope"}, {"M": "-3"}],
)
def test_bad_url_values_fall_back_with_a_notice(bad):
    at = run_clean(new_app(**bad))
    assert at.warning, "a notice says which parameter was ignored"
    name = next(iter(bad))
    assert name in at.warning[0].value
    assert agreement(at) < 1e-5  # and the lesson still runs
    settle(at, 1)


def test_over_budget_is_refused_with_reasons_and_recovers():
    at = run_clean(new_app(N=16, T=2000, M=512, layers=4))
    assert at.error and "budget" in at.error[0].value
    at.number_input(key="N").set_value(1)
    at.number_input(key="T").set_value(10)
    at.number_input(key="M").set_value(5)
    at.number_input(key="layers").set_value(1)
    run_clean(at)
    assert not at.error and agreement(at) < 1e-5


def test_presentation_mode_shows_the_essentials():
    at = run_clean(new_app(present="true"))
    assert at.latex, "the step's equation is on the slide"
    from rnntrace.dashboard.views import VIEWS as REGISTRY

    slides = [t.label for t in at.tabs]
    assert slides == [v.TITLE for v in REGISTRY if v.IN_PRESENTATION] and "Step" in slides and "Shapes" not in slides
    settle(at, 1)
    assert shown_t(at) == 1


def test_editing_x_changes_the_trace_and_agrees_with_torch():
    at = run_clean(new_app())
    assert not [d for d in at.sidebar.dataframe if d.key and d.key.startswith("x_editor_")], "closed until asked for"
    at.session_state["x_edit_open"] = True  # the user opens "Edit X by hand"
    run_clean(at)
    editors = [d for d in at.sidebar.dataframe if d.key and d.key.startswith("x_editor_")]
    assert editors, "small X is offered for editing"
    np.testing.assert_allclose(editors[0].value.to_numpy(), build_input(LessonConfig())[0], atol=1e-6)
    # what the browser sends when x[0] at t = 0 is typed over with 5.0
    at.session_state[editors[0].key] = {"edited_rows": {0: {"x[0]": 5.0}}, "added_rows": [], "deleted_rows": []}
    run_clean(at)
    X = build_input(LessonConfig()).copy()
    X[0, 0, 0] = 5.0
    model = build_model(LessonConfig())
    with torch.no_grad():
        y = model.fc(model.rnn(torch.from_numpy(X))[0]).numpy()
    shown = frame_by_title(at, "y_t torch")
    np.testing.assert_allclose(shown["y_t torch"].to_numpy(), y[0, 0], atol=1e-6)
    np.testing.assert_allclose(shown["y_t"].to_numpy(), y[0, 0], atol=1e-5)
    assert agreement(at) < 1e-5
    at.session_state["x_edit_open"] = False  # closing the panel keeps the edit
    run_clean(at)
    np.testing.assert_allclose(frame_by_title(at, "y_t torch")["y_t torch"].to_numpy(), y[0, 0], atol=1e-6)


@pytest.mark.parametrize("view", ["Step", "Over time", "Weights", "Shapes"])
def test_largest_single_sample_lstm_renders(view):
    at = run_clean(new_app(cell="LSTM", T=2000, M=512, t=1999, view=view))
    assert not at.error and agreement(at) < 1e-5
    assert shown_t(at) == 1999
    settle(at, 1998)
    assert not at.error


def test_every_layer_and_direction_shows_torchs_h_beside_ours():
    config = LessonConfig(cell="GRU", layers=2, bidirectional=True, T=6, seed=4)
    at = run_clean(new_app(cell="GRU", layers=2, bidirectional="true", T=6, seed=4, t=2, layer_sel=0, direction="reverse"))
    # torch, run here: layer 0 alone on X gives layer 0's h_t of both directions
    model = build_model(config)
    X = torch.from_numpy(build_input(config))
    layer0 = torch.nn.GRU(3, 5, batch_first=True, bidirectional=True)
    layer0.load_state_dict({k: v for k, v in model.rnn.state_dict().items() if "_l0" in k})
    with torch.no_grad():
        h = layer0(X)[0].numpy()  # (1, T, 2*M)
    table = frame_by_title(at, "h_t torch")
    np.testing.assert_allclose(table["h_t torch"].to_numpy(), h[0, 2, 5:], atol=1e-6)  # reverse direction at t = 2
    np.testing.assert_allclose(table["h_t"].to_numpy(), h[0, 2, 5:], atol=1e-5)
    assert (table["|Δ|"] < 1e-5).all()


def test_the_guided_lesson_opens_at_a_step_from_the_url_and_sets_its_configuration():
    from rnntrace.dashboard.tour import TOUR

    assert len(TOUR) >= 6
    at = run_clean(new_app(tour=3))
    assert any(f"Lesson 3 of {len(TOUR)}" in m.value for m in at.markdown)
    assert shown_t(at) == TOUR[2].setup["t"]
    at.button(key="tour_next").click()
    run_clean(at)
    assert any(f"Lesson 4 of {len(TOUR)} · {TOUR[3].title}" in m.value for m in at.markdown)
    assert at.query_params["tour"] == ["4"] or at.query_params["tour"] == "4"
    assert at.selectbox(key="inputs").value == "impulse" and at.number_input(key="T").value == 30
    at.button(key="tour_next").click()  # tanh versus relu
    run_clean(at)
    assert at.selectbox(key="nonlinearity").value == "relu"
    at.button(key="tour_back").click()
    run_clean(at)
    assert at.selectbox(key="nonlinearity").value == "tanh", "entering a step resets what it does not set"
    at.button(key="tour_leave").click()
    run_clean(at)
    assert not any("Lesson " in m.value and " of " in m.value for m in at.markdown)


@pytest.mark.parametrize("bad", ["0", "99", "abc"])
def test_a_bad_lesson_step_in_the_url_says_so_and_the_page_works(bad):
    at = run_clean(new_app(tour=bad))
    assert any("tour" in w.value for w in at.warning)
    assert agreement(at) < 1e-5


def test_the_lesson_step_on_a_trained_model_shows_one():
    from rnntrace.dashboard.tour import TOUR

    at = run_clean(new_app(tour=next(k for k, s in enumerate(TOUR, 1) if s.setup.get("task"))))
    assert at.selectbox(key="task").value == "memory"
    assert any("trained on 'memory'" in c.value for c in at.caption)
    at.button(key="tour_back").click()
    run_clean(at)
    assert at.selectbox(key="task").value == "none", "the other steps are back on random weights"


def test_an_overflow_is_named_where_it_happens_not_shown_as_agreement():
    def page():
        import streamlit as st
        import torch

        import rnntrace
        from rnntrace.dashboard import header

        torch.manual_seed(0)
        rnn = torch.nn.RNN(2, 16, nonlinearity="relu", batch_first=True)
        with torch.no_grad():
            rnn.weight_hh_l0.mul_(40)  # an exploding recurrence: float32 overflows within a few dozen steps
        header.agreement(st.container(), rnntrace.validate(rnn, torch.ones(1, 300, 2)))

    at = AppTest.from_function(page, default_timeout=120).run()
    badge = at.markdown[0].value
    assert "overflowed at t=" in badge and "torch" in badge and "✓" not in badge, badge


@pytest.mark.parametrize(
    "query",
    [{"nonlinearity": "relu", "w_scale": "2.5", "T": "12"}, {"cell": "LSTM", "f_bias": "3", "w_scale": "0.5", "T": "8"}],
)
def test_weight_scale_and_forget_bias_are_applied_and_the_code_view_repeats_them(tmp_path, query):
    at = run_clean(new_app(view="Code", **query))
    script = tmp_path / "lesson.py"
    script.write_text(at.code[0].value)
    printed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True).stdout
    # torch's own model with the change written out here, not by the app
    cell = query.get("cell", "RNN")
    model = rnntrace.SimpleRNN(3, 5, 2, cell=cell.lower(), nonlinearity=query.get("nonlinearity", "tanh"), seed=0)
    with torch.no_grad():
        model.rnn.weight_hh_l0.mul_(float(query["w_scale"]))
        if "f_bias" in query:
            model.rnn.bias_ih_l0[5:10] += float(query["f_bias"])  # [i | f | g | o], M = 5
        T = int(query["T"])
        y = model.fc(model.rnn(torch.from_numpy(make_input("normal", 1, T, 3, 0)).float())[0])[0].numpy()
    shown = [np.array(line.split("=", 1)[1].strip(" []").split(), float) for line in printed.splitlines() if line.startswith("y[")]
    np.testing.assert_allclose(np.stack(shown), y, atol=2e-5)
    assert agreement(at) < 1e-3


def test_an_out_of_range_weight_scale_in_a_link_says_so():
    at = run_clean(new_app(w_scale="99"))
    assert any("w_scale" in w.value for w in at.warning)
