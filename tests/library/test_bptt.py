"""rnntrace.backprop against torch autograd, over the whole option space (hypothesis).

Torch is the oracle twice over:
- the module's own fused forward and autograd give every ``.grad`` (parameters, head, x,
  h0, c0) of ``L = Σ output ⊙ grad_output`` (y's with a head);
- a per-step replay in torch ops from the module's parameters (torch docs' equations,
  checked here against the module's output) with ``retain_grad()`` on every h_t, c_t,
  gate pre-activation and layer input gives dL/dh_t, dL/dc_t, the gate gradients and
  dx_t; each step uses its own clone of every weight, so the clone's ``.grad`` is that
  step's contribution to the weight's gradient.

Agreement: ``|ours - torch| <= atol + rtol * max|torch|``, 1e-10/1e-9 for float64 and
1e-5/1e-4 for float32 (``bptt.TOLERANCES``), on the default (non-expanding) initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from cases import MODES, OptionCase
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from rnntrace.bptt import TOLERANCES, backprop, validate_grads
from rnntrace.records import FRAME_COLUMNS

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")

GATES = {"RNN": (), "GRU": ("r", "z", "n"), "LSTM": ("i", "f", "g", "o")}


def close(ours, ref, dtype, what: str) -> None:
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else ref
    atol, rtol = TOLERANCES[str(dtype).removeprefix("torch.")]
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != torch's {ref.shape}"
    diff = float(np.abs(ours - ref).max(initial=0.0))
    bound = atol + rtol * float(np.abs(ref).max(initial=0.0))
    assert diff <= bound, f"{what}: max |ours - torch| = {diff:.3g} > {bound:.3g}"


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case(OptionCase):
    grad_output: str  # "default", "tensor", "ndarray"

    def build(self):
        """-> module, head, x (caller's layout), h0 argument, h0/c0 as (L*dirs, N, ·), grad_output argument, go (T, N, ·)."""
        module, head = self.module_and_head()
        module.eval()
        g = torch.Generator().manual_seed(self.seed)
        x_tnd, h0, c0 = self.tensors(g)
        units = self.K if head is not None else self.dirs * self.h_out
        if self.grad_output == "default":
            go = torch.zeros(self.T, self.N, units, dtype=self.dtype)
            go[-1] = 1
        else:
            go = torch.randn(self.T, self.N, units, generator=g, dtype=self.dtype)
        x = self.layout(x_tnd)
        state = None
        if self.with_h0:
            state = self.state_arg(h0, c0)
        else:
            h0, c0 = torch.zeros_like(h0), None if c0 is None else torch.zeros_like(c0)
        go_arg = {"default": None, "tensor": self.layout(go), "ndarray": self.layout(go).numpy()}[self.grad_output]
        return module, head, x, state, h0, c0, go_arg, go


@st.composite
def cases(draw, mode: str | None = None, dtype: torch.dtype | None = None) -> Case:
    mode = mode or draw(st.sampled_from(list(MODES)))
    H = draw(st.integers(1, 5))
    unbatched = draw(st.booleans())
    return Case(
        mode=mode,
        num_layers=draw(st.integers(1, 2)),
        bias=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bidirectional=draw(st.booleans()),
        dtype=dtype or draw(st.sampled_from([torch.float64, torch.float64, torch.float64, torch.float32])),
        D=draw(st.integers(1, 4)),
        H=H,
        proj_size=draw(st.integers(0, H - 1)) if mode == "LSTM" else 0,
        T=draw(st.integers(1, 5)),
        N=1 if unbatched else draw(st.integers(1, 3)),
        unbatched=unbatched,
        with_h0=draw(st.booleans()),
        head=draw(st.sampled_from([None, "bias", "no-bias"])),
        K=draw(st.integers(1, 3)),
        grad_output=draw(st.sampled_from(["default", "tensor", "ndarray"])),
        x_as_ndarray=draw(st.booleans()),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


# --------------------------------------------------------------------------- oracles


def torch_autograd(case: Case, module, head, x, h0, c0, go) -> dict[str, np.ndarray]:
    """torch's ``.grad`` of everything, from the module's fused forward."""
    xr = x.detach().clone().requires_grad_(True)
    states = [s.detach().clone().requires_grad_(True) for s in (h0, c0) if s is not None]
    call = [s[:, 0] if case.unbatched else s for s in states]
    out, _ = module(xr, tuple(call) if case.cell == "LSTM" else call[0])
    top = out if head is None else head(out)
    (top * case.layout(go)).sum().backward()
    grads = {k: p.grad.numpy().copy() for k, p in module.named_parameters()}  # copies: the replay below accumulates into .grad
    if head is not None:
        grads |= {f"head.{k}": p.grad.numpy().copy() for k, p in head.named_parameters()}
    grads["x"] = xr.grad.numpy()
    for name, s in zip(("h0", "c0"), states, strict=False):
        grads[name] = s.grad[:, 0].numpy() if case.unbatched else s.grad.numpy()
    return grads


def torch_cell(cell: str, nonlinearity: str, W: dict, x_t, h, c):
    """One step of the torch docs' equations in torch ops -> h_t, c_t, {gate: pre-activation}."""
    a_in = F.linear(x_t, W["weight_ih"], W.get("bias_ih"))
    a_hid = F.linear(h, W["weight_hh"], W.get("bias_hh"))
    if cell == "RNN":
        pre = a_in + a_hid
        return (torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)), None, {"pre": pre}
    if cell == "GRU":
        i_r, i_z, i_n = a_in.chunk(3, dim=-1)
        h_r, h_z, h_n = a_hid.chunk(3, dim=-1)
        a_r, a_z = i_r + h_r, i_z + h_z
        r, z = torch.sigmoid(a_r), torch.sigmoid(a_z)
        a_n = i_n + r * h_n  # b_hn inside r * (...)
        n = torch.tanh(a_n)
        return (1 - z) * n + z * h, None, {"r": a_r, "z": a_z, "n": a_n}
    a_i, a_f, a_g, a_o = (a_in + a_hid).chunk(4, dim=-1)
    c = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
    h = torch.sigmoid(a_o) * torch.tanh(c)
    if "weight_hr" in W:
        h = F.linear(h, W["weight_hr"])
    return h, c, {"i": a_i, "f": a_f, "g": a_g, "o": a_o}


def torch_replay(module, head, x_tnd, h0, c0):
    """Step-by-step forward in torch ops with a fresh clone of every weight at every step.

    Returns (top (T, N, ·), record): record[(layer, d)] holds per-t lists "h", "c", "pre",
    "W" (the clones), "x" (layer inputs), "h_prev", "c_prev"; record["in"][layer] is the
    layer's input (T, N, D_l) and record["head"] the head's per-t clones.
    """
    P = dict(module.named_parameters())
    cell, T = module.mode.split("_")[0], x_tnd.shape[0]
    dirs = 2 if module.bidirectional else 1
    rec = {"in": {}}
    layer_in = x_tnd
    for layer in range(module.num_layers):
        layer_in.retain_grad() if layer_in.grad_fn is not None else None
        rec["in"][layer] = layer_in
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            kinds = [k.removesuffix(sfx) for k in P if k.endswith(sfx)]
            r = rec[(layer, d)] = {k: [None] * T for k in ("h", "c", "pre", "W", "x", "h_prev", "c_prev")}
            h, c = h0[layer * dirs + d], None if c0 is None else c0[layer * dirs + d]
            for t in range(T) if d == 0 else range(T - 1, -1, -1):
                W = {k: P[k + sfx].clone() for k in kinds}
                for w in W.values():
                    w.retain_grad()
                r["h_prev"][t], r["c_prev"][t], r["x"][t] = h, c, layer_in[t]
                h, c, pre = torch_cell(cell, getattr(module, "nonlinearity", None), W, layer_in[t], h, c)
                for v in (h, c, *pre.values()):
                    if v is not None:
                        v.retain_grad()
                r["h"][t], r["c"][t], r["pre"][t], r["W"][t] = h, c, pre, W
            outs.append(torch.stack(r["h"]))
        layer_in = torch.cat(outs, dim=-1)  # (T, N, dirs*H_out)
    if head is None:
        return layer_in, rec
    rec["head"] = [{k: p.clone() for k, p in head.named_parameters()} for _ in range(T)]
    for hp in rec["head"]:
        for p in hp.values():
            p.retain_grad()
    y = torch.stack([F.linear(layer_in[t], hp["weight"], hp.get("bias")) for t, hp in enumerate(rec["head"])])
    return y, rec


def stepped(lst) -> np.ndarray:
    return torch.stack([v.grad for v in lst]).numpy()


# --------------------------------------------------------------------------- every gradient, every option


@pytest.mark.parametrize("mode", list(MODES))
@given(data=st.data())
def test_grads_and_quantities_match_torch(mode: str, data):
    case = data.draw(cases(mode), label="case")
    module, head, x, state, h0, c0, go_arg, go = case.build()
    bp = backprop(module, x.numpy() if case.x_as_ndarray else x, head=head, h0=state, grad_output=go_arg)
    dt = case.dtype

    # torch's .grad of every parameter, the head, x, h0 and c0
    ref = torch_autograd(case, module, head, x, h0, c0, go)
    assert list(bp.grads) == list(ref), "names and order: named_parameters(), head, x, h0, c0"
    for name, g in ref.items():
        close(bp.grads[name], g, dt, name)
    close(bp.grad_output, case.layout(go).numpy(), dt, "grad_output")

    # the per-step replay: dh_t, dc_t, gate gradients, dx_t, contributions
    x_tnd = case.unlayout(x).detach().clone().requires_grad_(True)
    h0r, c0r = h0.detach().clone().requires_grad_(True), None if c0 is None else c0.detach().clone().requires_grad_(True)
    top, rec = torch_replay(module, head, x_tnd, h0r, c0r)
    close(case.unlayout(bp.trace.y if head is not None else bp.trace.output), top.detach().numpy(), dt, "replay's forward")
    (top * go).sum().backward()
    close(case.unlayout(bp.grads["x"]), x_tnd.grad.numpy(), dt, "x via replay")
    for layer in range(case.num_layers):
        dx = sum(bp.quantity("dx_t", layer, d) for d in range(case.dirs))
        ref_in = rec["in"][layer].grad
        close(dx, ref_in.numpy(), dt, f"Σ_d dx_t layer {layer}")
        for d in range(case.dirs):
            r = rec[(layer, d)]
            close(bp.quantity("dh_t", layer, d), stepped(r["h"]), dt, f"dh_t {layer},{d}")
            if case.cell == "LSTM":
                close(bp.quantity("dc_t", layer, d), stepped(r["c"]), dt, f"dc_t {layer},{d}")
            for gate in GATES[case.cell] or ("pre",):
                ref_g = stepped([p[gate] for p in r["pre"]])
                close(bp.quantity(f"d_{gate}", layer, d), ref_g, dt, f"d_{gate} {layer},{d}")
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            for kind in r["W"][0]:
                contrib = bp.contributions(kind + sfx)
                close(contrib, torch.stack([W[kind].grad for W in r["W"]]).numpy(), dt, f"contributions {kind + sfx}")
                close(contrib.sum(axis=0), ref[kind + sfx], dt, f"Σ contributions {kind + sfx}")
    if head is not None:
        for kind in rec["head"][0]:
            close(bp.contributions(f"head.{kind}"), torch.stack([hp[kind].grad for hp in rec["head"]]).numpy(), dt, f"head.{kind}")


@given(case=cases(dtype=torch.float64))
def test_validate_grads_agrees(case: Case):
    module, head, x, state, *_, go_arg, _ = case.build()
    v = validate_grads(module, x, head=head, h0=state, grad_output=go_arg)
    assert v.ok, (v.worst, v.diffs, v.bounds)
    assert v.max_abs_diff == max(v.diffs.values())
    assert set(v.diffs) == set(v.backprop.grads) == set(v.torch_grads)
    assert all(p.grad is None for p in module.parameters()), "validate_grads leaves the module's .grad alone"


def test_validate_grads_float32_longer_sequence():
    torch.manual_seed(1)
    for module in (nn.RNN(4, 16), nn.GRU(4, 16), nn.LSTM(4, 16, proj_size=8)):
        v = validate_grads(module, torch.randn(50, 2, 4), grad_output=None)
        assert v.ok and v.atol == 1e-5 and v.rtol == 1e-4, (v.worst, v.diffs)


# --------------------------------------------------------------------------- flow, Jacobians


def flow_case(
    mode, num_layers, bias, batch_first, bidirectional, dtype, D, H, proj_size, T, N, unbatched, with_h0, head, K, grad_output, seed
):
    """A fixed case for the flow tests, its options in one row (x passed as a tensor)."""
    return Case(**locals(), x_as_ndarray=False)


FLOW_CASES = [  # mode, layers, bias, batch_first, bidirectional, dtype, D, H, proj_size, T, N, unbatched, with_h0, head, K, grad_output
    flow_case("RNN_TANH", 1, True, False, False, torch.float64, 3, 4, 0, 6, 2, False, True, None, 1, "tensor", seed=1),
    flow_case("RNN_RELU", 2, True, True, False, torch.float64, 3, 4, 0, 5, 1, False, False, "bias", 2, "tensor", seed=2),
    flow_case("GRU", 2, False, False, True, torch.float64, 2, 3, 0, 5, 2, False, True, None, 1, "ndarray", seed=3),
    flow_case("LSTM", 1, True, False, True, torch.float64, 2, 4, 2, 6, 2, False, True, "no-bias", 3, "tensor", seed=4),
    flow_case("LSTM", 2, True, True, False, torch.float64, 3, 3, 0, 4, 1, True, True, None, 1, "default", seed=5),
]


@pytest.mark.parametrize("case", FLOW_CASES, ids=lambda c: f"{c.mode}-L{c.num_layers}-bi{int(c.bidirectional)}")
def test_flow_is_norm_of_each_steps_loss_gradient(case: Case):
    """flow[t, s] = ‖∂L_t/∂h_s‖ for the top layer's forward h_s, from torch.autograd.grad per L_t."""
    module, head, x, state, h0, c0, go_arg, go = case.build()
    bp = backprop(module, x, head=head, h0=state, grad_output=go_arg)
    top, rec = torch_replay(module, head, case.unlayout(x), h0, c0)
    hs = rec[(case.num_layers - 1, 0)]["h"]
    T = case.T
    ref = np.zeros((T, T))
    for t in range(T):
        L_t = (top[t] * go[t]).sum()
        grads = torch.autograd.grad(L_t, hs[: t + 1], retain_graph=True, allow_unused=True)
        ref[t, : t + 1] = [0.0 if g is None else float(g.norm()) for g in grads]
    assert bp.flow.shape == (T, T)
    assert np.all(np.triu(bp.flow, k=1) == 0), "zero above the diagonal: h_s comes after output_t"
    np.testing.assert_allclose(bp.flow, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", FLOW_CASES, ids=lambda c: f"{c.mode}-L{c.num_layers}-bi{int(c.bidirectional)}")
def test_jacobian_norms_match_torch_jacobian(case: Case):
    """‖∂h_t/∂h_{t-1}‖₂ of the whole batch (c_{t-1} fixed), from torch.autograd.functional.jacobian."""
    module, head, x, state, h0, c0, go_arg, _ = case.build()
    bp = backprop(module, x, head=head, h0=state, grad_output=go_arg)
    _, rec = torch_replay(module, head, case.unlayout(x), h0, c0)
    cell = case.cell
    for layer in range(case.num_layers):
        for d in range(case.dirs):
            r = rec[(layer, d)]
            ref = []
            for t in range(case.T):
                W = {k: v.detach() for k, v in r["W"][t].items()}

                def h_t(h, t=t, W=W, r=r):
                    c_prev = None if r["c_prev"][t] is None else r["c_prev"][t].detach()  # held fixed
                    return torch_cell(cell, getattr(module, "nonlinearity", None), W, r["x"][t].detach(), h, c_prev)[0]

                J = torch.autograd.functional.jacobian(h_t, r["h_prev"][t].detach())  # (N, H_out, N, H_out)
                n = case.N * case.h_out
                ref.append(float(torch.linalg.matrix_norm(J.reshape(n, n), ord=2)))
            np.testing.assert_allclose(bp.jacobian_norms(layer, d), ref, rtol=1e-9, err_msg=f"layer {layer}, direction {d}")


# --------------------------------------------------------------------------- defaults, frames, errors


def test_default_grad_output_is_ones_at_the_last_step():
    torch.manual_seed(0)
    module = nn.GRU(3, 4, batch_first=True, dtype=torch.float64)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    bp = backprop(module, x)
    out, _ = module(x)
    out[:, -1].sum().backward()
    expected = np.zeros((2, 5, 4))
    expected[:, -1] = 1
    np.testing.assert_array_equal(bp.grad_output, expected)
    np.testing.assert_allclose(bp.grads["weight_hh_l0"], module.weight_hh_l0.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert bp.loss == pytest.approx(float(out[:, -1].sum().detach()))


def test_to_frame_is_tidy_and_matches_quantities():
    torch.manual_seed(0)
    bp = backprop(nn.LSTM(2, 3, num_layers=2, bidirectional=True), torch.randn(4, 2, 2))
    frame = bp.to_frame()
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert {c: str(t) for c, t in frame.dtypes.items()} == FRAME_COLUMNS
    assert set(frame["quantity"]) == {"dh_t", "dc_t", "d_i", "d_f", "d_g", "d_o", "dx_t"}
    assert len(frame) == sum(bp.quantity(q, layer, d).size for q in set(frame["quantity"]) for layer in (0, 1) for d in (0, 1))
    row = frame.query("layer == 1 and direction == 1 and t == 2 and sample == 1 and quantity == 'd_f' and unit == 2")
    assert row["value"].item() == pytest.approx(float(bp.quantity("d_f", 1, 1)[2, 1, 2]))
    rnn = backprop(nn.RNN(2, 3), torch.randn(4, 2))
    assert set(rnn.to_frame()["quantity"]) == {"dh_t", "d_pre", "dx_t"}
    empty = rnn.to_frame(quantities=())
    assert isinstance(empty, pd.DataFrame) and empty.empty and {c: str(t) for c, t in empty.dtypes.items()} == FRAME_COLUMNS


@pytest.mark.parametrize(
    ("module", "x", "head", "shape", "expected"),
    [
        (nn.RNN(3, 4), (5, 2, 3), None, (5, 2, 3), "(5, 2, 4)"),
        (nn.GRU(3, 4, batch_first=True), (2, 5, 3), None, (5, 2, 4), "(2, 5, 4)"),  # time-major given for batch_first
        (nn.LSTM(3, 4, bidirectional=True), (5, 3), None, (5, 4), "(5, 8)"),  # unbatched, both directions
        (nn.RNN(3, 4), (5, 2, 3), nn.Linear(4, 2), (5, 2, 4), "(5, 2, 2)"),  # with a head: dL/dy
    ],
)
def test_bad_grad_output_shape_names_the_expected_one(module, x, head, shape, expected):
    with pytest.raises(ValueError, match=r"grad_output has shape .*expected " + expected.replace("(", r"\(").replace(")", r"\)")):
        backprop(module, torch.randn(*x), head=head, grad_output=torch.ones(shape))


def test_bad_grad_output_type_and_values():
    module, x = nn.RNN(3, 4), torch.randn(5, 3)
    with pytest.raises(TypeError, match=r"grad_output must be a torch\.Tensor or a numpy\.ndarray"):
        backprop(module, x, grad_output=[[1.0] * 4] * 5)
    with pytest.raises(ValueError, match="NaN or infinite"):
        backprop(module, x, grad_output=np.full((5, 4), np.nan))
    bp = backprop(module, x, grad_output=np.ones((5, 4)))  # float64 for a float32 module: converted
    assert bp.grads["weight_hh_l0"].dtype == np.float32


def test_bad_names():
    bp = backprop(nn.GRU(3, 4), torch.randn(5, 3))
    with pytest.raises(ValueError, match="available: dh_t, d_pre, d_r, d_z, d_n, dx_t"):
        bp.quantity("dc_t")
    with pytest.raises(ValueError, match="no layer 1, direction 0"):
        bp.quantity("dh_t", layer=1)
    with pytest.raises(ValueError, match="no layer 0, direction 1"):
        bp.jacobian_norms(0, 1)
    with pytest.raises(ValueError, match="contributions\\(\\) takes: weight_ih_l0"):
        bp.contributions("x")
