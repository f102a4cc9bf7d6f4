"""The dashboard's pure builders without Streamlit: shapes, tables, equations, URL checks, limits."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

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
    seen = set()
    for _, row in table.iterrows():
        if row["torch"] in expected:
            assert _shape(row["shape"]) == expected[row["torch"]], row.to_dict()
            seen.add(row["torch"])
    assert {n for n in params} <= seen, "every parameter of the model is listed"


def test_tables_show_the_step_numbers():
    config = LessonConfig(cell="GRU", N=2, M=4)
    model = build_model(config)
    tr = rnntrace.trace(model.rnn, build_input(config), head=model.fc)
    step = tr.at(3)[0]
    terms = tables.terms_table(step, tr.config.spec, n=1)
    assert list(terms.index.get_level_values("gate").unique()) == ["r", "z", "n"]
    np.testing.assert_array_equal(terms["pre-activation"].to_numpy(), step.pre_activation[1])
    np.testing.assert_array_equal(terms["activation"].to_numpy(), np.concatenate([step.r_t[1], step.z_t[1], step.n_t[1]]))
    state = tables.state_table(step, 1, torch_h=step.h_t[1] + 1e-3)
    np.testing.assert_allclose(state["|Δ|"].to_numpy(), 1e-3, rtol=1e-3)
    np.testing.assert_array_equal(tables.input_table(step, 1)["x_t"].to_numpy(), step.x_t[1])


def test_equations_carry_the_step_numbers_and_abbreviate_large_sizes():
    config = LessonConfig()
    model = build_model(config)
    tr = rnntrace.trace(model.rnn, build_input(config), head=model.fc)
    step = tr.at(2)[0]
    weights = {
        k: getattr(model.rnn, f"{name}_l0").detach().numpy()
        for k, name in [("W_ih", "weight_ih"), ("W_hh", "weight_hh"), ("b_ih", "bias_ih"), ("b_hh", "bias_hh")]
    }
    lines = equations.numeric(step, tr.config.spec, weights=weights)
    for value in step.h_t[0]:
        assert equations.num(float(value)) in lines[-1]
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
    assert url_notices({"direction": "reverse", "inputs": "sine"}, ("normal", "sine")) == []
    assert len(url_notices({"direction": "1", "inputs": "Sine waves"}, ("normal", "sine"))) == 2


def test_budget_refuses_with_reasons():
    assert check_config(LessonConfig()) == []
    big = LessonConfig(N=16, T=2000, M=512, layers=4, cell="LSTM")
    assert big.macs() > MAX_MACS
    problems = check_config(big)
    assert problems and "budget" in problems[0] and "Reduce" in problems[0]
    assert check_config(LessonConfig(M=0))[0].startswith("M=0 is outside 1..512")
