"""The LSTM replay at the sizes the benchmarks time, where the loops take other paths, against torch.

The small hypothesis cases of test_trace_torch.py / test_bptt.py never reach these: a batch
(N >= 4) with a W_hh of 2**18 entries or more (H = 256) computes the recurrent product the
other way round (``cells._kernels._recurrent``), and a single sample steps on 1-D rows (BLAS
gemv). The backward step writes dc_t ⊙ f_t into the carry it was handed; lengths and a truncated
graph hand it fresh arrays, and a bidirectional layer walks both directions.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import rnntrace

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")


def _lstm(D: int, H: int, seed: int, **kw) -> nn.LSTM:
    torch.manual_seed(seed)
    lstm = nn.LSTM(D, H, **kw).eval()
    with torch.no_grad():  # a non-expanding recurrence (STYLE.md: tolerances), weights shrunk as a trained model's are
        for name, p in lstm.named_parameters():
            if name.startswith("weight_hh"):
                p.mul_(0.5)
    return lstm


@pytest.mark.parametrize(
    ("N", "kw", "lengths"),
    [
        (1, {}, None),  # gemv on 1-D rows
        (5, {}, [7, 3, 7, 1, 5]),  # W_hh h_prevᵀ, padded samples held
        (4, {"num_layers": 2, "bidirectional": True}, None),
        (4, {"proj_size": 64}, [2, 7, 7, 4]),  # W_hh is (1024, 64): the gemm path again, then W_hr
    ],
)
def test_forward_and_gradients_at_H_256_equal_torch(N, kw, lengths):
    lstm = _lstm(16, 256, seed=N, **kw)
    x = torch.randn(7, N, 16)
    lengths = None if lengths is None else torch.tensor(lengths)
    v = rnntrace.validate(lstm, x, lengths=lengths)
    assert v.ok, f"forward: max |ours - torch| = {v.max_abs_diff:.2e} > {v.tolerance:.2e}"
    g = rnntrace.validate_grads(lstm, x, lengths=lengths)
    assert g.ok, f"gradients: {g}"


def test_truncated_gradients_and_flow_at_H_256_equal_torch():
    lstm = _lstm(8, 256, seed=11)
    x = torch.randn(9, 4, 8)
    g = rnntrace.validate_grads(lstm, x, truncate=4, grad_output=torch.ones(9, 4, 256))  # every step's output in the loss
    assert g.ok, f"gradients with truncate=4: {g}"
    flow = g.backprop.flow
    assert flow.shape == (9, 9)
    assert np.all(flow[8, :8] == 0) and flow[8, 8] > 0, "row 8 starts a chunk: it reaches h_8 only"
    assert np.all(flow[7, :4] == 0) and np.all(flow[7, 4:8] > 0), "row 7 reaches back to its chunk's start, t = 4"


def test_edits_at_H_256_equal_torch():
    lstm = _lstm(8, 256, seed=12)
    x = torch.randn(6, 4, 8)
    edits = [rnntrace.Edit("f_t", 1.0, t=slice(2, None)), rnntrace.Edit("h_t", 0.0, t=3, unit=slice(0, 16))]
    v = rnntrace.validate(lstm, x, edits=edits)
    assert v.ok, f"forward with edits: max |ours - torch| = {v.max_abs_diff:.2e} > {v.tolerance:.2e}"
    g = rnntrace.validate_grads(lstm, x, edits=edits)
    assert g.ok, f"gradients with edits: {g}"
