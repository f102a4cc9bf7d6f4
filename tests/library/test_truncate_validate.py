"""``validate_grads(..., truncate=k)`` and ``Backprop.flow`` with a cut, against torch's detach loop.

The oracle is written here, apart from rnntrace: the training loop of a language model, the
sequence in chunks of k steps with ``h = h.detach()`` (and c) between them, the chunks'
losses summed, one ``.backward()``. For the flow matrix the loop is unrolled with torch's
``RNNCell`` / ``GRUCell`` / ``LSTMCell`` (the layer's weights copied in), so that each h_s
is one tensor on the graph and ``torch.autograd.grad(L_t, h_s)`` is ‖∂L_t/∂h_s‖.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnntrace
from rnntrace.bptt import TOLERANCES, torch_grads
from rnntrace.prepare import prepare


def detach_loop(module, head, x, k: int, grad_y) -> dict[str, np.ndarray]:
    """.grad of every parameter, x and the head's weight after the chunked loop's one backward (h0 = 0)."""
    module.zero_grad()
    head.zero_grad()
    x = x.clone().requires_grad_(True)
    state, loss = None, 0.0
    for start in range(0, x.shape[1], k):
        out, state = module(x[:, start : start + k], state)
        loss = loss + (head(out) * grad_y[:, start : start + k]).sum()
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
    loss.backward()
    return {name: p.grad.numpy().copy() for name, p in module.named_parameters()} | {
        "x": x.grad.numpy().copy(),
        "head.weight": head.weight.grad.numpy().copy(),
        "head.bias": head.bias.grad.numpy().copy(),
    }


def model(cell: str, layers: int = 2, seed: int = 3):
    torch.manual_seed(seed)
    module = getattr(torch.nn, cell)(3, 4, num_layers=layers, batch_first=True, dtype=torch.float64)
    head = torch.nn.Linear(4, 2, dtype=torch.float64)
    return module, head


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_validate_grads_with_truncate_is_checked_against_the_detach_loop(cell, k):
    module, head = model(cell)
    N, T = 2, 9
    x = torch.randn(N, T, 3, dtype=torch.float64)
    grad_y = torch.randn(N, T, 2, dtype=torch.float64)
    ref = detach_loop(module, head, x, k, grad_y)
    gv = rnntrace.validate_grads(module, x, head=head, grad_output=grad_y, truncate=k)
    assert gv.ok, (gv.worst, gv.diffs[gv.worst], gv.bounds[gv.worst])
    assert gv.backprop.truncate == k
    atol, rtol = TOLERANCES["float64"]
    for name, expected in ref.items():  # the oracle validate_grads used is the loop written here
        bound = atol + rtol * np.abs(expected).max()
        assert np.abs(gv.torch_grads[name] - expected).max() <= bound, f"torch_grads {name}"
        assert np.abs(gv.backprop.grads[name] - expected).max() <= bound, f"backprop {name}"
    # the check can fail: the full graph's gradients are not the truncated loop's
    p = prepare(module, x, None, head, None)
    full = rnntrace.backprop(module, x, head=head, grad_output=grad_y)
    cut = torch_grads(p, full.grad_output, k)
    assert np.abs(full.grads["weight_hh_l0"] - cut["weight_hh_l0"]).max() > 1e3 * (atol + rtol * np.abs(cut["weight_hh_l0"]).max())


@pytest.mark.parametrize("head_on", ["last step", "final state"])
def test_truncate_with_a_once_per_sample_head(head_on):
    """A head on the last step or on the final states: only the last chunk is reached, in torch as here."""

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(3, 4, batch_first=True, dtype=torch.float64)
            self.fc = torch.nn.Linear(4, 2, dtype=torch.float64)

        def forward(self, x):
            out, h = self.rnn(x)
            return self.fc(out[:, -1] if head_on == "last step" else h[-1])

    torch.manual_seed(5)
    net, x = Net(), torch.randn(2, 7, 3, dtype=torch.float64)
    gv = rnntrace.validate_grads(net, x, truncate=3)
    assert gv.ok, gv.worst
    assert gv.backprop.config.head_on != "every step"  # one layer, one direction: h_n[-1] is output[:, -1], either reading is right
    assert np.abs(gv.backprop.grads["x"][:, :6]).max() == 0, "steps before the last chunk get no gradient"
    assert np.abs(gv.backprop.grads["x"][:, 6:]).max() > 0


def cell_flow(module, head, x, k: int | None, grad_y) -> np.ndarray:
    """(T, T) ‖∂L_t/∂h_s‖, L_t = Σ y_t ⊙ grad_y_t, with the state detached before every k-th step (torch cells)."""
    kind = type(module).__name__
    one = getattr(torch.nn, kind + "Cell")(module.input_size, module.hidden_size, dtype=torch.float64)
    one.load_state_dict({name.removesuffix("_l0"): p for name, p in module.named_parameters()})
    N, T, _ = x.shape
    h = torch.zeros(N, module.hidden_size, dtype=torch.float64)
    state = (h, h.clone()) if kind == "LSTM" else h
    hs = []
    for t in range(T):
        if k and t > 0 and t % k == 0:
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        state = one(x[:, t], state)
        hs.append(state[0] if isinstance(state, tuple) else state)
    losses = [(head(h_t) * grad_y[:, t]).sum() for t, h_t in enumerate(hs)]
    flow = np.zeros((T, T))
    for t in range(T):
        got = torch.autograd.grad(losses[t], hs[: t + 1], retain_graph=True, allow_unused=True)
        flow[t, : t + 1] = [0.0 if g is None else float(g.norm()) for g in got]
    return flow


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
def test_the_flow_matrix_is_zero_across_the_cuts_as_in_torch(cell):
    module, head = model(cell, layers=1)
    N, T, k = 2, 8, 3
    x = torch.randn(N, T, 3, dtype=torch.float64)
    grad_y = torch.randn(N, T, 2, dtype=torch.float64)
    bp = rnntrace.backprop(module, x, head=head, grad_output=grad_y, truncate=k)
    expected = cell_flow(module, head, x, k, grad_y)
    np.testing.assert_allclose(bp.flow, expected, rtol=1e-9, atol=1e-12)
    t, s = np.indices((T, T))
    across = (s // k) < (t // k)  # a cut lies between h_s and L_t
    assert (bp.flow[across] == 0).all()
    assert (bp.flow[~across & (s <= t)] > 0).all(), "inside a chunk every earlier state is reached"
    full = rnntrace.backprop(module, x, head=head, grad_output=grad_y)
    np.testing.assert_allclose(full.flow, cell_flow(module, head, x, None, grad_y), rtol=1e-9, atol=1e-12)
    assert (full.flow[across] > 0).all(), "without the cut the same cells are reached"


def test_validate_grads_refuses_what_backprop_refuses():
    module, _ = model("GRU", layers=1)
    x = torch.randn(1, 5, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="expected an int k >= 1"):
        rnntrace.validate_grads(module, x, truncate=0)
    both = torch.nn.GRU(3, 4, batch_first=True, bidirectional=True, dtype=torch.float64)
    with pytest.raises(ValueError, match="one-direction layer"):
        rnntrace.validate_grads(both, x, truncate=2)
