"""The Task view read off the screen, against torch: the prediction, the next characters, the units that hold the bit.

Each task is opened once through ``AppTest`` from a link (``?task=...&cell=...&view=Task&t=...``);
the app trains the model (once per process, shared by every session) and the test takes that
same model from the app's store. The expected numbers are torch's: the model's own forward
(``model.fc(model.rnn(model.rnn_input(x)))``), torch.sigmoid / torch.softmax for the readout, and
``tests/oracle.py``'s step-by-step torch ops for c_t and the gates. Nothing is compared with
the dashboard's own trace.

Tolerance: chart data are float64 copies of float32 values: |shown − torch| ≤ 2e-5 + 1e-5·|torch|.
"""

from __future__ import annotations

import html
import json
import re
from types import SimpleNamespace

import altair as alt
import numpy as np
import pandas as pd
import pytest
import torch
from apptest import dataset, new_app
from oracle import torch_steps
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from rnntrace.dashboard import state, task_charts
from rnntrace.dashboard.views import NAMES
from rnntrace.dashboard.views.task import _text_html, task_line
from rnntrace.tasks import TASKS

PREDICTION = {"sine": "Prediction vs target", "memory": "P(marked bit = 1)", "chars": "Probability of the actual next character"}
# one cell per task; chars at H = 16 to keep the file fast (training is most of its time)
CASES = {
    "sine": {"task": "sine", "cell": "RNN", "t": 7},
    "memory": {"task": "memory", "cell": "LSTM", "t": 6},
    "chars": {"task": "chars", "cell": "GRU", "task_hidden": 16, "t": 10},
}


def close(shown, expected, what: str) -> None:
    np.testing.assert_allclose(np.asarray(shown, dtype=float), np.asarray(expected, dtype=float), rtol=1e-5, atol=2e-5, err_msg=what)


@pytest.fixture(scope="module")
def screens() -> dict:
    """task -> (AppTest after one run, the app's trained model); each task rendered once, lazily."""
    cache: dict = {}

    def get(name: str):
        if name not in cache:
            q = CASES[name]
            at = new_app(**q, view="Task", timeout=300)
            at.run()
            assert not at.exception, [e.value for e in at.exception]
            assert not [e.value for e in at.error], [e.value for e in at.error]
            (key,) = [
                k for k in state._trained_store()["models"] if k[:2] == (name, q["cell"].lower()) and k[2] == q.get("task_hidden", k[2])
            ]
            cache[name] = (at, state._trained_store()["models"][key])
        return cache[name]

    return get


def charts(at: AppTest) -> dict[str, list[pd.DataFrame]]:
    """Chart title -> its datasets, for every Vega-Lite chart on the page."""
    found = {}
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec.get("title", {})
        title = title.get("text") if isinstance(title, dict) else title
        assert title not in found, f"two charts titled {title!r}"
        frames = [convert_arrow_bytes_to_pandas_df(ds.data.data) for ds in chart.proto.datasets]
        # the current-t rule stands at the chart's param (the browser stage moves it): read it as a one-row frame
        frames += [pd.DataFrame({"t": [p["value"]]}) for p in spec.get("params", []) if p["name"] == "t_now"]
        found[title] = frames
    return found


def titled(shown: dict, start: str) -> list[pd.DataFrame]:
    (title,) = [k for k in shown if k.startswith(start)]
    return shown[title]


def rule_at(frames: list[pd.DataFrame]) -> set[int]:
    """The steps the charts' current-t rules stand at."""
    return {int(f["t"].iloc[0]) for f in frames if list(f.columns) == ["t"]}


def series(frame: pd.DataFrame, name: str, T: int) -> np.ndarray:
    """One series of the prediction chart as (T,), NaN where it has no point."""
    rows = frame[frame["series"] == name]
    out = np.full(T, np.nan)
    out[rows["t"].to_numpy().astype(int)] = rows["value"].to_numpy()
    return out


def heat(frame: pd.DataFrame, shape: tuple[int, int]) -> np.ndarray:
    assert (frame["t0"] == frame["t1"]).all() and (frame["unit0"] == frame["unit1"]).all(), "bucketed"
    a = np.full(shape, np.nan)
    a[frame["t0"].to_numpy(), frame["unit0"].to_numpy()] = frame["value"].to_numpy()
    assert not np.isnan(a).any()
    return a


def torch_run(model, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """torch's own forward of a TaskModel on one example: y (T, K) and h_t (T, H)."""
    with torch.no_grad():
        out, _ = model.rnn(model.rnn_input(x))  # (1, T, H)
        return model.fc(out)[0].double().numpy(), out[0].double().numpy()


def readout(name: str, y: np.ndarray) -> np.ndarray:
    """torch's reading of the head's output: the value, sigmoid (memory) or softmax (chars)."""
    y = torch.from_numpy(y)
    return {"sine": y[:, 0], "memory": torch.sigmoid(y[:, 0]), "chars": torch.softmax(y, dim=-1)}[name].numpy()


# -- every task --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_prediction_loss_and_heatmaps_are_torchs(screens, name):
    at, trained = screens(name)
    t = CASES[name]["t"]
    x, target = trained.example()
    T = x.shape[1]
    y, h = torch_run(trained.model, x)
    y0, h0 = torch_run(trained.initial, x)
    p, p0 = readout(name, y), readout(name, y0)
    target = target.reshape(T).double().numpy()
    if name == "chars":  # the chart draws P(the actual next character)
        nxt = target.astype(int)
        p, p0 = p[np.arange(T), nxt], p0[np.arange(T), nxt]
    shown = charts(at)

    frames = titled(shown, PREDICTION[name])
    pred = dataset(frames, "series", "value")
    close(series(pred, task_charts.REPLAY, T), p, "the model's prediction (replay line)")
    close(series(pred, task_charts.TORCH, T), p, "the model's prediction (torch points)")
    close(series(pred, task_charts.BEFORE, T), p0, "the untrained model's prediction")
    if name == "chars":
        assert task_charts.TARGET not in set(pred["series"])
    else:
        np.testing.assert_array_equal(series(pred, task_charts.TARGET, T), target, "the target (NaN: not asked)")
    if name == "sine":
        close(series(pred, task_charts.INPUT, T), x[0, :, 0], "the input x_t")
    assert rule_at(frames) == {t}

    loss = dataset(titled(shown, "Training loss"), "step", "loss")
    np.testing.assert_array_equal(loss["loss"].to_numpy(), trained.losses)
    assert f"{trained.loss_ratio:.2g}×" in next(k for k in shown if k.startswith("Training loss"))

    H = trained.hidden
    for title, expected in (("h_t before training", h0), ("h_t after training", h)):
        frames = titled(shown, title)
        close(heat(dataset(frames, "panel", "value"), (T, H)), expected, title)
        assert rule_at(frames) == {t}


# -- chars ------------------------------------------------------------------------------------


def test_chars_next_characters_are_torchs_softmax(screens):
    at, trained = screens("chars")
    t, task = CASES["chars"]["t"], trained.task
    x, target = trained.example()
    probs = readout("chars", torch_run(trained.model, x)[0])[t]  # (V,)
    order = np.argsort(-probs, kind="stable")[:5]
    top = dataset(titled(charts(at), f"Next character after t = {t}"), "char", "p").sort_values("rank")
    assert list(top["char"]) == [task.vocab[i] for i in order]
    close(top["p"], probs[order], "top-5 probabilities")
    actual = task.vocab[int(target[0, t])]
    assert list(top["kind"] == "actual next character") == [task.vocab[i] == actual for i in order]

    text = task.decode(x) + task.vocab[int(target[0, -1])]
    (page,) = [m.value for m in at.markdown if "font-family:monospace" in m.value]
    assert html.unescape(re.sub(r"<[^>]+>", "", page)) == text, "the example text, every character, in order"
    (current,) = re.findall(r'<span style="background:[^"]*">(.*?)</span>', page)
    assert html.unescape(current) == text[t]


def test_text_is_escaped():
    page = _text_html("<b>a&'\"", 1)
    assert set(re.findall(r"</?(\w+)", page)) == {"div", "span"}, "the text's own <b> is shown, not obeyed"
    assert "&lt;" in page and "&amp;" in page
    assert html.unescape(re.sub(r"<[^>]+>", "", page)) == "<b>a&'\""


# -- memory -----------------------------------------------------------------------------------


def test_memory_units_sorted_by_how_long_they_hold_the_bit(screens):
    at, trained = screens("memory")
    t = CASES["memory"]["t"]
    x, target = trained.example()
    T = x.shape[1]
    s = int(torch.argmax(x[0, :, 1]))
    flipped = x.clone()
    flipped[0, s, 0] = 1 - flipped[0, s, 0]
    rnn = trained.model.rnn
    ref, ref_f = (torch_steps(rnn, a.transpose(0, 1)) for a in (x, flipped))  # torch ops, step by step

    h, h_f = ref.q("h_t")[:, 0], ref_f.q("h_t")[:, 0]  # (T, H)
    c, c_f = ref.q("c_t")[:, 0], ref_f.q("c_t")[:, 0]
    dh, dc = (h - h_f)[s:], (c - c_f)[s:]
    theta = task_charts.HOLD_THRESHOLD
    assert np.abs(np.abs(dh) - theta).min() > 1e-4, "no |Δh| so close to the threshold that rounding could flip a count"
    held, mean = (np.abs(dh) >= theta).sum(0), np.abs(dh).mean(0)
    order = sorted(range(h.shape[1]), key=lambda u: (-held[u], -mean[u]))

    (table,) = [d.value for d in at.dataframe if "h_t held" in d.value.columns]
    assert list(table["unit"]) == order, "units sorted by steps held, then mean |Δh_t|"
    np.testing.assert_array_equal(table["h_t held"], held[order])
    close(table["h_t mean |Δ|"], mean[order], "mean |Δh_t|")
    close(table["h_t Δ at end"], dh[-1, order], "Δh_t at the last step")
    np.testing.assert_array_equal(table["c_t held"], (np.abs(dc) >= theta).sum(0)[order])
    close(table["c_t mean |Δ|"], np.abs(dc).mean(0)[order], "mean |Δc_t|")
    for gate in ("i", "f", "g", "o"):  # torch's LSTM gates, mean over the steps after the mark
        close(table[f"{gate}_t after s"], ref.q(f"{gate}_t")[s + 1 :, 0].mean(0)[order], f"mean {gate}_t after the mark")
    assert f"A unit *holds* it at t when |Δ| ≥ {theta:g}" in " ".join(m.value for m in at.markdown), "the statistic is defined on screen"

    shown = charts(at)
    units = dataset(titled(shown, "h_t of the 3 units"), "unit", "run", "value")
    assert list(dict.fromkeys(units["unit"])) == [f"unit {u}" for u in order[:3]]
    for u in order[:3]:
        for run, expected in (("this example", h[:, u]), ("marked bit flipped", h_f[:, u])):
            rows = units[(units["unit"] == f"unit {u}") & (units["run"] == run)].sort_values("t")
            close(rows["value"], expected, f"unit {u}, {run}")

    bits_frames = titled(shown, "Input: the bits")
    (bits,) = [f.sort_values("t") for f in bits_frames if "bit" in f.columns and len(f) == T]  # not the ring's one row
    np.testing.assert_array_equal(bits["bit"], x[0, :, 0].numpy())
    assert list(bits["role"] == "the marked bit b_s") == [i == s for i in range(T)]
    assert rule_at(bits_frames) == {t}
    assert f"remember b_{s} = {int(x[0, s, 0])}" in set(dataset(bits_frames, "label")["label"])
    span = dataset(bits_frames, "a", "b", "what")
    assert span["a"].iloc[0] + 0.5 == int(np.argmax(~np.isnan(target[0, :, 0].numpy()))), "the shaded span starts where the question does"


# -- presentation mode --------------------------------------------------------------------------

SLIDE = {"sine": "Training loss", "memory": "The 3 units that hold the bit longest", "chars": "Next character after t ="}


@pytest.mark.parametrize("name", list(CASES))
def test_slide_shows_the_prediction_beside_the_tasks_picture(screens, name):
    _, trained = screens(name)  # trained once, for the module
    at = new_app(**CASES[name], present=True)
    at.session_state["view_present"] = "Task"
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    shown = charts(at)
    assert len(shown) == 2 and titled(shown, PREDICTION[name]) and titled(shown, SLIDE[name]), list(shown)
    assert any(trained.task.title in m.value for m in at.markdown), "the slide names the task"


# -- without a task, and the line for the other views -----------------------------------------


def test_without_a_task_the_tab_says_how_to_pick_one():
    assert NAMES[:2] == ("Step", "Task"), "Step stays the first tab"
    at = new_app(view="Task")
    at.run()
    assert not at.exception
    (info,) = [i.value for i in at.info if "trained model" in i.value]
    assert "**Task**" in info and "(?task=sine&view=Task)" in info and "(?task=memory&cell=LSTM&view=Task)" in info


def test_task_line(screens):
    _, trained = screens("sine")
    line = task_line(SimpleNamespace(trained=trained))
    assert TASKS["sine"].title in line and TASKS["sine"].output_label in line and f"{trained.loss_ratio:.2g}" in line
    assert task_line(SimpleNamespace(trained=None)) is None


# -- the builders on their own ----------------------------------------------------------------


def test_bit_hold_counts_and_sorts():
    a = np.zeros((6, 3))
    b = a.copy()
    b[2:, 0] = [0.5, 0.5, 0.05, 0.5]  # unit 0 holds at 3 of the 4 steps from s = 2
    b[2:, 2] = -0.3  # unit 2 holds at all 4: Δ = a - b = +0.3
    frame = task_charts.bit_hold(a, b, 2)
    assert list(frame["unit"]) == [2, 0, 1]
    assert list(frame["steps held"]) == [4, 3, 0]
    np.testing.assert_allclose(frame["mean |Δ|"], [0.3, 1.55 / 4, 0.0])
    np.testing.assert_allclose(frame["Δ at the end"], [0.3, -0.5, 0.0])
    with pytest.raises(ValueError, match="same"):
        task_charts.bit_hold(a, b[:, :2], 2)
    with pytest.raises(ValueError, match="t=6"):
        task_charts.bit_hold(a, b, 6)


def test_builders_check_their_inputs():
    with alt.data_transformers.disable_max_rows():
        spec = task_charts.prediction_chart(np.zeros(4), np.zeros(4), 1, target=np.array([np.nan, np.nan, 1, 1])).to_dict()
    assert "wide red: the target" in " ".join(spec["title"]["subtitle"])
    with pytest.raises(ValueError, match="expected T=4"):
        task_charts.prediction_chart(np.zeros(4), np.zeros(5), 0)
    with pytest.raises(ValueError, match="t=4"):
        task_charts.prediction_chart(np.zeros(4), np.zeros(4), 4)
    with pytest.raises(ValueError, match="at least one"):
        task_charts.top_chart([])
    note = task_charts.top_chart([("a", 0.6), (" ", 0.3)], actual="z").to_dict()["title"]["subtitle"]
    assert note == ["the actual next character, z, is not in the top 2"]
