"""Truncated backprop through time: ``backprop(..., truncate=k)`` is what a training loop that detaches h every k steps computes.

The oracle is that loop in torch: the sequence in chunks of k steps, ``h = h.detach()`` (and c)
between chunks, the losses of every chunk summed, one ``.backward()``. float64, the tolerance of
the other gradient tests.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnntrace

ATOL, RTOL = 1e-10, 1e-9


def detach_loop_grads(module, head, x, h0, k: int, grad_y) -> dict[str, np.ndarray]:
    """torch's gradients when h (and c) are detached every k steps: .grad of every parameter, x and h0."""
    module.zero_grad()
    head.zero_grad()
    x = x.clone().requires_grad_(True)
    h0 = tuple(h.clone().requires_grad_(True) for h in h0)
    state = h0 if isinstance(module, torch.nn.LSTM) else h0[0]
    loss = 0.0
    for start in range(0, x.shape[1], k):
        out, state = module(x[:, start : start + k], state)
        loss = loss + (head(out) * grad_y[:, start : start + k]).sum()
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()  # the chunk boundary
    loss.backward()
    grads = {name: p.grad.numpy() for name, p in module.named_parameters()}
    grads |= {"x": x.grad.numpy(), "h0": h0[0].grad.numpy(), "head.weight": head.weight.grad.numpy()}
    if len(h0) == 2:
        grads["c0"] = h0[1].grad.numpy()
    return grads


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("k", [1, 3, 4])
def test_truncate_equals_autograd_on_a_detach_loop(cell, k):
    torch.manual_seed(7)
    module = getattr(torch.nn, cell)(3, 4, num_layers=2, batch_first=True, dtype=torch.float64)
    head = torch.nn.Linear(4, 2, dtype=torch.float64)
    N, T = 2, 10
    x = torch.randn(N, T, 3, dtype=torch.float64)
    h0 = (torch.randn(2, N, 4, dtype=torch.float64),) + ((torch.randn(2, N, 4, dtype=torch.float64),) if cell == "LSTM" else ())
    grad_y = torch.randn(N, T, 2, dtype=torch.float64)  # a loss on every step, as a language model's
    ref = detach_loop_grads(module, head, x, h0, k, grad_y)
    bp = rnntrace.backprop(module, x, h0=h0 if cell == "LSTM" else h0[0], head=head, grad_output=grad_y, truncate=k)
    for name, expected in ref.items():
        got = bp.grads[name]
        bound = ATOL + RTOL * np.abs(expected).max()
        assert np.abs(got - expected).max() <= bound, f"{cell} k={k} {name}: off by {np.abs(got - expected).max():.2e}"
    full = rnntrace.backprop(module, x, h0=h0 if cell == "LSTM" else h0[0], head=head, grad_output=grad_y)
    if k < T:  # the cut changes the recurrent weight's gradient: the test compares two different graphs
        assert np.abs(full.grads["weight_hh_l0"] - bp.grads["weight_hh_l0"]).max() > 1e-6


def test_truncate_at_or_past_T_is_the_full_graph_and_bad_values_are_refused():
    torch.manual_seed(1)
    module = torch.nn.GRU(3, 4, batch_first=True, dtype=torch.float64)
    x = torch.randn(1, 6, 3, dtype=torch.float64)
    full, cut = rnntrace.backprop(module, x), rnntrace.backprop(module, x, truncate=6)
    np.testing.assert_array_equal(full.grads["weight_hh_l0"], cut.grads["weight_hh_l0"])
    for bad in (0, -2, 1.5, True, "3"):
        with pytest.raises(ValueError, match="expected an int k >= 1"):
            rnntrace.backprop(module, x, truncate=bad)
    both = torch.nn.GRU(3, 4, batch_first=True, bidirectional=True, dtype=torch.float64)
    with pytest.raises(ValueError, match="one-direction layer"):
        rnntrace.backprop(both, x, truncate=2)
