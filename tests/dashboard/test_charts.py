"""The chart builders, read back through ``chart.to_dict()`` (no Streamlit).

What a chart shows is checked against the arrays it was given (and, for the outputs, against
torch's own forward): exact values when nothing is merged, NumPy's mean (or max) of each
bucket when something is, and a bounded number of data rows at T = 2000, M = 512.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import pytest
import torch

import rnntrace
from rnntrace.dashboard import chart_kit, charts
from rnntrace.dashboard.chart_kit import MAX_ROWS
from rnntrace.stage.charts import NOW


@pytest.fixture(autouse=True)
def _no_row_guard():
    """Altair refuses to inline > 5,000 rows by default; Streamlit skips that guard, so do we."""
    with alt.data_transformers.disable_max_rows():
        yield


# -- reading a spec back ---------------------------------------------------------------------


def spec(chart: alt.TopLevelMixin) -> dict:
    return chart.to_dict()


def layers(s: dict) -> list[dict]:
    return s["layer"]


def mark(layer: dict) -> str:
    m = layer["mark"]
    return m if isinstance(m, str) else m["type"]


def data(s: dict, layer: dict) -> pd.DataFrame:
    """The rows a layer draws (Altair hoists data shared by every layer to the top level)."""
    return pd.DataFrame(s["datasets"][layer.get("data", s.get("data"))["name"]])


def total_rows(s: dict) -> int:
    return sum(len(v) for v in s["datasets"].values())


HELPER_LAYERS = ("steps", "future")  # the time charts' click target and the band that greys the future, not data


def of_mark(s: dict, kind: str) -> list[dict]:
    return [lay for lay in layers(s) if mark(lay) == kind and lay.get("name") not in HELPER_LAYERS]


def now_rules(s: dict) -> list[dict]:
    """The vertical rules at the current t (x encoded, no y)."""
    return [lay for lay in of_mark(s, "rule") if "x" in lay["encoding"] and "y" not in lay["encoding"]]


def assert_rule_at(s: dict, t: int) -> None:
    rules = now_rules(s)
    assert rules, "no vertical rule at the current t"
    params = {p["name"]: p for p in s.get("params", [])}
    assert params[NOW]["value"] == t, "the current-step param is not t"
    for rule in rules:
        assert rule["encoding"]["x"]["field"] == "t"
        # the rule sits at the param (the browser stage moves it), not at a number baked into the data
        assert {"calculate": NOW, "as": "t"} in rule.get("transform", [])
    assert "the current t" in " ".join(s["title"]["subtitle"])


def subtitle(s: dict) -> str:
    return " | ".join(s["title"]["subtitle"])


def tooltip_titles(layer: dict) -> list[str]:
    return [tip.get("title", tip["field"]) for tip in layer["encoding"]["tooltip"]]


def rng_array(*shape, seed=0, low=-1.0, high=1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=shape)


# -- the aggregation rule ----------------------------------------------------------------------


def test_bounded_is_exact_when_nothing_is_merged():
    a = rng_array(7, 3)
    f = chart_kit.bounded(a, max_rows=7, max_cols=3, names=("t", "unit"))
    assert list(f.columns) == ["t0", "t1", "unit0", "unit1", "value"]
    assert (f["t0"] == f["t1"]).all() and (f["unit0"] == f["unit1"]).all()
    np.testing.assert_array_equal(f["value"].to_numpy(), a[f["t0"], f["unit0"]])  # bit for bit
    assert len(f) == a.size


@pytest.mark.parametrize("how", ["mean", "max"])
def test_bounded_buckets_are_numpy_means_or_maxima(how):
    a = rng_array(2001, 513, seed=1)  # neither size divides evenly: the last buckets are shorter
    f = chart_kit.bounded(a, max_rows=200, max_cols=128, how=how)
    assert len(f) <= 200 * 128
    assert f["row0"].min() == 0 and f["row1"].max() == 2000 and f["col1"].max() == 512
    reduce = np.mean if how == "mean" else np.max
    expected = [reduce(a[r0 : r1 + 1, c0 : c1 + 1]) for r0, r1, c0, c1 in f[["row0", "row1", "col0", "col1"]].itertuples(index=False)]
    np.testing.assert_allclose(f["value"].to_numpy(), expected, rtol=1e-12, atol=0)
    sizes = (f["row1"] - f["row0"] + 1) * (f["col1"] - f["col0"] + 1)
    assert sizes.sum() == a.size  # every cell in exactly one bucket


def test_bucket_size_is_the_ceiling():
    assert chart_kit.bucket_size(2000, 200) == 10
    assert chart_kit.bucket_size(2001, 200) == 11
    assert chart_kit.bucket_size(5, 200) == 1
    assert chart_kit.bucket_size(1, 1) == 1


# -- input_chart -------------------------------------------------------------------------------


def test_input_chart_draws_every_feature_exactly():
    x = rng_array(6, 2)
    s = spec(charts.input_chart(x, 3))
    assert s["title"]["text"] == "Input x_t"
    (line,) = of_mark(s, "line")
    enc = line["encoding"]
    assert (enc["x"]["field"], enc["y"]["field"], enc["color"]["field"]) == ("t", "value", "d0")
    assert enc["y"]["axis"]["title"] == "x_t[d]" and enc["x"]["axis"]["title"] == "t"
    assert "x_t[" in enc["color"]["legend"]["labelExpr"]
    assert "x_t[d]" in tooltip_titles(line)
    f = data(s, line)
    assert len(f) == x.size
    np.testing.assert_array_equal(f["value"].to_numpy(), x[f["t0"], f["d0"]])
    assert_rule_at(s, 3)


def test_input_chart_is_bounded_at_T2000_with_many_features():
    x = rng_array(2000, 40, seed=2)
    s = spec(charts.input_chart(x, 1999))
    assert total_rows(s) <= MAX_ROWS
    f = data(s, of_mark(s, "line")[0])
    assert f["d0"].nunique() == 10 and "showing features 0..9 of 40" in subtitle(s)
    assert "mean of 4 consecutive steps" in subtitle(s)
    expected = x[:, :10].reshape(500, 4, 10).mean(axis=1)  # (500 buckets, 10 features)
    np.testing.assert_allclose(f["value"].to_numpy(), expected[f["t0"] // 4, f["d0"]], rtol=1e-12)
    assert_rule_at(s, 1999)


# -- hidden_heatmap ----------------------------------------------------------------------------


def test_hidden_heatmap_small_is_exact_and_centred_at_zero():
    h = np.tanh(rng_array(9, 5, high=3.0, low=-3.0))
    s = spec(charts.hidden_heatmap(h, 4))
    assert s["title"]["text"] == "h_t over time"
    (rect,) = of_mark(s, "rect")
    enc = rect["encoding"]
    assert enc["x"]["axis"]["title"] == "t" and enc["y"]["axis"]["title"] == "unit (h_t[unit])"
    scale = enc["color"]["scale"]
    assert scale["scheme"] == "redblue" and scale["domainMid"] == 0
    assert scale["domain"][0] == -scale["domain"][1] == -np.abs(h).max()
    f = data(s, rect)
    assert len(f) == h.size and set(f["panel"]) == {"h_t"}
    np.testing.assert_array_equal(f["value"].to_numpy(), h[f["t0"], f["unit0"]])
    assert {"t", "unit", "h_t"} <= set(tooltip_titles(rect))
    assert_rule_at(s, 4)


def test_hidden_heatmap_fixed_bound():
    s = spec(charts.hidden_heatmap(rng_array(4, 3) * 0.1, 0, bound=1.0, title="layer 0"))
    assert of_mark(s, "rect")[0]["encoding"]["color"]["scale"]["domain"] == [-1.0, 1.0]
    assert s["title"]["text"] == "layer 0"


def test_hidden_heatmap_is_bounded_at_T2000_M512():
    h = np.tanh(rng_array(2000, 512, seed=3, low=-2, high=2))
    s = spec(charts.hidden_heatmap(h, 1234))
    assert total_rows(s) <= MAX_ROWS
    rect = of_mark(s, "rect")[0]
    f = data(s, rect).sort_values(["t0", "unit0"])
    assert len(f) == 200 * 128
    expected = h.reshape(200, 10, 128, 4).mean(axis=(1, 3))  # (t buckets, unit buckets)
    np.testing.assert_allclose(f["value"].to_numpy(), expected.ravel(), rtol=1e-12, atol=1e-15)
    assert "each column is the mean of 10 consecutive steps" in subtitle(s)
    assert "each row is the mean of 4 consecutive units" in subtitle(s)
    assert {"t from", "t to", "unit from", "unit to", "mean h_t"} <= set(tooltip_titles(rect))
    assert_rule_at(s, 1234)


def test_hidden_heatmap_window_shows_exact_steps_around_t():
    h = rng_array(2000, 512, seed=4)
    s = spec(charts.hidden_heatmap(h, 1990, window=60))
    rect = of_mark(s, "rect")[0]
    f = data(s, rect)
    assert (f["t0"].min(), f["t1"].max()) == (1940, 1999)  # clamped at the end of the sequence
    assert (f["t0"] == f["t1"]).all()
    assert rect["encoding"]["x"]["scale"]["domain"] == [1939.5, 1999.5]
    f = f.sort_values(["t0", "unit0"])
    expected = h[1940:2000].reshape(60, 128, 4).mean(axis=2)  # exact steps, units still in fours
    np.testing.assert_allclose(f["value"].to_numpy(), expected.ravel(), rtol=1e-12, atol=1e-15)
    assert "window: t = 1940..1999 of 0..1999" in subtitle(s)
    assert total_rows(s) <= MAX_ROWS
    assert_rule_at(s, 1990)


# -- gates_chart -------------------------------------------------------------------------------


def gru_gates(T=7, H=4, seed=5):
    g = np.random.default_rng(seed)
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    return {"r_t": sig(g.normal(size=(T, H))), "z_t": sig(g.normal(size=(T, H))), "n_t": np.tanh(g.normal(size=(T, H)))}


def test_gates_chart_gru_scales_labels_and_values():
    gates = gru_gates()
    s = spec(charts.gates_chart(gates, 2))
    rects = of_mark(s, "rect")
    assert len(rects) == 2  # one per colour scale: sigmoid gates, tanh gates
    by_scheme = {r["encoding"]["color"]["scale"]["scheme"]: r for r in rects}
    sig, tanh = by_scheme["viridis"], by_scheme["redblue"]
    assert sig["encoding"]["color"]["scale"]["domain"] == [0, 1]
    assert tanh["encoding"]["color"]["scale"]["domain"] == [-1.0, 1.0] and tanh["encoding"]["color"]["scale"]["domainMid"] == 0
    filters = {
        r["encoding"]["color"]["scale"]["scheme"]: next(t for t in r["transform"] if "filter" in t)["filter"]["oneOf"] for r in rects
    }
    assert filters == {"viridis": ["r_t", "z_t"], "redblue": ["n_t"]}
    assert s["resolve"]["scale"]["color"] == "independent"
    f = data(s, sig)
    assert set(f["panel"]) == {"r_t", "z_t", "n_t"}  # the gate labels are in the data
    for name, a in gates.items():
        g = f[f["panel"] == name]
        np.testing.assert_array_equal(g["value"].to_numpy(), a[g["t0"], g["unit0"]])
    label_expr = sig["encoding"]["y"]["axis"]["labelExpr"]
    assert all(f"'{n}'" in label_expr or f'"{n}"' in label_expr for n in gates)
    assert "bands top to bottom: r_t, z_t, n_t" in subtitle(s)
    assert_rule_at(s, 2)


def test_gates_chart_lstm_is_bounded_at_T2000_H512():
    g = np.random.default_rng(6)
    T, H = 2000, 512
    gates = {n: 1 / (1 + np.exp(-g.normal(size=(T, H)))) for n in ("i_t", "f_t", "o_t")}
    gates["g_t"] = np.tanh(g.normal(size=(T, H)))
    gates["c_t"] = 3 * g.normal(size=(T, H))
    s = spec(charts.gates_chart(gates, 700))
    assert total_rows(s) <= MAX_ROWS
    rects = of_mark(s, "rect")
    assert len(rects) == 3
    f = data(s, rects[0])
    assert set(f["panel"]) == set(gates)
    c = f[f["panel"] == "c_t"]
    c_scale = next(r for r in rects if r["transform"][-1]["filter"]["oneOf"] == ["c_t"])["encoding"]["color"]["scale"]
    assert c_scale["domain"] == [-c["value"].abs().max(), c["value"].abs().max()]  # its own ±max, of what is shown
    for r0, r1, u0, u1, v in c[["t0", "t1", "unit0", "unit1", "value"]].sample(200, random_state=0).itertuples(index=False):
        np.testing.assert_allclose(v, gates["c_t"][r0 : r1 + 1, u0 : u1 + 1].mean(), rtol=1e-12)
    assert "mean of" in subtitle(s)
    assert_rule_at(s, 700)


@pytest.mark.parametrize(
    ("cell", "names"), [("gru", ["r_t", "z_t", "n_t"]), ("lstm", ["i_t", "f_t", "g_t", "o_t", "c_t"]), ("rnn", ["pre_activation"])]
)
def test_gates_from_a_trace(cell, names):
    model = rnntrace.SimpleRNN(3, 4, 2, cell=cell, num_layers=2, seed=0)
    x = torch.randn(2, 6, 3)
    tr = rnntrace.trace(model.rnn, x, head=model.fc)
    gates = charts.gates_from_trace(tr, layer=1, sample=1)
    assert list(gates) == names
    for n, a in gates.items():
        assert a.shape == (6, 4)
        np.testing.assert_array_equal(a, tr.quantity(n, 1, 0)[:, 1])
    s = spec(charts.gates_chart(gates, 5))
    f = data(s, of_mark(s, "rect")[0])
    assert set(f["panel"]) == set(names)


# -- output_chart ------------------------------------------------------------------------------


def test_output_chart_lines_are_ours_points_are_torch():
    model = rnntrace.SimpleRNN(3, 5, 2, seed=0)
    x = torch.randn(1, 12, 3)
    v = rnntrace.validate(model.rnn, x, head=model.fc)
    with torch.no_grad():
        y_torch = model(x)[0].numpy()  # torch is the oracle, straight from the module
    y_manual = v.trace.y[0]
    s = spec(charts.output_chart(y_manual, y_torch, 11))
    (line,) = of_mark(s, "line")
    (points,) = of_mark(s, "point")
    assert line["encoding"]["y"]["field"] == "manual" and points["encoding"]["y"]["field"] == "torch"
    assert line["encoding"]["color"]["field"] == points["encoding"]["color"]["field"] == "k"  # same colour per k
    assert "replay (line) / torch (points)" in line["encoding"]["color"]["legend"]["title"]
    assert points["mark"]["filled"] is True
    f = data(s, line)
    np.testing.assert_array_equal(f["manual"].to_numpy(), y_manual[f["t0"], f["k"]].astype(np.float64))
    np.testing.assert_array_equal(f["torch"].to_numpy(), y_torch[f["t0"], f["k"]].astype(np.float64))
    assert {"y_t[k] replay", "y_t[k] torch", "|replay − torch|"} <= set(tooltip_titles(points))
    assert_rule_at(s, 11)


def test_output_chart_bounded_and_bucketed():
    y = rng_array(2000, 3, seed=7)
    y2 = y + 1e-7
    s = spec(charts.output_chart(y, y2, 0))
    assert total_rows(s) <= MAX_ROWS
    f = data(s, of_mark(s, "line")[0])
    np.testing.assert_allclose(f["manual"].to_numpy(), y.reshape(500, 4, 3).mean(axis=1)[f["t0"] // 4, f["k"]], rtol=1e-12)
    np.testing.assert_allclose(f["torch"].to_numpy(), y2.reshape(500, 4, 3).mean(axis=1)[f["t0"] // 4, f["k"]], rtol=1e-12)


# -- diff_chart --------------------------------------------------------------------------------


def test_diff_chart_log_scale_zero_floor_and_tolerance():
    per_step = np.array([0.0, 3e-9, 2e-5, 1e-20, 4e-7])
    s = spec(charts.diff_chart(per_step, 2, 1e-5))
    line = of_mark(s, "line")[0]
    assert line["encoding"]["y"]["scale"]["type"] == "log"
    assert s["title"]["text"] == "|replay − torch| per step"
    f = data(s, line)
    np.testing.assert_array_equal(f["diff"].to_numpy(), per_step)  # the true value, for the tooltip
    np.testing.assert_array_equal(f["plotted"].to_numpy(), [1e-17, 3e-9, 2e-5, 1e-17, 4e-7])
    assert f["status"].tolist() == ["within tolerance", "within tolerance", "over tolerance", "within tolerance", "within tolerance"]
    note = next(tr for tr in line["transform"] if tr.get("as") == "note")["calculate"]
    assert "exact 0, drawn at 1e-17" in note
    tol = [lay for lay in of_mark(s, "rule") if "y" in lay["encoding"]]
    assert len(tol) == 1 and data(s, tol[0])["tolerance"].tolist() == [1e-5]
    assert tol[0]["encoding"]["y"]["scale"]["type"] == "log"
    assert "tolerance = 1e-05" in subtitle(s) and "exact zeros drawn at 1e-17" in subtitle(s)
    assert_rule_at(s, 2)


def test_diff_chart_buckets_take_the_max_not_the_mean():
    per_step = np.full(5000, 1e-9)
    per_step[4321] = 1e-3  # one bad step must survive aggregation
    s = spec(charts.diff_chart(per_step, 10, 1e-5, max_t=2000))
    f = data(s, of_mark(s, "line")[0])
    assert len(f) <= 2000 and total_rows(s) <= MAX_ROWS
    assert f["diff"].max() == 1e-3 and (f["status"] == "over tolerance").sum() == 1
    expected = [per_step[a : b + 1].max() for a, b in zip(f["t0"], f["t1"], strict=True)]
    np.testing.assert_array_equal(f["diff"].to_numpy(), expected)
    assert "max of 3 consecutive steps" in subtitle(s)


def test_diff_chart_at_T2000_is_unmerged():
    per_step = rng_array(2000, seed=8, low=0, high=1e-7)
    s = spec(charts.diff_chart(per_step, 5, 1e-5))
    f = data(s, of_mark(s, "line")[0])
    np.testing.assert_array_equal(f["diff"].to_numpy(), per_step)


# -- weights_heatmap ---------------------------------------------------------------------------


def test_weights_heatmap_small_gru_blocks_exact():
    W = rng_array(6, 2, seed=9)  # GRU W_ih with H=2, D=2: rows [r | z | n]
    s = spec(charts.weights_heatmap(W, title="W_ih", row_blocks=["r", "z", "n"], col_label="input d"))
    (rect,) = of_mark(s, "rect")
    f = data(s, rect)
    assert len(f) == W.size
    assert f.groupby("block")["row0"].apply(list).to_dict() == {"r": [0, 0, 1, 1], "z": [2, 2, 3, 3], "n": [4, 4, 5, 5]}
    np.testing.assert_array_equal(f["value"].to_numpy(), W[f["row0"], f["col0"]])
    labels = rect["encoding"]["y"]["axis"]["labelExpr"]
    for label in ("r  row 0..1", "z  row 2..3", "n  row 4..5"):
        assert label in labels
    assert {"gate block", "row", "unit in block", "input d", "value"} <= set(tooltip_titles(rect))
    scale = rect["encoding"]["color"]["scale"]
    assert scale["scheme"] == "redblue" and scale["domainMid"] == 0 and scale["domain"] == [-np.abs(W).max(), np.abs(W).max()]
    assert s["title"]["text"] == "W_ih" and rect["encoding"]["x"]["axis"]["title"] == "input d"


def test_weights_heatmap_lstm_W_hh_M512_block_averaged():
    H = 512
    W = rng_array(4 * H, H, seed=10)  # 2048 x 512 = 1M cells
    s = spec(charts.weights_heatmap(W, title="W_hh", row_blocks=["i", "f", "g", "o"]))
    assert total_rows(s) <= 128 * 128
    f = data(s, of_mark(s, "rect")[0])
    assert set(f["block"]) == {"i", "f", "g", "o"}
    for g, name in enumerate("ifgo"):
        b = f[f["block"] == name].sort_values(["unit0", "col0"])
        assert b["row0"].min() == g * H and b["row1"].max() == (g + 1) * H - 1  # never crosses a gate block
        expected = W[g * H : (g + 1) * H].reshape(32, 16, 128, 4).mean(axis=(1, 3))
        np.testing.assert_allclose(b["value"].to_numpy(), expected.ravel(), rtol=1e-12, atol=1e-15)
    assert "downsampled to 16384 cells" in subtitle(s) and "16 rows x 4 cols" in subtitle(s)


def test_weights_heatmap_without_blocks():
    W = rng_array(3, 4, seed=11)
    s = spec(charts.weights_heatmap(W, title="W_o", row_label="k", col_label="unit"))
    rect = of_mark(s, "rect")[0]
    f = data(s, rect)
    np.testing.assert_array_equal(f["value"].to_numpy(), W[f["row0"], f["col0"]])
    assert rect["encoding"]["y"]["axis"]["title"] == "k" and "labelExpr" not in rect["encoding"]["y"]["axis"]
    assert "gate block" not in tooltip_titles(rect)


# -- edges and errors --------------------------------------------------------------------------


def test_smallest_sizes_T1_M1_K1_D1():
    one = np.array([[0.25]])
    charts_ = [
        charts.input_chart(one, 0),
        charts.hidden_heatmap(one, 0),
        charts.gates_chart({"z_t": one, "n_t": -one}, 0),
        charts.output_chart(one, one, 0),
        charts.diff_chart(np.zeros(1), 0, 1e-5),
        charts.weights_heatmap(one, title="W_hh"),
        charts.weights_heatmap(np.ones((3, 1)), title="W_ih", row_blocks=["r", "z", "n"]),
    ]
    for chart in charts_:
        s = spec(chart)
        assert 1 <= total_rows(s) <= 5  # the datum, the rule and the band of the greyed future: a row each
    assert of_mark(spec(charts_[0]), "line")[0]["mark"]["point"] is True  # a lone step still shows
    assert spec(charts.input_chart(np.arange(3.0), 1))["title"]["text"]  # 1-D x: one feature


def test_charts_are_pure():
    h = rng_array(30, 4, seed=12)
    before = h.copy()
    a, b = spec(charts.hidden_heatmap(h, 3)), spec(charts.hidden_heatmap(h, 3))
    assert a == b
    np.testing.assert_array_equal(h, before)
    assert spec(charts.hidden_heatmap(h, 4)) != a  # t moves only the rule
    assert data(a, of_mark(a, "rect")[0]).equals(data(b, of_mark(b, "rect")[0]))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: charts.hidden_heatmap(np.zeros((2, 3, 4)), 0), "h must be \\(T, M\\)"),
        (lambda: charts.hidden_heatmap(np.zeros((0, 3)), 0), "non-empty"),
        (lambda: charts.hidden_heatmap(np.zeros((5, 3)), 5), "t=5 is out of range.*0..4"),
        (lambda: charts.input_chart(np.zeros((5, 3)), 1.5), "t must be an int"),
        (lambda: charts.output_chart(np.zeros((5, 2)), np.zeros((5, 3)), 0), "same \\(T, K\\) shape"),
        (lambda: charts.diff_chart(np.zeros(5), 0, 0.0), "tolerance must be a positive"),
        (lambda: charts.weights_heatmap(np.zeros((7, 2)), title="W", row_blocks=["r", "z", "n"]), "7 rows.*3 equal blocks"),
        (lambda: charts.gates_chart({}, 0), "non-empty dict"),
        (lambda: charts.gates_chart({"r_t": np.zeros((5, 2)), "z_t": np.zeros((5, 3))}, 0), "same \\(T, H\\) shape"),
        (lambda: charts.hidden_heatmap(np.zeros((5, 3)), 0, window=0), "window must be a positive int"),
    ],
)
def test_bad_inputs_say_what_was_expected(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_time_charts_dim_the_future_and_pick_a_step_on_click():
    h = np.tanh(rng_array(12, 4))
    for s in (spec(charts.input_chart(h, 5)), spec(charts.diff_chart(np.full(12, 1e-8), 5, 1e-5))):
        steps = next(lay for lay in layers(s) if lay.get("name") == "steps")
        assert list(data(s, steps)["t"]) == list(range(12)), "one clickable column per step"
        future = next(lay for lay in layers(s) if lay.get("name") == "future")
        assert {"calculate": f"{NOW} + 0.5", "as": "start"} in future["transform"], "the steps after t are greyed"
        assert data(s, future)["end"].tolist() == [11.5], "from t + 0.5 to the axis' end"
        params = s.get("params", []) + [p for lay in layers(s) for p in lay.get("params", [])]  # Altair lifts them to the top
        assert [p["name"] for p in params] == [chart_kit.PICK, NOW], "one click selection and the current step per chart"
        assert params[1]["value"] == 5
    heat = spec(charts.hidden_heatmap(h, 5))
    assert any(lay.get("name") == "future" for lay in layers(heat)), "heatmap cells after t are dimmed by one band"
    assert [(p["name"], p.get("value")) for p in heat.get("params", [])] == [(chart_kit.PICK, None), (NOW, 5)]
