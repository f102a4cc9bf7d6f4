"""``validate`` on growing and exploding recurrences: per-step tolerances and the overflow report.

Torch is the oracle: the exploding runs overflow in torch's own forward (checked here
directly), and the per-step bound is atol + rtol * max|torch at t|.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import rnntrace


def exploding_rnn(H: int = 6, gain: float = 30.0, dtype=torch.float32, layers: int = 1, bidirectional: bool = False) -> nn.RNN:
    """relu with W_hh = gain * I: h_t grows like gain^t until it overflows."""
    module = nn.RNN(2, H, nonlinearity="relu", num_layers=layers, bidirectional=bidirectional, dtype=dtype)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("weight_hh"):
                p.copy_(gain * torch.eye(H, dtype=dtype))
            elif name.startswith("bias"):
                p.fill_(0.1)
            else:
                p.fill_(0.1)
    return module


def first_nonfinite_t(a: np.ndarray) -> int:
    """The first t (axis 0) holding inf or NaN."""
    bad = ~np.isfinite(a).reshape(a.shape[0], -1).all(axis=1)
    return int(np.flatnonzero(bad)[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_overflow_is_reported_where_torch_overflows(dtype):
    module = exploding_rnn(dtype=dtype)
    x = torch.ones(300 if dtype == torch.float64 else 40, 1, 2, dtype=dtype)
    with torch.no_grad():
        out, _ = module(x)
    t_torch = first_nonfinite_t(out.numpy())  # torch's own forward leaves float range here

    v = rnntrace.validate(module, x)
    assert v.overflow is not None
    assert (v.overflow.t, v.overflow.layer, v.overflow.direction) == (t_torch, 0, 0)
    assert v.overflow.in_torch and v.overflow.in_replay
    assert v.message.startswith(f"overflowed at t={t_torch} (layer 0, direction 0) in both torch and the replay")
    assert "nan" not in v.message.lower() and "DISAGREES" not in v.message
    assert v.ok, v.message  # before the overflow every step agrees; after it both are non-finite
    assert np.isfinite(v.per_step).all() and np.isfinite(v.tolerance) and np.isfinite(v.max_abs_diff)
    assert (v.per_step[:t_torch] <= v.tolerances[:t_torch]).all()


def test_overflow_in_a_stacked_bidirectional_module_is_found_in_its_first_layer():
    module = exploding_rnn(layers=2, bidirectional=True)
    x = torch.ones(40, 2, dtype=torch.float32)
    v = rnntrace.validate(module, x)
    with torch.no_grad():
        out, _ = module(x)
    # layer 0's forward overflows first: at the same t as a one-layer module with its weights
    one = exploding_rnn()
    with torch.no_grad():
        t0 = first_nonfinite_t(one(x)[0].numpy())
    assert (v.overflow.layer, v.overflow.direction, v.overflow.t) == (0, 0, t0)
    assert not np.isfinite(out.numpy()).all()


def test_overflow_in_the_replay_only_is_not_ok(corrupt_rnn_h):
    module = exploding_rnn(gain=1.0)  # stays finite in torch
    x = torch.ones(10, 2)
    assert rnntrace.validate(module, x).overflow is None
    corrupt_rnn_h(slice(4, None), by=np.inf)  # h_t = inf from t = 4 on, in the replay only
    v = rnntrace.validate(module, x)
    assert not v.ok
    assert (v.overflow.t, v.overflow.in_replay, v.overflow.in_torch) == (4, True, False)
    assert v.message.startswith("overflowed at t=4 (layer 0, direction 0) in the replay only")
    assert v.max_abs_diff == np.inf and v.per_step[4] == np.inf and (v.per_step[:4] <= v.tolerances[:4]).all()


def test_per_step_tolerance_catches_an_early_error_a_global_bound_hides(corrupt_rnn_h):
    """A growing run (x30 per step, finite): an error of 1e-3 at t = 1 is tiny next to the
    last step's magnitude, but 1000 times that step's own tolerance."""
    module = exploding_rnn(gain=30.0)
    x = torch.ones(8, 2)
    with torch.no_grad():
        out, _ = module(x)
    mags = np.abs(out.numpy()).max(axis=1)  # (T,): max|torch at t|
    assert np.isfinite(mags).all() and mags[-1] > 1e9
    ok = rnntrace.validate(module, x)
    assert ok.ok, ok.message
    np.testing.assert_allclose(ok.tolerances, 1e-5 + 1e-5 * mags, rtol=1e-6)
    assert ok.tolerance == pytest.approx(max(ok.tolerances.max(), 1e-5 + 1e-5 * mags[-1]))

    corrupt_rnn_h(1)
    v = rnntrace.validate(module, x)
    assert v.per_step[1] < 1e-5 + 1e-5 * mags.max()  # within the old global bound...
    assert not v.ok  # ...but not within step 1's
    assert v.message.startswith("DISAGREES with torch from t=1")
    assert v.overflow is None


@given(gain=st.floats(0.2, 40.0), T=st.integers(2, 60), H=st.integers(1, 5))
def test_any_gain_agrees_or_reports_the_overflow(gain, T, H):
    """Over contracting, growing and exploding relu runs: ok, and an overflow exactly when torch overflows."""
    module = exploding_rnn(H=H, gain=gain)
    x = torch.ones(T, 1, 2)
    with torch.no_grad():
        out, _ = module(x)
    finite = np.isfinite(out.numpy()).all()
    v = rnntrace.validate(module, x)
    assert v.ok, v.message
    assert (v.overflow is None) == finite
    if not finite:
        assert v.overflow.t == first_nonfinite_t(out.numpy()) and v.overflow.in_torch
    assert v.tolerances.shape == v.per_step.shape == (T,)


def test_tolerance_is_the_largest_step_bound_on_ordinary_runs():
    module = nn.LSTM(3, 5, num_layers=2)
    x = torch.randn(20, 2, 3)
    v = rnntrace.validate(module, x, head=nn.Linear(5, 2))
    assert v.ok and v.overflow is None
    assert v.tolerance >= v.tolerances.max()
    assert v.message.startswith("agrees with torch")
    # the bound at each t is built from torch's magnitudes at that t (every layer's h_t, y_t)
    mags = np.max([np.abs(layer).max(axis=(1, 2)) for layer in v.torch_layers], axis=0)
    mags = np.maximum(mags, np.abs(v.torch_y).max(axis=(1, 2)))
    np.testing.assert_allclose(v.tolerances, 1e-5 + 1e-5 * mags, rtol=1e-6)
