r"""The backward equations in the lecture's notation (``notation="textbook"``): column form, torch's numbers.

A gradient is a row in torch's form (``δ_{t+1} W_hh``) and a column in the lecture's
(``W_hᵀ δ_{t+1}``); the entries are the same. The expected equations in symbols are written out by
hand, as a lecture writes them; the numbers under the lecture's labels are checked against torch
autograd on a per-step loop (``retain_grad``), computed here in column form (``W_hh.T @ δ``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from latex_reader import parse_number, underbraces
from torch import nn

import rnntrace
from rnntrace.cells import SPECS, TEXTBOOK, TORCH
from rnntrace.cells.latex import StepGrads, back_blocks

DH = r"\frac{\partial L}{\partial h_t}"
DC = r"\frac{\partial L}{\partial c_t}"


def frac(what: str) -> str:
    return rf"\frac{{\partial L}}{{\partial {what}}}"


def both(spec_key: str, direction: int = 0, nt=TEXTBOOK) -> tuple[str, str]:
    """The cell's backward equations in symbols and its weights' and x_t's gradients, as the Backward view writes them."""
    spec = SPECS[spec_key]
    state = "h_{t-1}" if direction == 0 else "h_{t+1}"
    return spec.backward_equations(direction, nt), nt.param_grads(back_blocks(spec), state)


def test_the_plain_rnns_backward_step_in_the_lectures_columns():
    eqs, params = both("RNN_TANH")
    assert eqs == (
        rf"\begin{{aligned}}{DH} &= g_t + W_{{h}}^\top \delta_{{t+1}} \qquad "
        rf"\delta_t = {DH} \odot (1 - h_t^2) = {DH} \odot \tanh'(\mathrm{{pre}}_t)\end{{aligned}}"
    )
    assert params == (
        rf"{frac('W_{h}')} = \sum_t \delta_t h_{{t-1}}^\top \qquad {frac('W_{x}')} = \sum_t \delta_t x_t^\top"
        rf" \qquad {frac('x_t')} = W_{{x}}^\top \delta_{{t}}"
    )
    eqs, params = both("RNN_RELU", direction=1)  # reverse: the step after t is t-1, the previous state h_{t+1}
    assert r"g_t + W_{h}^\top \delta_{t-1} \qquad" in eqs and r"\mathbb{1}[h_t > 0]" in eqs
    assert params.startswith(rf"{frac('W_{h}')} = \sum_t \delta_t h_{{t+1}}^\top")


def test_the_grus_backward_step_in_the_lectures_columns():
    eqs, params = both("GRU")
    assert eqs == (
        r"\begin{aligned}"
        rf"\delta^n_t &= {DH} \odot (1 - z_t) \odot (1 - n_t^2) \qquad \delta^z_t = {DH} \odot (h_{{t-1}} - n_t) \odot z_t (1 - z_t) \\ "
        r"\delta^r_t &= \delta^n_t \odot (W_{hn} h_{t-1} + b_{hn}) \odot r_t (1 - r_t) \\ "
        rf"{DH} &= g_t + {frac('h_{t+1}')} \odot z_{{t+1}} + W_{{hr}}^\top \delta^{{r}}_{{t+1}} + W_{{hz}}^\top \delta^{{z}}_{{t+1}}"
        r" + W_{hn}^\top (\delta^{n}_{t+1} \odot r_{t+1})"
        r"\end{aligned}"
    )
    assert params == (  # two lines: the state weights (W_hn sees δ^n through r_t), then the input's and x_t's
        rf"\begin{{gathered}}{frac('W_{hk}')} = \sum_t \delta^k_t h_{{t-1}}^\top \qquad "
        rf"\text{{but }} {frac('W_{hn}')} = \sum_t (\delta^{{n}}_t \odot r_t) h_{{t-1}}^\top \\ "
        rf"{frac('W_{xk}')} = \sum_t \delta^k_t x_t^\top \qquad "
        rf"{frac('x_t')} = W_{{xr}}^\top \delta^{{r}}_{{t}} + W_{{xz}}^\top \delta^{{z}}_{{t}} + W_{{xn}}^\top \delta^{{n}}_{{t}}"
        r"\end{gathered}"
    )


def test_the_lstms_backward_step_in_the_lectures_columns():
    eqs, params = both("LSTM")
    assert eqs == (
        r"\begin{aligned}"
        rf"{DC} &= {DH} \odot o_t \odot (1 - \tanh^2 c_t) + {frac('c_{t+1}')} \odot f_{{t+1}} \\ "
        rf"\delta^i_t &= {DC} \odot g_t \odot i_t (1 - i_t) \qquad \delta^f_t = {DC} \odot c_{{t-1}} \odot f_t (1 - f_t) \\ "
        rf"\delta^g_t &= {DC} \odot i_t \odot (1 - g_t^2) \qquad \delta^o_t = {DH} \odot \tanh(c_t) \odot o_t (1 - o_t) \\ "
        rf"{DH} &= g_t + W_{{hi}}^\top \delta^{{i}}_{{t+1}} + W_{{hf}}^\top \delta^{{f}}_{{t+1}} + W_{{hg}}^\top \delta^{{g}}_{{t+1}}"
        r" + W_{ho}^\top \delta^{o}_{t+1}"
        r"\end{aligned}"
    )
    assert params == (
        rf"\begin{{gathered}}{frac('W_{hk}')} = \sum_t \delta^k_t h_{{t-1}}^\top \\ {frac('W_{xk}')} = \sum_t \delta^k_t x_t^\top \qquad "
        rf"{frac('x_t')} = W_{{xi}}^\top \delta^{{i}}_{{t}} + W_{{xf}}^\top \delta^{{f}}_{{t}} + W_{{xg}}^\top \delta^{{g}}_{{t}}"
        r" + W_{xo}^\top \delta^{o}_{t}\end{gathered}"
    )


@pytest.mark.parametrize("key", ["RNN_TANH", "GRU", "LSTM"])
def test_torchs_row_form_stays_the_default(key):
    eqs, params = both(key, nt=TORCH)
    assert SPECS[key].backward_equations(0) == eqs  # torch's is what a caller gets without asking
    stacked = {"RNN_TANH": r"\delta_{t+1}", "GRU": r"[\delta^{r} \mid \delta^{z} \mid \delta^{n} \odot r]_{t+1}"}.get(
        key, r"[\delta^{i} \mid \delta^{f} \mid \delta^{g} \mid \delta^{o}]_{t+1}"
    )
    assert rf"+ {stacked} W_{{hh}}" in eqs  # the stacked row times torch's W_hh
    assert params.replace(r"\begin{gathered}", "").startswith(rf"{frac('W_{hh}')} = \sum_t ")
    assert r"^\top" not in eqs.replace(r"W_{hn}^\top", "")  # no lecture-style transposes (the GRU's forward term keeps torch's)


def test_numbers_under_the_lectures_labels_are_torchs_autograd():
    """StepGrads in the lecture's notation: W_hᵀ δ_{t+1} labelled as such, its numbers torch's (a per-step loop, retain_grad)."""
    torch.manual_seed(3)
    module = nn.RNN(3, 4)
    x = torch.randn(5, 2, 3)  # (T, N, D)
    T, N, t, n = 5, 2, 2, 1
    # torch: the loss Σ h_{T-1}, each step's pre-activation kept
    h = torch.zeros(N, 4)
    pres, hs = [], []
    for s in range(T):
        pre = x[s] @ module.weight_ih_l0.T + module.bias_ih_l0 + h @ module.weight_hh_l0.T + module.bias_hh_l0
        pre.retain_grad()
        h = torch.tanh(pre)
        h.retain_grad()
        pres.append(pre)
        hs.append(h)
    hs[-1].sum().backward()
    delta_next = pres[t + 1].grad[n].detach()  # (H,) δ_{t+1}, a column in the lecture
    want_rec = (module.weight_hh_l0.detach().T @ delta_next).numpy()  # dL/dh_t from t+1: W_hᵀ δ_{t+1}
    want_dh = hs[t].grad[n].numpy()

    bp = rnntrace.backprop(module, x)  # its default loss: Σ output at the last step
    tr = bp.trace
    at = StepGrads(
        t=t,
        nxt=t + 1,
        n=n,
        g=np.zeros(4),
        g_label="g_t",
        grad=lambda name: bp.quantity(name, 0, 0),
        value=lambda name: tr.quantity(name, 0, 0),
        param=lambda kind: module.get_parameter(f"{kind}_l0").detach().numpy(),
        v=lambda a: r"\begin{bmatrix}" + r" \\ ".join(f"{v:.6f}" for v in a) + r"\end{bmatrix}",
        nt=TEXTBOOK,
    )
    lines = SPECS["RNN_TANH"].backward_numbers(at)
    found = {label: body for line in lines for body, label, _ in underbraces(line)}
    assert r"\delta_{3} W_{hh}" not in found  # torch's row label is gone
    for label, want in ((r"W_{h}^\top \delta_{3}", want_rec), (r"\partial L/\partial h_{2}", want_dh)):
        shown = np.array([parse_number(tok)[0] for tok in found[label].split(r"\begin{bmatrix}")[1].split(r"\end")[0].split(r"\\")])
        np.testing.assert_allclose(shown, want, atol=2e-6, rtol=1e-5, err_msg=label)
