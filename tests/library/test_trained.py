"""A trained model, not just a random initialisation, replays exactly like torch.

Training moves the weights away from the init's symmetric distribution (larger recurrent
weights, saturated gates), which is where a layout or bias mix-up would show. Each test
trains a small ``SimpleRNN`` to predict sin(t + Δ) from sin(t) for a few hundred Adam
steps (well under a second each), checks that it really learned, then validates.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import rnntrace

STEPS = 200


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models train fastest on one thread; two spinning OpenMP threads on a busy 2-core
    machine made a 2-layer LSTM's training 50x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sine_batch(n: int, T: int, dtype: torch.dtype, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x = sin(t), target = sin(t + Δ) on random phases: (n, T, 1) each."""
    g = torch.Generator().manual_seed(seed)
    dt = 0.3
    phase = 2 * torch.pi * torch.rand(n, 1, generator=g, dtype=dtype)
    t = phase + dt * torch.arange(T + 1, dtype=dtype)  # (n, T+1)
    wave = torch.sin(t)[..., None]  # (n, T+1, 1)
    return wave[:, :-1], wave[:, 1:]


def train(model: rnntrace.SimpleRNN, dtype: torch.dtype) -> tuple[float, float]:
    """Adam on MSE; returns (loss before, loss after) on a held-out batch."""
    x, y = sine_batch(16, 30, dtype, seed=1)
    x_val, y_val = sine_batch(8, 30, dtype, seed=2)
    loss_fn = nn.MSELoss()
    with torch.no_grad():
        before = loss_fn(model(x_val), y_val).item()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(STEPS):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        after = loss_fn(model(x_val), y_val).item()
    return before, after


@pytest.mark.parametrize(
    ("cell", "kwargs"),
    [
        ("rnn", {}),
        ("rnn", {"nonlinearity": "relu"}),
        ("gru", {}),
        ("lstm", {}),
        ("lstm", {"num_layers": 2, "bidirectional": True}),
        ("gru", {"dtype": torch.float64}),
    ],
    ids=["rnn-tanh", "rnn-relu", "gru", "lstm", "lstm-2layer-bidirectional", "gru-float64"],
)
def test_trained_model_matches_torch(cell, kwargs):
    dtype = kwargs.get("dtype", torch.float32)
    model = rnntrace.SimpleRNN(1, 8, 1, cell, seed=0, **kwargs)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    before, after = train(model, dtype)

    assert after < 0.2 * before, f"did not train: validation loss {before:.4f} -> {after:.4f}"
    assert after < 0.05
    moved = max((model.state_dict()[k] - v).abs().max().item() for k, v in init.items())
    assert moved > 0.05, "weights barely changed"
    assert all(p.requires_grad for p in model.parameters())  # traced straight after training, no detach needed

    x, _ = sine_batch(4, 60, dtype, seed=3)  # longer than the training sequences
    v = rnntrace.validate(model.rnn, x, head=model.fc)
    assert v.ok, f"max|ours - torch| = {v.max_abs_diff:.3g} > {v.tolerance:.3g}"

    # the head's y_t is the model's own prediction, step by step
    with torch.no_grad():
        pred = model(x).numpy()  # (N, T, 1)
    tr = v.trace
    atol, rtol = v.atol, v.rtol
    assert tr.y.shape == pred.shape
    assert np.abs(tr.y - pred).max() <= atol + rtol * np.abs(pred).max()
    top = [s for s in tr.steps if s.y_t is not None]
    assert len(top) == x.shape[1]
    for s in top:
        np.testing.assert_array_equal(s.y_t, tr.y[:, s.t])
