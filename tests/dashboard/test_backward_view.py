r"""The Backward view read off the screen and checked against torch autograd.

The reference here is independent of rnntrace's backward pass: every layer is replayed
step by step with torch ops (the torch-docs equations, as in ``tests/oracle.py``), each
step using its **own leaf copies** of the weights, so that after ``L.backward()``

- ``h_t.grad`` (``retain_grad()``) is the total dL/dh_t, ``c_t.grad`` dL/dc_t, and each
  gate's pre-activation ``.grad`` its δ;
- the step's weight copy's ``.grad`` is exactly that step's share of dL/dW (their sum is
  checked against the fused module's ``torch.autograd.grad``, so the reference is itself
  checked by torch).

The Jacobian norms come from ``torch.autograd.functional.jacobian`` of one step, the flow
matrix from one ``torch.autograd.grad`` per step's loss. The app is opened on
``?view=Backward&...`` (what a lecture link carries) and read like a user reads it: the
vectors under their LaTeX labels, the charts' data by title, the badge.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import altair as alt
import numpy as np
import pytest
import torch
from apptest import CELL_CASES, charts, clean, dataset, new_app, run_clean, shown_params
from latex_reader import parse_number, underbraces
from oracle import lesson
from streamlit.testing.v1 import AppTest

from rnntrace.bptt import backprop
from rnntrace.dashboard import grad_charts

GATES = {"RNN": (), "GRU": ("r", "z", "n"), "LSTM": ("i", "f", "g", "o")}  # torch's stacking order (torch docs)

CASES: dict[str, dict] = {
    **CELL_CASES,
    "lstm_bi2": {"cell": "LSTM", "N": 2, "T": 6, "D": 4, "M": 5, "K": 3, "layers": 2, "bidirectional": True, "seed": 5},
    "gru_bi2": {"cell": "GRU", "N": 1, "T": 5, "D": 2, "M": 4, "K": 2, "layers": 2, "bidirectional": True, "seed": 6},
}
# what each case shows: (layer, direction, t, sample)
SHOWN = {name: (0, 0, 3, 1) for name in CASES} | {"lstm_bi2": (0, 1, 2, 1), "gru_bi2": (1, 1, 1, 0)}
# the loss (the bp_loss select box, from the URL): the top layer's reverse direction needs every step's loss to get a gradient before T-1
LOSS = dict.fromkeys(CASES, "last step") | {"gru_bi2": "every step"}


# -- torch's side: a per-step replay with autograd ----------------------------------------------


@dataclass
class Reference:
    """torch autograd's gradients for one loss.

    Attributes:
        q: (layer, direction) -> name -> (T, N, ·) by time t: dh_t, dc_t, d_<gate> (δ of each
            gate's pre-activation; d_pre for the plain RNN), h_t, f_t.
        shares: parameter name -> (T, *shape), each step's share of its gradient.
        grads: parameter name -> the fused module's autograd gradient (and the head's).
        go: (T, N, K) the grad_output used, time-major.
    """

    q: dict
    shares: dict
    grads: dict
    go: np.ndarray


def _leaf(p: torch.Tensor | None) -> torch.Tensor | None:
    return None if p is None else p.detach().clone().requires_grad_(True)


def _step(cell: str, act, x_t, h, c, W_ih, W_hh, b_ih, b_hh):
    """One step of the torch-docs equations; returns (h_t, c_t, {gate: pre-activation})."""
    G = len(GATES[cell]) or 1
    a = x_t @ W_ih.T + (0 if b_ih is None else b_ih)  # (N, G*H)
    b = h @ W_hh.T + (0 if b_hh is None else b_hh)
    if cell == "RNN":
        pre = a + b
        return act(pre), None, {"pre": pre}
    A, B = a.chunk(G, dim=1), b.chunk(G, dim=1)
    if cell == "GRU":  # [r | z | n]; b_hn inside r_t * (...)
        pr, pz = A[0] + B[0], A[1] + B[1]
        r, z = torch.sigmoid(pr), torch.sigmoid(pz)
        pn = A[2] + r * B[2]
        n = torch.tanh(pn)
        return (1 - z) * n + z * h, None, {"r": pr, "z": pz, "n": pn}
    pi, pf, pg, po = (A[k] + B[k] for k in range(4))  # [i | f | g | o]
    c = torch.sigmoid(pf) * c + torch.sigmoid(pi) * torch.tanh(pg)
    return torch.sigmoid(po) * torch.tanh(c), c, {"i": pi, "f": pf, "g": pg, "o": po}


def torch_reference(module, head, X: np.ndarray, go_ntk: np.ndarray | None) -> Reference:
    """Replay ``module`` (batch_first) and ``head`` step by step with leaf weights per step; backpropagate Σ y ⊙ grad_output."""
    cell = {"RNN": "RNN", "GRU": "GRU", "LSTM": "LSTM"}[type(module).__name__]
    act = torch.relu if getattr(module, "nonlinearity", "tanh") == "relu" else torch.tanh
    L, dirs, H = module.num_layers, 2 if module.bidirectional else 1, module.hidden_size
    x = torch.from_numpy(X).transpose(0, 1)  # (T, N, D)
    T, N, _ = x.shape
    params = dict(module.named_parameters())
    kinds = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    per_step: dict[str, list] = {}
    keep: dict = {}
    layer_in = x
    for layer in range(L):
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            h, c = torch.zeros(N, H, dtype=x.dtype), torch.zeros(N, H, dtype=x.dtype)
            rec = {k: [None] * T for k in ("h_t", "c_t", "pres")}
            for t in reversed(range(T)) if d else range(T):
                w = {k: _leaf(params.get(k + sfx)) for k in kinds}
                for k, v in w.items():
                    if v is not None:
                        per_step.setdefault(k + sfx, [None] * T)[t] = v
                h, c_new, pres = _step(cell, act, layer_in[t], h, c, w["weight_ih"], w["weight_hh"], w["bias_ih"], w["bias_hh"])
                h.retain_grad()
                for p in pres.values():
                    p.retain_grad()
                if c_new is not None:
                    c = c_new
                    c.retain_grad()
                rec["h_t"][t], rec["c_t"][t], rec["pres"][t] = h, c_new, pres
            keep[(layer, d)] = rec
            outs.append(torch.stack(rec["h_t"]))
        layer_in = torch.cat(outs, dim=-1)  # (T, N, dirs*H)
    W_o, b_o = _leaf(head.weight), _leaf(head.bias)
    y = layer_in @ W_o.T + b_o  # (T, N, K)
    go = np.zeros(y.shape, X.dtype) if go_ntk is None else np.ascontiguousarray(np.swapaxes(go_ntk, 0, 1))
    if go_ntk is None:
        go[-1] = 1  # the view's default loss: the last step's outputs
    (y * torch.from_numpy(go)).sum().backward()

    q = {}
    for key, rec in keep.items():
        stack = lambda ts: torch.stack([v.grad for v in ts]).numpy().astype(np.float64)  # noqa: E731
        q[key] = {"dh_t": stack(rec["h_t"]), "h_t": torch.stack(rec["h_t"]).detach().numpy().astype(np.float64)}
        if cell == "LSTM":
            q[key]["dc_t"] = stack(rec["c_t"])
        for g in GATES[cell] or ("pre",):
            q[key]["d_" + g] = stack([p[g] for p in rec["pres"]])
    shares = {k: torch.stack([v.grad for v in vs]).numpy().astype(np.float64) for k, vs in per_step.items()}

    # the reference's reference: the fused module's autograd gradient is the sum of the shares
    xt = torch.from_numpy(X)
    out = module(xt)[0]
    fused_y = head(out)
    names = [k for k, _ in module.named_parameters()]
    got = torch.autograd.grad((fused_y * torch.from_numpy(np.swapaxes(go, 0, 1))).sum(), [params[k] for k in names])
    grads = {k: v.numpy().astype(np.float64) for k, v in zip(names, got, strict=True)}
    for k in names:
        np.testing.assert_allclose(shares[k].sum(axis=0), grads[k], rtol=1e-4, atol=1e-6, err_msg=f"reference: Σ_t shares of {k}")
    return Reference(q, shares, grads, go.astype(np.float64))


def jacobian_norms(L, layer: int, d: int) -> np.ndarray:
    """(T,) ‖∂h_t/∂h_{t-1}‖₂ (c_{t-1} held fixed), max over samples, from torch.autograd.functional.jacobian of one step.

    The states h_{t-1}, c_{t-1} and the layer's input are the oracle's (tests/oracle.py, torch ops checked against torch's forward).
    """
    module = L.module
    cell = type(module).__name__
    act = torch.relu if getattr(module, "nonlinearity", "tanh") == "relu" else torch.tanh
    sfx = f"_l{layer}" + ("_reverse" if d else "")
    p = {k: getattr(module, k + sfx, None) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    w = {"W_ih": p["weight_ih"], "W_hh": p["weight_hh"], "b_ih": p["bias_ih"], "b_hh": p["bias_hh"]}
    w = {k: None if v is None else v.detach().double() for k, v in w.items()}
    x, h_prev = (torch.from_numpy(L.ref.q(k, layer, d)) for k in ("x_t", "h_prev"))  # (T, N, ·) float64
    c_prev = torch.from_numpy(L.ref.q("c_prev", layer, d)) if cell == "LSTM" else None
    T, N, _ = h_prev.shape
    norms = np.zeros(T)
    for t in range(T):
        for n in range(N):

            def f(h, t=t, n=n):
                out, _, _ = _step(cell, act, x[t, n][None], h[None], None if c_prev is None else c_prev[t, n][None], **w)
                return out[0]

            J = torch.autograd.functional.jacobian(f, h_prev[t, n])
            norms[t] = max(norms[t], float(torch.linalg.matrix_norm(J, 2)))
    return norms


def flow_rows(module, head, X: np.ndarray) -> np.ndarray:
    """(T, T) ‖∂L_t/∂h_s‖ for the top layer's forward h_s, L_t = Σ y_t: one torch.autograd.grad per t."""
    cell = type(module).__name__
    act = torch.relu if getattr(module, "nonlinearity", "tanh") == "relu" else torch.tanh
    top = module.num_layers - 1
    if top > 0 or module.bidirectional:
        raise NotImplementedError("the flow reference is written for one forward layer")
    p = {k: getattr(module, k + "_l0", None) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    w = {"W_ih": p["weight_ih"], "W_hh": p["weight_hh"], "b_ih": p["bias_ih"], "b_hh": p["bias_hh"]}
    w = {k: None if v is None else v.detach() for k, v in w.items()}
    x = torch.from_numpy(X).transpose(0, 1)
    T, N, _ = x.shape
    H = module.hidden_size
    h, c = torch.zeros(N, H, dtype=x.dtype, requires_grad=True), torch.zeros(N, H, dtype=x.dtype)  # every h_s on the graph
    hs = []
    for t in range(T):
        h, c_new, _ = _step(cell, act, x[t], h, c, **w)
        c = c if c_new is None else c_new
        hs.append(h)
    y = torch.stack(hs) @ head.weight.detach().T + head.bias.detach()  # (T, N, K)
    flow = np.zeros((T, T))
    for t in range(T):
        got = torch.autograd.grad(y[t].sum(), hs[: t + 1], retain_graph=True)
        flow[t, : t + 1] = [float(g.double().norm()) for g in got]
    return flow


# -- the app ------------------------------------------------------------------------------------


def render(config: dict, **extra) -> AppTest:
    return run_clean(new_app(**config, view="Backward", **extra))


def shown_here(name: str) -> dict:
    """The link values for a case's shown step, with its loss."""
    loss = {"bp_loss": LOSS[name]} if LOSS[name] != "last step" else {}
    return shown_params(CASES[name], SHOWN[name]) | loss


def chart(shown: dict, prefix: str) -> list:
    (title,) = [k for k in shown if k.startswith(prefix)]
    return shown[title]


def series(frame, column: str, T: int) -> np.ndarray:
    """A per-step chart's column as a (T,) array (nothing merged into buckets)."""
    assert (frame["t0"] == frame["t1"]).all(), "bucketed"
    a = np.full(T, np.nan)
    a[frame["t0"].to_numpy()] = frame[column].to_numpy()
    assert not np.isnan(a).any()
    return a


def labelled(at: AppTest) -> dict[str, list[str]]:
    r"""Every ``\underbrace{bmatrix}_{label}`` on the page: label -> the vectors shown under it."""
    found: dict[str, list[str]] = {}
    for latex in at.latex:
        for body, label, _ in underbraces(latex.value):
            found.setdefault(label.strip(), []).append(body)
    return found


def entries(body: str) -> list[str]:
    m = re.fullmatch(r"\s*\\begin\{bmatrix\}(.*)\\end\{bmatrix\}\s*", body, re.S)
    assert m, body[:80]
    return [r.strip() for r in m[1].split(r"\\")]


def assert_vector(body: str, expected: np.ndarray, what: str, rel: float = 1e-4) -> None:
    """A displayed column shows ``expected`` at display precision (plus float32 rounding of a gradient)."""
    shown = entries(body)
    assert len(shown) == expected.size, f"{what}: {len(shown)} entries for {expected.size}"
    for k, (token, e) in enumerate(zip(shown, expected, strict=True)):
        value, half = parse_number(token)
        assert abs(value - e) <= half + 1e-7 + rel * abs(e), f"{what}[{k}] shows {token}; torch autograd: {e:.6g}"


def badge(at: AppTest) -> float:
    for m in at.markdown:
        found = re.search(r"= autograd (✓|✗ disagrees) ([0-9.e+-]+)", m.value)
        if found:
            assert found[1] == "✓", m.value
            return float(found[2])
    raise AssertionError(f"no autograd badge among {[m.value[:50] for m in at.markdown]}")


def close(a, b, what: str, rtol: float = 1e-4, atol: float = 1e-7) -> None:
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol * max(1.0, float(np.abs(b).max(initial=0))), err_msg=what)


# -- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_backward_view_shows_torchs_gradients(name):
    """Equations at t (dL/dh_t, δ, dc_t, the gates), the heatmap, the norm chart and the shares of W_hh, all against autograd."""
    config, (layer, d, t, n) = CASES[name], SHOWN[name]
    L = lesson(config)
    go = None if LOSS[name] == "last step" else np.ones(L.y.shape, L.X.dtype)
    ref = torch_reference(L.module, L.head, L.X, go)
    at = render(config, **shown_here(name))
    cell = config["cell"]
    q = ref.q[(layer, d)]

    # the equations at t, vector by vector under their labels
    shown = labelled(at)
    for body in shown[rf"\partial L/\partial h_{{{t}}}"]:  # the total, and the factor of δ_t's line
        assert_vector(body, q["dh_t"][t, n], f"dL/dh_{t}")
    nxt = t + 1 if d == 0 else t - 1
    top = layer == L.layers - 1
    H = config["M"]
    W_o = L.head.weight.detach().numpy().astype(np.float64)
    if top:
        (g,) = shown[rf"\partial L/\partial y_{{{t}}}\, W_o"]
        assert_vector(g, ref.go[t, n] @ W_o[:, d * H : (d + 1) * H], "dL/dy_t W_o")
    else:
        (g,) = shown[rf"\text{{from layer {layer + 1}}}"]
        assert_vector(g, q["dh_t"][t, n] - _from_after(ref, L, cell, layer, d, nxt, n), "from the layer above")
    if cell == "RNN":
        W_hh = L.module.get_parameter(f"weight_hh_l{layer}" + ("_reverse" if d else "")).detach().numpy().astype(np.float64)
        (rec,) = shown[rf"\delta_{{{nxt}}} W_{{hh}}"]
        assert_vector(rec, q["d_pre"][nxt, n] @ W_hh, "δ_{t+1} W_hh")
        (delta,) = shown[rf"\delta_{{{t}}}"]
        assert_vector(delta, q["d_pre"][t, n], f"δ_{t}")
    else:
        for gate in GATES[cell]:
            (body,) = shown[rf"\delta^{{{gate}}}_{{{t}}}"]
            assert_vector(body, q["d_" + gate][t, n], f"δ^{gate}_{t}")
    if cell == "LSTM":
        (dc,) = shown[rf"\partial L/\partial c_{{{t}}}"]
        assert_vector(dc, q["dc_t"][t, n], f"dL/dc_{t}")

    # the charts
    T = config["T"]
    frames = charts(at)
    heat = dataset(chart(frames, "dL/dh_t over time"), "unit0", "value")
    assert (heat["t0"] == heat["t1"]).all() and (heat["unit0"] == heat["unit1"]).all()
    grid = np.full((T, H), np.nan)
    grid[heat["t0"].to_numpy(), heat["unit0"].to_numpy()] = heat["value"].to_numpy()
    close(grid, q["dh_t"][:, n], "heatmap: dL/dh_t")
    norms = np.linalg.norm(q["dh_t"][:, n], axis=1)
    strip = dataset(chart(frames, "dL/dh_t over time"), "log10")
    close(series(strip, "value", T), norms, "heatmap's strip: ‖dL/dh_t‖")
    close(series(dataset(chart(frames, "‖dL/dh_t‖ per step"), "plotted", "status"), "value", T), norms, "norm chart")
    share = dataset(chart(frames, "Each step's share of dL/d(weight_hh_l0)"), "norm", "sum")
    W = ref.shares["weight_hh_l0"].reshape(T, -1)
    close(series(share, "norm", T), np.linalg.norm(W, axis=1), "shares of weight_hh_l0: norms")
    close(series(share, "sum", T), W.sum(axis=1), "shares of weight_hh_l0: sums", atol=1e-6)

    # the badge: max |rnntrace - autograd| over every gradient, at the badge's one digit
    ours = backprop(L.module, L.X, head=L.head, grad_output=go).grads
    worst = max(float(np.abs(ours[k] - ref.grads[k]).max()) for k in ref.grads)
    shown_diff = badge(at)
    assert worst <= 1e-4, worst
    if worst == 0:
        assert shown_diff == 0
    else:  # one significant digit; torch's own rounding may differ by a bit between two runs with other thread counts
        assert abs(math.log10(max(shown_diff, 1e-30)) - math.log10(worst)) <= math.log10(3), (shown_diff, worst)


def _from_after(ref, L, cell, layer, d, nxt, n) -> np.ndarray:
    """What reaches h_t from the step after (the total minus it is what came from the layer above)."""
    if not 0 <= nxt < ref.q[(layer, d)]["dh_t"].shape[0]:
        return 0.0
    sfx = f"_l{layer}" + ("_reverse" if d else "")
    W_hh = L.module.get_parameter("weight_hh" + sfx).detach().numpy().astype(np.float64)
    q = ref.q[(layer, d)]
    if cell == "GRU":  # dL/dh_{t} ∋ dL/dh_{t+1} ⊙ z_{t+1} + [δ^r | δ^z | δ^n ⊙ r] W_hh
        raise NotImplementedError
    blocks = np.concatenate([q["d_" + g][nxt, n] for g in GATES[cell] or ("pre",)])
    return blocks @ W_hh


def test_choosing_a_parameter_and_the_loss_changes_the_charts_to_torchs():
    config = CASES["gru"]
    L = lesson(config)
    at = render(config, **shown_here("gru"))
    T = config["T"]
    ref = torch_reference(L.module, L.head, L.X, None)
    for name in ("weight_ih_l0", "bias_hh_l0"):
        at.selectbox(key="bp_param").set_value(name).run()
        clean(at)
        share = dataset(chart(charts(at), f"Each step's share of dL/d({name})"), "norm", "sum")
        S = ref.shares[name].reshape(T, -1)
        close(series(share, "norm", T), np.linalg.norm(S, axis=1), f"shares of {name}")
        close(series(share, "sum", T), S.sum(axis=1), f"shares of {name}: sums", atol=1e-6)
    # the loss on every step: ones at every t
    at.selectbox(key="bp_loss").set_value("every step").run()
    clean(at)
    every = torch_reference(L.module, L.head, L.X, np.ones(L.y.shape, L.X.dtype))
    _, _, t, n = SHOWN["gru"]
    (dh,) = labelled(at)[rf"\partial L/\partial h_{{{t}}}"]
    assert_vector(dh, every.q[(0, 0)]["dh_t"][t, n], "dL/dh_t, loss on every step")
    assert any(r"\sum_t" in m.value for m in at.markdown), "the loss says what is differentiated"
    share = dataset(chart(charts(at), "Each step's share of dL/d(bias_hh_l0)"), "norm", "sum")
    close(series(share, "norm", T), np.linalg.norm(every.shares["bias_hh_l0"].reshape(T, -1), axis=1), "shares, every step")


@pytest.mark.parametrize("name", ["rnn_relu", "lstm"])
def test_jacobian_and_flow_charts_match_torch(name):
    config = {**CASES[name], "N": 1, "T": 5}
    L = lesson(config)
    at = render(config, t=2)
    frames = charts(at)
    T = config["T"]
    J = dataset(chart(frames, "‖∂h_t/∂h_{t−1}‖₂"), "path", "value")
    h_path = J[J["path"].str.startswith("h path")]
    close(series(h_path, "value", T), jacobian_norms(L, 0, 0), "‖∂h_t/∂h_{t-1}‖₂", rtol=1e-4)
    if config["cell"] == "LSTM":
        c_path = J[J["path"].str.startswith("c path")]
        close(series(c_path, "value", T), L.ref.q("f_t")[:, 0].max(axis=1), "c path: ∂c_t/∂c_{t-1} = diag(f_t), norm max f_t")
    flow = dataset(chart(frames, "Flow"), "row0", "s0", "value")
    expected = flow_rows(L.module, L.head, L.X)
    shown = np.zeros((T, T))
    shown[flow["row0"].to_numpy(), flow["s0"].to_numpy()] = flow["value"].to_numpy()
    close(shown, expected, "flow[t, s] = ‖∂L_t/∂h_s‖")
    assert (np.triu(shown, 1) == 0).all(), "nothing after t"


def test_the_slide_shows_the_heatmap_and_the_equation():
    at = new_app(present=True)
    at.run()
    at.session_state["view_present"] = "Backward"
    at.run()
    clean(at)
    (title,) = charts(at)
    assert title.startswith("dL/dh_t over time"), title
    L = lesson({})
    ref = torch_reference(L.module, L.head, L.X, None)
    (dh,) = labelled(at)[r"\partial L/\partial h_{0}"]
    assert_vector(dh, ref.q[(0, 0)]["dh_t"][0, 0], "the slide's dL/dh_0")
    assert any("= autograd ✓" in m.value for m in at.markdown)


# -- the chart builders alone ---------------------------------------------------------------------


def test_regions_and_greying_follow_the_walk():
    norms = np.array([1e-9, 1e-5, 1e-2, 0.5, 1.0])
    ref, low, high = grad_charts.regions(norms, fed=0.5)
    assert (ref, low, high) == (0.5, 1e-3, 500.0)
    spec = grad_charts.grad_norm_chart(norms, 3, fed=0.5).to_dict()
    layers = spec["layer"]
    statuses = [d for ds in spec["datasets"].values() for d in ds if "status" in d]
    assert [d["status"] for d in sorted(statuses, key=lambda d: d["t0"])] == ["vanishing", "vanishing", "in range", "in range", "in range"]
    text = json.dumps(layers)
    assert "datum.t < 3" in text, "forward in time: the steps before t are not reached yet"
    assert "datum.t > 3" in json.dumps(grad_charts.grad_norm_chart(norms, 3, fed=0.5, reverse=True).to_dict())


def test_a_pass_that_reached_every_step_says_nothing_is_greyed():
    """At its last step (t = 0 forward, t = T-1 reverse) the backward pass has reached every step:
    the caption says so, rather than naming the empty set ("t < 0")."""
    norms = np.array([1e-3, 1e-2, 0.5, 1.0])

    def subtitle(t: int, reverse: bool) -> str:
        return json.dumps(grad_charts.grad_norm_chart(norms, t, fed=0.5, reverse=reverse).to_dict()["title"])

    for t, reverse in ((0, False), (3, True)):
        assert "nothing greyed" in subtitle(t, reverse) and "t < 0" not in subtitle(t, reverse), (t, reverse)
    assert "(t < 2)" in subtitle(2, False) and "(t > 1)" in subtitle(1, True)


def test_builders_survive_zeros_and_overflow():
    with alt.data_transformers.disable_max_rows():
        dh = np.zeros((4, 3))
        dh[2] = [np.inf, 1.0, -1.0]
        grad_charts.backward_heatmap(dh, 1).to_dict()
        grad_charts.grad_norm_chart(np.array([0.0, 0.0, 1.0, np.inf]), 0, fed=1.0).to_dict()
        grad_charts.jacobian_chart(np.array([0.0, 0.5, 2.0, 1.0]), 2, c_path=np.array([0.9, 0.9, 0.9, 0.9])).to_dict()
        grad_charts.contributions_chart(np.ones(4), -np.ones(4), 3, name="head.bias", total=2.0, reverse=None).to_dict()
        flow = np.tril(np.ones((4, 4)))
        grad_charts.flow_chart(flow, 3).to_dict()
    with pytest.raises(ValueError, match="square"):
        grad_charts.flow_chart(np.ones((3, 4)), 0)
