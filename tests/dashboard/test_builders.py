"""The dashboard's pure builders without Streamlit: shapes, tables, equations, URL checks, limits."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from latex_reader import underbraces
from oracle import lesson
from test_screen import LHS, assert_shows, evaluate, expected_for

import rnntrace
from rnntrace.dashboard import equations, tables
from rnntrace.dashboard.config import MAX_MACS, LessonConfig, build_input, build_model, check_config
from rnntrace.dashboard.url import url_notices

CONFIGS = [
    LessonConfig(),
    LessonConfig(cell="GRU", N=2, T=4, D=2, M=3, K=1, layers=2, bidirectional=True),
    LessonConfig(cell="LSTM", N=3, T=5, D=4, M=6, K=3, layers=3, bias=False),
]


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in re.findall(r"\d+", text))


@pytest.mark.parametrize("config", CONFIGS)
def test_shapes_table_matches_torch(config):
    model = build_model(config)
    X = torch.from_numpy(build_input(config))
    with torch.no_grad():
        out, h_n = model.rnn(X)
        y = model.fc(out)
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n
    table = tables.shapes_table(rnntrace.trace(model.rnn, X, head=model.fc).config)
    params = dict(model.named_parameters())
    expected = {name: tuple(p.shape) for name, p in params.items()}
    expected |= {"x (the input)": tuple(X.shape), "output (rnn's)": tuple(out.shape), "h_n": tuple(h_n.shape)}
    expected["out = fc(output)"] = tuple(y.shape)
    sizes = {"N": config.N, "T": config.T, "D": config.D, "M": config.M, "K": config.K, "L": config.layers, "G": config.gates}
    seen = set()
    for _, row in table.iterrows():
        assert evaluate(row["symbolic shape"], sizes) == _shape(row["shape"]), row.to_dict()
        if row["torch"] in expected:
            assert _shape(row["shape"]) == expected[row["torch"]], row.to_dict()
            seen.add(row["torch"])
    assert {n for n in params} <= seen, "every parameter of the model is listed"


@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_tables_show_torchs_step_numbers(cell):
    """Each table column is the torch quantity its name says (tests/oracle.py), for the shown sample and step."""
    L = lesson({"cell": cell, "N": 2, "M": 4})
    tr = rnntrace.trace(L.module, L.X, head=L.head)
    t, n = 3, 1
    q = lambda name: L.ref.q(name)[t, n]  # noqa: E731
    close = lambda a, b: np.testing.assert_allclose(np.asarray(a, float), b, rtol=1e-5, atol=1e-6)  # noqa: E731
    step = tr.at(t)[0]
    terms = tables.terms_table(step, tr.config.spec, n=n)
    assert list(terms.index.get_level_values("gate").unique()) == list(L.ref.gates)  # torch's stacking order
    close(terms["x_t W_ihᵀ + b_ih"], q("input_term"))
    close(terms["h_{t-1} W_hhᵀ + b_hh"], q("hidden_term"))
    close(terms["pre-activation"], q("pre_activation"))
    close(terms["activation"], np.concatenate([q(f"{g}_t") for g in L.ref.gates]))
    state = tables.state_table(step, n, torch_h=q("h_t"))
    columns = {"h_{t-1}": "h_prev", "h_t": "h_t", "h_t torch": "h_t"} | ({"c_{t-1}": "c_prev", "c_t": "c_t"} if cell == "LSTM" else {})
    assert set(columns) < set(state.columns)
    for column, name in columns.items():
        close(state[column], q(name))
    assert (state["|Δ|"] <= 1e-6).all()
    close(tables.input_table(step, n)["x_t"], q("x_t"))
    close(tables.output_table(tr.y[n, t], L.y[n, t])["y_t torch"], L.y[n, t])


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
def test_equations_carry_torchs_numbers_and_abbreviate_large_sizes(cell):
    """Each labelled vector of each equation line is torch's (read as the Step view's test reads it)."""
    L = lesson({"cell": cell, "N": 2, "M": 10, "T": 4, "seed": 2})  # M = 10 > full = 8: vectors are abbreviated
    tr = rnntrace.trace(L.module, L.X, head=L.head)
    t, n = 2, 1
    step = tr.at(t)[0]
    params = {k: v.detach().numpy() for k, v in L.module.named_parameters()}
    weights = {
        k: params[f"{name}_l0"] for k, name in [("W_ih", "weight_ih"), ("W_hh", "weight_hh"), ("b_ih", "bias_ih"), ("b_hh", "bias_hh")]
    }
    lines = equations.numeric(step, tr.config.spec, n, weights=weights if cell == "RNN" else None)
    for line in lines:
        symbol = LHS.match(line)[1]
        braces = underbraces(line)
        assert braces, line
        for body, label, _ in braces:
            assert_shows(body, expected_for(label, symbol, L, 0, 0, t, n), f"{symbol} line, under {label!r}")
    big = equations.matrix(np.arange(400.0).reshape(20, 20), full=6)
    assert r"\vdots" in big and r"\cdots" in big and big.count(r"\\") == 5  # 4 + ellipsis + last row


def test_url_notices_name_the_bad_parameter():
    assert url_notices({"T": "20", "t": "19", "cell": "GRU", "bias": "false"}) == []
    notes = url_notices({"T": "abc", "t": "12", "cell": "CNN", "bias": "maybe", "N": "0"})
    text = " ".join(notes)
    for name in ["T='abc'", "t='12'", "cell='CNN'", "bias='maybe'", "N='0'"]:
        assert name in text
    assert "0..9" in text  # t checked against the default T once T is refused
    # selectboxes write their shown label into the URL: direction is a word, inputs a preset kind
    assert url_notices({"direction": "reverse", "bidirectional": "true", "inputs": "sine"}, ("normal", "sine")) == []
    # ...and a reverse direction on a one-direction layer is said, not silently dropped (issue 24)
    (reverse,) = url_notices({"direction": "reverse"})
    assert "direction='reverse' ignored" in reverse and "forward is shown" in reverse
    assert len(url_notices({"direction": "1", "inputs": "Sine waves"}, ("normal", "sine"))) == 2


@pytest.mark.parametrize(
    ("size", "count", "index"), [("T", 10, "t"), ("T", 2000, "t"), ("T", 1, "t"), ("N", 3, "sample"), ("layers", 2, "layer_sel")]
)
def test_url_indices_at_the_edges(size, count, index):
    """An index is accepted up to count − 1 (t = T − 1) and refused from count on (t = T), and below 0."""
    assert url_notices({size: str(count), index: str(count - 1)}) == []
    for bad in (count, count + 1, -1):
        notices = url_notices({size: str(count), index: str(bad)})
        assert len(notices) == 1, f"{index}={bad} with {size}={count} gives {notices}"
        notice = notices[0]
        assert f"{index}='{bad}'" in notice and f"0..{count - 1}" in notice, notice


def test_budget_refuses_with_reasons():
    assert check_config(LessonConfig()) == []
    big = LessonConfig(N=16, T=2000, M=512, layers=4, cell="LSTM")
    assert big.macs() > MAX_MACS
    problems = check_config(big)
    assert problems and "budget" in problems[0] and "Reduce" in problems[0]
    assert check_config(LessonConfig(M=0))[0].startswith("M=0 is outside 1..512")
