r"""The Backward view with ``bp_truncate=k`` ("h.detach() every k"), read off the screen and checked against torch.

The reference is the training loop a language model runs, unrolled in torch: the layer's own
``RNNCell`` / ``GRUCell`` / ``LSTMCell`` (its weights copied in, float64), one step at a time,
``h = h.detach()`` (and c) before every k-th step. Each step gets **its own leaf copy** of the
weights (``torch.func.functional_call``), so its ``.grad`` after ``L.backward()`` is that step's
share of dL/dW, and ``h_t.retain_grad()`` gives the total dL/dh_t. The shares' sum is checked
against autograd on the fused module run chunk by chunk with ``.detach()`` between chunks
(the loop of tests/test_truncate.py), so the reference is itself checked by torch. The flow
matrix is one ``torch.autograd.grad(L_t, h_s)`` per cell.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from oracle import lesson
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from rnntrace.dashboard.url import check

APP = str(Path(__file__).resolve().parents[2] / "app.py")
CASES = {
    "rnn": ({"cell": "RNN", "N": 2, "T": 8, "D": 3, "M": 4, "K": 2, "seed": 1}, 3, "last step"),
    "gru": ({"cell": "GRU", "N": 2, "T": 8, "D": 3, "M": 4, "K": 2, "seed": 2}, 3, "every step"),
    "lstm": ({"cell": "LSTM", "N": 2, "T": 9, "D": 3, "M": 4, "K": 2, "seed": 3}, 4, "every step"),
}


@dataclass
class Reference:
    dh: np.ndarray  # (T, N, H) total dL/dh_t
    shares: dict  # name -> (T, *shape) each step's share
    flow: np.ndarray  # (T, T) ‖∂L_t/∂h_s‖ for L_t = Σ y_t (the flow's own loss, every step)
    grads: dict  # name -> Σ_t shares


def unrolled(module, head, X: np.ndarray, k: int | None, loss: str) -> Reference:
    """The detach loop step by step with torch's cell, per-step leaf weights; L = Σ y ⊙ grad_output."""
    kind = type(module).__name__
    cell = getattr(torch.nn, kind + "Cell")(module.input_size, module.hidden_size, dtype=torch.float64)
    cell.load_state_dict({name.removesuffix("_l0"): p.double() for name, p in module.named_parameters()})
    W_o, b_o = head.weight.detach().double(), head.bias.detach().double()
    x = torch.from_numpy(X).double()  # (N, T, D)
    N, T, _ = x.shape
    h = torch.zeros(N, module.hidden_size, dtype=torch.float64)
    state = (h, h.clone()) if kind == "LSTM" else h
    hs, weights = [], []
    for t in range(T):
        if k and t > 0 and t % k == 0:  # the chunk boundary: h = h.detach()
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        w = {name: p.detach().clone().requires_grad_(True) for name, p in cell.named_parameters()}
        state = torch.func.functional_call(cell, w, (x[:, t], state))
        h_t = state[0] if isinstance(state, tuple) else state
        h_t.retain_grad()
        hs.append(h_t)
        weights.append(w)
    ys = [h_t @ W_o.T + b_o for h_t in hs]  # (N, K) each
    per_step = [y.sum() for y in ys]  # L_t: ones on every step's outputs
    (per_step[-1] if loss == "last step" else sum(per_step)).backward(retain_graph=True)
    zero = lambda v, like: torch.zeros_like(like) if v is None else v  # noqa: E731  # a step no loss reaches (a "last step" loss, cut off)
    dh = torch.stack([zero(h_t.grad, h_t) for h_t in hs]).numpy()
    shares = {name + "_l0": torch.stack([zero(w[name].grad, w[name]) for w in weights]).numpy() for name in weights[0]}
    flow = np.zeros((T, T))  # after reading h_t.grad: torch.autograd.grad also fills the retained .grad of h_t
    for t in range(T):
        got = torch.autograd.grad(per_step[t], hs[: t + 1], retain_graph=True, allow_unused=True)
        flow[t, : t + 1] = [0.0 if g is None else float(g.norm()) for g in got]
    return Reference(dh, shares, flow, {name: s.sum(axis=0) for name, s in shares.items()})


def chunked_autograd(module, head, X: np.ndarray, k: int | None, loss: str) -> dict:
    """The fused module on chunks of k steps, .detach() between them: torch's own gradient of the same loss (float64)."""
    m = type(module)(module.input_size, module.hidden_size, batch_first=True, dtype=torch.float64)
    m.load_state_dict({name: p.double() for name, p in module.state_dict().items()})
    x = torch.from_numpy(X).double()
    T = x.shape[1]
    go = torch.zeros(x.shape[0], T, head.out_features, dtype=torch.float64)
    go[:, -1 if loss == "last step" else slice(None)] = 1
    state, total = None, 0.0
    for start in range(0, T, k or T):
        out, state = m(x[:, start : start + (k or T)], state)
        total = total + ((out @ head.weight.detach().double().T + head.bias.detach().double()) * go[:, start : start + (k or T)]).sum()
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
    names = [n for n, _ in m.named_parameters()]
    return dict(zip(names, (g.numpy() for g in torch.autograd.grad(total, list(m.parameters()))), strict=True))


# -- reading the screen ---------------------------------------------------------------------------


def open_view(config: dict, **extra) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in {**config, "view": "Backward", **extra}.items():
        at.query_params[key] = str(value)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error if "failed to render" in e.value]
    return at


def charts(at: AppTest) -> dict[str, list]:
    found = {}
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec.get("title", {})
        found[title.get("text") if isinstance(title, dict) else title] = [
            convert_arrow_bytes_to_pandas_df(ds.data.data) for ds in chart.proto.datasets
        ]
    return found


def chart(found: dict, prefix: str) -> list:
    (title,) = [t for t in found if t.startswith(prefix)]
    return found[title]


def dataset(frames: list, *columns: str):
    (frame,) = [f for f in frames if all(c in f.columns for c in columns)]
    return frame


def close(a, b, what: str, rtol: float = 1e-4, atol: float = 1e-6) -> None:
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol * max(1.0, float(np.abs(b).max(initial=0))), err_msg=what)


def shown_vector(at: AppTest, label: str) -> list[str]:
    """The entries of the bmatrix under ``label`` (first occurrence)."""
    for latex in at.latex:
        m = re.search(
            r"\\underbrace\{\\begin\{bmatrix\}((?:(?!\\end\{bmatrix\}).)*)\\end\{bmatrix\}\}_\{" + re.escape(label) + r"\}", latex.value
        )
        if m:
            return [r.strip() for r in m[1].split(r"\\")]
    raise AssertionError(f"no vector under {label!r}")


def value(token: str) -> float:
    m = re.fullmatch(r"(-?[0-9.]+)(?:\\!\\times\\!10\^\{(-?\d+)\})?", token)
    assert m, token
    return float(m[1]) * 10.0 ** int(m[2] or 0)


# -- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_truncated_backward_view_shows_torchs_detach_loop(name):
    config, k, loss = CASES[name]
    L = lesson(config)
    T, n = config["T"], 1
    t = k - 1  # the last step of the first chunk: nothing comes back from step k
    ref = unrolled(L.module, L.head, L.X, k, loss)
    fused = chunked_autograd(L.module, L.head, L.X, k, loss)
    for p, g in fused.items():  # the reference's reference: Σ_t shares is autograd's gradient of the chunked loop
        np.testing.assert_allclose(ref.grads[p], g, rtol=1e-9, atol=1e-12, err_msg=f"reference {p}")
    full = unrolled(L.module, L.head, L.X, None, loss)
    at = open_view(config, bp_truncate=k, bp_loss=loss, t=t, sample=n)
    found = charts(at)
    cuts = list(range(k, T, k))

    # the badge: compared with torch's truncated run, and says so
    (badge,) = [m.value for m in at.markdown if "= autograd" in m.value]
    assert re.search(rf"= autograd ✓ [0-9.e+-]+ · k = {k}\]", badge), badge

    # dL/dh_t over time, and the cut drawn on it
    heat = chart(found, "dL/dh_t over time")
    cells = dataset(heat, "unit0", "value")
    grid = np.full((T, config["M"]), np.nan)
    grid[cells["t0"].to_numpy(), cells["unit0"].to_numpy()] = cells["value"].to_numpy()
    close(grid, ref.dh[:, n], "heatmap: dL/dh_t with the cut")
    assert sorted(dataset(heat, "step", "x")["step"]) == cuts, "the cuts drawn on dL/dh_t"
    assert sorted(dataset(chart(found, "‖dL/dh_t‖ per step"), "step", "x")["step"]) == cuts

    # the equation at the chunk's end: zero from the step after, labelled as the cut
    entries = shown_vector(at, rf"\text{{0: h.detach() before step {k}}}")
    assert all(value(e) == 0 for e in entries), entries
    total = [value(e) for e in shown_vector(at, rf"\partial L/\partial h_{{{t}}}")]
    close(total, ref.dh[t, n], f"dL/dh_{t}", atol=1e-3)

    # the per-step shares of W_hh, truncated beside the full graph
    bars = dataset(chart(found, "Each step's share of dL/d(weight_hh_l0)"), "norm", "sum", "graph")
    for graph, r in ((f"h.detach() every {k}", ref), ("full graph", full)):
        rows = bars[bars["graph"] == graph].sort_values("t0")
        assert (rows["t0"] == rows["t1"]).all() and list(rows["t0"]) == list(range(T)), graph
        S = r.shares["weight_hh_l0"].reshape(T, -1)
        close(rows["norm"].to_numpy(), np.linalg.norm(S, axis=1), f"{graph}: ‖share_t‖")
        close(rows["sum"].to_numpy(), S.sum(axis=1), f"{graph}: Σ share_t")
    assert np.abs(ref.shares["weight_hh_l0"] - full.shares["weight_hh_l0"]).max() > 1e-3, "the two graphs differ here"

    # the flow matrix: zero across the cuts (no cell drawn there; a shaded block instead), torch's values elsewhere
    frames = chart(found, "Flow")
    flow = dataset(frames, "row0", "s0", "value")
    assert (flow["row0"] == flow["row1"]).all() and (flow["s0"] == flow["s1"]).all()
    shown = np.zeros((T, T))
    shown[flow["row0"].to_numpy(), flow["s0"].to_numpy()] = flow["value"].to_numpy()
    close(shown, ref.flow, "flow with the cut")
    rows, cols = np.indices((T, T))
    across = cols // k < rows // k
    assert (shown[across] == 0).all() and (ref.flow[across] == 0).all()
    blocks = dataset(frames, "cut", "edge", "top", "bottom")
    blanked = np.zeros((T, T), bool)
    for b in blocks.itertuples():
        blanked[int(b.top + 0.5) : int(b.bottom + 0.5), : int(b.edge + 0.5)] = True
    assert (blanked == across).all(), "the shaded blocks are exactly the cells the cuts zero"
    assert (full.flow[across] > 0).all(), "without the cut those cells are reached"


def test_the_link_is_checked_once_with_one_notice():
    assert check({"T": "8", "bp_truncate": "3"}).notices == []
    assert check({"T": "8", "bp_truncate": "0"}).notices == []
    (why,) = check({"T": "8", "bp_truncate": "8"}).notices
    assert "bp_truncate='8' ignored: outside 0..7; 0 (the full graph) is used" in why
    (why,) = check({"bp_truncate": "three"}).notices
    assert "bp_truncate='three' ignored: not an integer (expected 0..9)" in why
    (why,) = check({"bidirectional": "true", "bp_truncate": "2"}).notices
    assert "needs a one-direction layer" in why
    config = CASES["gru"][0]
    at = open_view(config, bp_truncate="-4", bp_loss="every step")
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and "bp_truncate='-4' ignored" in warnings[0], warnings
    (badge,) = [m.value for m in at.markdown if "= autograd" in m.value]
    assert "k =" not in badge, "the full graph"
    assert at.number_input(key="bp_truncate").value == 0


def test_a_bidirectional_layer_offers_no_cut():
    at = open_view({"cell": "GRU", "T": 6, "bidirectional": "true"})
    assert at.number_input(key="bp_truncate_off").disabled
    assert not [k for k in at.number_input if k.key == "bp_truncate"]


def test_the_lesson_step_on_truncation_sets_up_the_cut():
    from rnntrace.dashboard.tour import TOUR

    (k,) = [i + 1 for i, s in enumerate(TOUR) if "detach" in s.title]
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["tour"] = str(k)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"Lesson {k} of {len(TOUR)} · Why language models call h.detach()" in m.value for m in at.markdown)
    (badge,) = [m.value for m in at.markdown if "= autograd" in m.value]
    assert "✓" in badge and "k = 6" in badge, badge
    frames = chart(charts(at), "Flow")
    assert sorted(dataset(frames, "cut", "edge", "top", "bottom")["cut"]) == [6, 12, 18]
    at.button(key="tour_back").click().run()  # the step before resets the cut for the rest of the lesson
    assert at.session_state["bp_truncate"] == 0
