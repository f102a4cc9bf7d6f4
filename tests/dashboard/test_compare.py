"""Compare (``?compare=RNN,GRU,LSTM``): each cell's picture and h_t chart read off the page against torch.

Each picture is a stage payload of its own (the first with the controls, the others following it);
its numbers at the shared t are checked against ``tests/oracle.py``'s torch loop on the lesson's
model built for that cell with rnntrace's public API, as ``test_screen`` checks the Step view's.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from apptest import charts, dataset, stage_payloads
from oracle import Lesson, lesson, torch_steps
from test_screen import check_diagram, render

import rnntrace
from rnntrace.dashboard.chart_kit import DIVERGING
from rnntrace.dashboard.charts import hidden_heatmap

BASE = {"N": 2, "T": 6, "D": 3, "M": 4, "K": 2, "seed": 7}
PAIRS = ["RNN,GRU,LSTM", "RNN,GRU", "RNN,LSTM", "GRU,LSTM", "lstm,rnn"]


@pytest.mark.parametrize("pair", PAIRS)
def test_every_cell_is_torchs_at_one_t(pair):
    cells = [c.upper() for c in pair.split(",")]
    t, n = 3, 1
    at = render(BASE, None, compare=pair, t=t, sample=n)
    said = [w.value for w in at.warning]
    assert said == ([] if pair.isupper() else [f"URL parameter compare='{pair}' read as {','.join(cells)}."]), said
    payloads = [p for p in stage_payloads(at) if p.get("diagram")]
    assert len(payloads) == len(cells)
    assert [bool(p["controls"]) for p in payloads] == [True] + [False] * (len(cells) - 1), "one set of controls, the others follow"
    frames = charts(at)
    for cell, payload in zip(cells, payloads, strict=True):
        L = lesson(BASE | {"cell": cell})
        seen = check_diagram(at, L, 0, 0, t, n, payload=payload)
        assert {"x_t", "h_t"} <= seen and (cell != "LSTM" or "c_t" in seen), seen
        h = dataset(frames[f"h_t, nn.{cell}"], "value")
        grid = np.full((BASE["M"], BASE["T"]), np.nan)
        grid[h["unit0"].to_numpy() if "unit0" in h else h["u0"].to_numpy(), h["t0"].to_numpy()] = h["value"].to_numpy()
        np.testing.assert_allclose(grid.T, L.ref.q("h_t")[:, n], atol=2e-6, rtol=1e-5)
        (grad_chart,) = [
            c["spec"] for p in stage_payloads(at) for c in p["charts"] if c["spec"].get("title", {}).get("text") == f"|dL/dh_t|, nn.{cell}"
        ]
        assert '"title": "|dL/dh_t|"' in json.dumps(grad_chart), "the gradient heatmap's legend names the gradient, not h_t"
        check_magnitude_scale(grad_chart)
        assert any(f"**nn.{cell}** · :green-badge[= torch ✓" in m.value for m in at.markdown)


def colour_scales(chart: dict) -> list[dict]:
    """Every colour scale of a Vega-Lite spec's layers (nested layers included)."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            color = node.get("encoding", {}).get("color", {})
            if isinstance(color, dict) and "scale" in color:
                found.append(color["scale"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(chart)
    return found


def check_magnitude_scale(chart: dict) -> None:
    """|dL/dh_t| is never negative: its colour runs from 0 (a sequential scheme), not -max..+max around a white 0."""
    (scale,) = colour_scales(chart)
    assert scale["domain"][0] == 0 and scale["domain"][1] > 0, scale
    assert "domainMid" not in scale and scale.get("scheme") != DIVERGING, scale


def test_a_magnitude_heatmap_refuses_negative_values():
    h = np.array([[0.5, -0.25], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"negative values.*np\.abs"):
        hidden_heatmap(h, 0, quantity="|dL/dh_t|", magnitude=True)
    check_magnitude_scale(hidden_heatmap(np.abs(h), 0, quantity="|dL/dh_t|", magnitude=True).to_dict())


@pytest.mark.parametrize("bad", ["RNN", "RNN,RNN", "RNN,Transformer", ""])
def test_a_bad_compare_gives_one_notice(bad):
    at = render(BASE, "Step", compare=bad)
    assert len(at.warning) == 1 and "compare" in at.warning[0].value, [w.value for w in at.warning]


def test_the_lesson_step_three_cells_one_memory_task_compares_trained_models():
    """Each cell trained on the memory task from the same seed (rnntrace.train, as a user would), on its example."""
    from rnntrace.dashboard.tour import TOUR

    k = next(i for i, s in enumerate(TOUR, 1) if s.title == "Three cells, one memory task")
    at = render({}, None, tour=k)
    payloads = [p for p in stage_payloads(at) if p.get("diagram")]
    assert len(payloads) == 3
    for cell, payload in zip(("rnn", "gru", "lstm"), payloads, strict=True):
        trained = rnntrace.train("memory", cell=cell, seed=0)
        x, _ = trained.example()
        model = trained.model
        with torch.no_grad():
            X = model.rnn_input(x)  # (1, T, D)
            y = model.fc(model.rnn(X)[0]).numpy().astype(np.float64)
        ref = torch_steps(model.rnn, X.transpose(0, 1).numpy())
        L = Lesson({}, model.rnn, model.fc, X.numpy(), ref, y, y)
        check_diagram(at, L, 0, 0, 6, 0, payload=payload)
