"""The flow matrix of a float32 run keeps gradients too small to square in float32.

``Backprop.flow[t, s] = ‖∂L_t/∂h_s‖``. A contracting float32 RNN makes ∂L_t/∂h_s fall below 1e-19
within a few dozen steps; squared in float32 (as the norm's sum was) it became exactly 0, and the
Backward view's flow matrix left those cells blank, which reads "L_t never reaches h_s". torch is
the oracle: autograd of each L_t with respect to every h_s of the same float32 module.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rnntrace import backprop

T, D, H, K = 80, 3, 5, 2


def test_float32_flow_equals_torch_where_the_gradient_is_tiny():
    torch.manual_seed(0)
    rnn, fc = nn.RNN(D, H), nn.Linear(H, K)
    with torch.no_grad():
        rnn.weight_hh_l0.mul_(0.7)  # contracting: ∂L_t/∂h_s falls to ~1e-35 over the run, still a normal float32
    x = torch.randn(T, 1, D)
    bp = backprop(rnn, x, head=fc, grad_output=np.ones((T, 1, K), np.float32))

    h, hs, ys = torch.zeros(1, 1, H), [], []
    for t in range(T):  # step by step, so every h_s is a node autograd can differentiate with respect to
        h, _ = rnn(x[t : t + 1], h)  # one layer, one step: the output is h_t, (1, 1, H), fed back as h
        hs.append(h)
        ys.append(fc(h[0]))
    ref = np.zeros((T, T))
    for t in range(T):
        grads = torch.autograd.grad(ys[t].sum(), hs[: t + 1], retain_graph=True)  # L_t = Σ_k y_t[k] (grad_output ones)
        ref[t, : t + 1] = [float(g.double().norm()) for g in grads]

    tiny = ref[np.tril_indices(T)]
    assert tiny.min() > 0 and tiny.min() < 1e-25, f"the case must reach below float32's squarable range: min {tiny.min():.1e}"
    assert np.all(bp.flow[np.tril_indices(T)] > 0), "every s <= t is reached by L_t: no cell may read 0"
    np.testing.assert_allclose(bp.flow, ref, rtol=1e-4, atol=0)
