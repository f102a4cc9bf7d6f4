r"""``?notation=textbook&view=Backward``: the backward equations in the lecture's column form, torch autograd's numbers.

Read off the screen (``AppTest``): the symbols (``W_hᵀ δ_{t+1}``, ``Σ_t δ_t h_{t-1}ᵀ``, no torch row
products), the bridge line under them, and every ``\underbrace`` of the equations with numbers. The
expected numbers come from ``test_backward_view.torch_reference`` (a per-step torch replay with leaf
weights and ``retain_grad``, itself checked against the fused module's autograd), multiplied here in
the lecture's column form: ``W_hh.T @ δ_{t+1}``, ``W_o.T @ dL/dy_t``.
"""

from __future__ import annotations

import numpy as np
import pytest
from apptest import CELL_CASES
from oracle import lesson
from test_backward_view import GATES, assert_vector, labelled, render, shown_here, torch_reference

CASES = {k: CELL_CASES[k] for k in ("rnn_tanh", "gru", "lstm")}
SHOWN = (0, 0, 3, 1)  # layer, direction, t, sample: what shown_here(name) opens for these cases


def latex(at) -> list[str]:
    return [e.value for e in at.latex]


@pytest.mark.parametrize("name", list(CASES))
def test_backward_in_the_lectures_notation_shows_torchs_gradients(name):
    config = CASES[name]
    _, d, t, n = SHOWN
    L = lesson(config)
    ref = torch_reference(L.module, L.head, L.X, None)  # the view's default loss: Σ y at the last step
    at = render(config, notation="textbook", **shown_here(name))
    q = ref.q[(0, d)]
    H, cell = config["M"], config["cell"]
    shown = labelled(at)
    lines = latex(at)

    # the symbols: the lecture's columns, not torch's rows
    W_h = "W_{h}" if cell == "RNN" else "W_{hk}"
    assert any(rf"\frac{{\partial L}}{{\partial {W_h}}} = \sum_t \delta" in x and r"h_{t-1}^\top" in x for x in lines), lines
    assert not any(r"W_{hh}" in x or r"W_{ih}" in x for x in lines if "torch's tensors" not in x), "a torch row product left"
    assert any("torch's tensors" in x and r"W_{h" in x and r"W_{hh}" in x for x in lines), "no bridge line"
    assert not any("row form" in m.value for m in at.markdown)
    if cell == "RNN":
        assert any(r"g_t + W_{h}^\top \delta_{t+1}" in x for x in lines)
    else:
        assert any(rf"W_{{h{gate}}}^\top \delta^{{{gate}}}_{{t+1}}" in x for x in lines for gate in GATES[cell])

    # the numbers under the lecture's labels: torch autograd's, as columns
    W_o = L.head.weight.detach().numpy().astype(np.float64)  # (K, H)
    (g,) = shown[rf"W_o^\top \partial L/\partial y_{{{t}}}"]
    g_want = W_o[:, :H].T @ ref.go[t, n]  # W_oᵀ dL/dy_t, a column
    assert_vector(g, g_want, "W_oᵀ dL/dy_t")
    for body in shown[rf"\partial L/\partial h_{{{t}}}"]:
        assert_vector(body, q["dh_t"][t, n], f"dL/dh_{t}")
    if cell == "RNN":
        W_hh = L.module.weight_hh_l0.detach().numpy().astype(np.float64)  # the lecture's W_h is torch's W_hh itself
        (rec,) = shown[rf"W_{{h}}^\top \delta_{{{t + 1}}}"]
        assert_vector(rec, W_hh.T @ q["d_pre"][t + 1, n], "W_hᵀ δ_{t+1}")
        (delta,) = shown[rf"\delta_{{{t}}}"]
        assert_vector(delta, q["d_pre"][t, n], f"δ_{t}")
    else:
        (after,) = shown[rf"\text{{from step {t + 1}}}"]
        assert_vector(after, q["dh_t"][t, n] - g_want, f"dL/dh_{t} from step {t + 1}")
        for gate in GATES[cell]:
            (body,) = shown[rf"\delta^{{{gate}}}_{{{t}}}"]
            assert_vector(body, q["d_" + gate][t, n], f"δ^{gate}_{t}")
    if cell == "LSTM":
        (dc,) = shown[rf"\partial L/\partial c_{{{t}}}"]
        assert_vector(dc, q["dc_t"][t, n], f"dL/dc_{t}")


def test_torchs_notation_keeps_its_rows_and_no_bridge():
    at = render(CASES["rnn_tanh"], **shown_here("rnn_tanh"))
    lines = latex(at)
    t = SHOWN[2]
    assert any(r"g_t + \delta_{t+1} W_{hh}" in x for x in lines)
    assert any(r"\frac{\partial L}{\partial W_{hh}} = \sum_t \delta_t^\top h_{t-1}" in x for x in lines)
    assert rf"\delta_{{{t + 1}}} W_{{hh}}" in labelled(at)
    assert not any("torch's tensors" in x for x in lines)
