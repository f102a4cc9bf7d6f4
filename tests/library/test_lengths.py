"""``lengths=`` and ``PackedSequence``: padded batches replayed like torch's packed forward.

The oracle is torch twice over:
- ``module(pack_padded_sequence(x, lengths, enforce_sorted=False))``, padded back with
  ``pad_packed_sequence(..., total_length=T)``: output, h_n, c_n;
- each sample alone, cut to its own length, through the per-step torch-ops oracle of
  ``test_trace_torch`` (``torch_steps``): every gate and state of every real step.

Padded steps are not computed: every recorded value there is NaN, ``Trace.valid`` is False.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from test_trace_torch import MODES, assert_close, torch_steps
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnntrace

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")


@st.composite
def padded_cases(draw):
    """A module, a padded batch, lengths (at least one sample shorter than T, one of length T), h0, head."""
    mode = draw(st.sampled_from(list(MODES)))
    cls, kwargs = MODES[mode]
    H = draw(st.integers(1, 5))
    if mode == "LSTM":
        kwargs = {**kwargs, "proj_size": draw(st.integers(0, H - 1))}
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    L, bidirectional, batch_first = draw(st.integers(1, 2)), draw(st.booleans()), draw(st.booleans())
    D, T, N = draw(st.integers(1, 4)), draw(st.integers(2, 7)), draw(st.integers(2, 4))
    lengths = [T, *draw(st.lists(st.integers(1, T), min_size=N - 1, max_size=N - 1))]
    order = draw(st.permutations(range(N)))
    lengths = [lengths[i] for i in order]  # unsorted: enforce_sorted=False
    seed = draw(st.integers(0, 2**31 - 1))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = cls(D, H, num_layers=L, bidirectional=bidirectional, batch_first=batch_first, dtype=dtype, **kwargs).eval()
        dirs = 2 if bidirectional else 1
        head = nn.Linear(dirs * (module.proj_size or H), 2, dtype=dtype) if draw(st.booleans()) else None
        x = torch.randn(N, T, D, dtype=dtype)  # (N, T, D)
        x_tnd = x.transpose(0, 1)  # (T, N, D)
        h0 = 0.5 * torch.randn(L * dirs, N, module.proj_size or H, dtype=dtype) if draw(st.booleans()) else None
        c0 = 0.5 * torch.randn(L * dirs, N, H, dtype=dtype) if mode == "LSTM" and h0 is not None else None
    # garbage in the padding must not matter
    for n, length in enumerate(lengths):
        x_tnd[length:, n] = 1e3
    x_arg = x if batch_first else x_tnd.contiguous()
    state = None if h0 is None else ((h0, c0) if mode == "LSTM" else h0)
    return module, x_arg, torch.tensor(lengths), state, head


def _packed_forward(module, x, lengths, state):
    """torch's packed forward, padded back to (T, N, ·) time-major."""
    T = x.shape[1] if module.batch_first else x.shape[0]
    with torch.no_grad():
        packed = pack_padded_sequence(x, lengths, batch_first=module.batch_first, enforce_sorted=False)
        out, h = module(packed, state)
        out = pad_packed_sequence(out, batch_first=False, total_length=T)[0]
    h_n, c_n = h if isinstance(h, tuple) else (h, None)
    return out, h_n, c_n


@given(case=padded_cases())
def test_lengths_equal_torch_packed_forward(case):
    module, x, lengths, state, head = case
    dtype = next(module.parameters()).dtype
    out, h_n, c_n = _packed_forward(module, x, lengths, state)
    tr = rnntrace.trace(module, x, h0=state, head=head, lengths=lengths)

    out_ours = tr.output.transpose(1, 0, 2) if module.batch_first else tr.output  # (T, N, F)
    assert_close(out_ours, out, dtype, "output (zeros on padding, like pad_packed_sequence)")
    assert_close(tr.h_n, h_n, dtype, "h_n, each sample at its own last step")
    if c_n is not None:
        assert_close(tr.c_n, c_n, dtype, "c_n")
    T = out.shape[0]
    np.testing.assert_array_equal(tr.valid, np.arange(T)[:, None] < lengths.numpy()[None, :])
    np.testing.assert_array_equal(tr.lengths, lengths.numpy())
    assert tr.config.lengths == tuple(lengths.tolist())
    if head is not None:
        with torch.no_grad():
            y = head(out)  # (T, N, K)
        y_ours = tr.y.transpose(1, 0, 2) if module.batch_first else tr.y
        valid = tr.valid[:, :, None]
        assert_close(np.where(valid, y_ours, 0), np.where(valid, y.numpy(), 0), dtype, "y on real steps")
        assert np.isnan(y_ours[~tr.valid]).all(), "y_t on padded steps"

    v = rnntrace.validate(module, x, h0=state, head=head, lengths=lengths)
    assert v.ok, v.message
    assert v.overflow is None
    assert_close(v.torch_h_n, h_n, dtype, "validate's torch_h_n is the packed forward's")


@given(case=padded_cases())
def test_every_real_step_matches_the_sample_run_alone(case):
    """Each sample's real steps are exactly what torch computes on that sample cut to its length."""
    module, x, lengths, state, head = case
    dtype = next(module.parameters()).dtype
    tr = rnntrace.trace(module, x, h0=state, head=head, lengths=lengths)
    x_tnd = x.transpose(0, 1) if module.batch_first else x  # (T, N, D)
    L, dirs = module.num_layers, 2 if module.bidirectional else 1
    h_out = module.proj_size or module.hidden_size
    fields = [f for f in module_fields(module) if f != "y_t"]
    for n, length in enumerate(lengths.tolist()):
        if state is None:
            h0 = torch.zeros(L * dirs, 1, h_out, dtype=dtype)
            c0 = torch.zeros(L * dirs, 1, module.hidden_size, dtype=dtype) if isinstance(module, nn.LSTM) else None
        else:
            h0, c0 = (state[0][:, n : n + 1], state[1][:, n : n + 1]) if isinstance(state, tuple) else (state[:, n : n + 1], None)
        ref = torch_steps(module, x_tnd[:length, n : n + 1], h0, c0, head)
        for s in tr.steps:
            where = f"sample {n} (length {length}) layer {s.layer} direction {s.direction} t {s.t}"
            if s.t >= length:
                for f in fields:
                    assert np.isnan(getattr(s, f)[n]).all(), f"{f} at padded {where}"
                continue
            q = ref[(s.layer, s.direction, s.t)]
            for f in fields:
                assert_close(getattr(s, f)[n : n + 1], q[f], dtype, f"{f} at {where}")


def module_fields(module: nn.RNNBase) -> tuple[str, ...]:
    return rnntrace.spec.SPECS[module.mode].quantities


def test_packed_sequence_given_directly_equals_torch():
    torch.manual_seed(1)
    module = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True).eval()
    x = torch.randn(3, 6, 3)
    packed = pack_padded_sequence(x, torch.tensor([2, 6, 4]), batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        out, (h_n, c_n) = module(packed)
        out = pad_packed_sequence(out, batch_first=True)[0]
    tr = rnntrace.trace(module, packed)
    assert_close(tr.output, out, torch.float32, "output")
    assert_close(tr.h_n, h_n, torch.float32, "h_n")
    assert_close(tr.c_n, c_n, torch.float32, "c_n")
    assert tr.config.lengths == (2, 6, 4)
    assert any("PackedSequence" in n for n in tr.notes)
    v = rnntrace.validate(module, packed)
    assert v.ok, v.message


def test_reverse_direction_starts_from_h0_at_each_sample_end():
    module = nn.GRU(2, 3, bidirectional=True)
    x = torch.randn(5, 2, 2)  # (T, N, D)
    h0 = torch.randn(2, 2, 3)
    tr = rnntrace.trace(module, x, h0=h0, lengths=[5, 3])
    reverse = {s.t: s for s in tr.steps if s.direction == 1}
    np.testing.assert_array_equal(reverse[4].h_prev[0], h0[1, 0].numpy())  # full-length sample: t = T-1
    np.testing.assert_array_equal(reverse[2].h_prev[1], h0[1, 1].numpy())  # length 3: its reverse pass starts at t = 2
    assert np.isnan(reverse[3].h_prev[1]).all() and np.isnan(reverse[4].h_t[1]).all()
    # each sample's h_n: forward at its own last step, reverse at t = 0
    np.testing.assert_array_equal(tr.h_n[0, 1], tr.quantity("h_t", 0, 0)[2, 1])
    np.testing.assert_array_equal(tr.h_n[1, 1], tr.quantity("h_t", 0, 1)[0, 1])


def test_padding_is_left_out_of_the_frame_and_steps_are_nan():
    module = nn.RNN(2, 3)
    tr = rnntrace.trace(module, torch.randn(4, 2, 2), lengths=[4, 1], head=nn.Linear(3, 1))
    frame = tr.to_frame()
    assert not ((frame["sample"] == 1) & (frame["t"] >= 1)).any()
    assert frame["value"].notna().all()
    assert len(frame[(frame["sample"] == 0) & (frame["quantity"] == "h_t")]) == 4 * 3
    s = tr.at(2)[0]
    assert np.isnan(s.h_t[1]).all() and np.isfinite(s.h_t[0]).all()
    assert np.isnan(s.x_t[1]).all() and np.isnan(s.y_t[1]).all()
    np.testing.assert_array_equal(tr.output[1:, 1], 0)  # time-major output, zeros past the end
    assert "padded" in repr(tr)


def test_full_lengths_change_nothing():
    module = nn.LSTM(3, 4, num_layers=2)
    x = torch.randn(6, 3, 3)
    a, b = rnntrace.trace(module, x), rnntrace.trace(module, x, lengths=[6, 6, 6])
    np.testing.assert_array_equal(a.output, b.output)
    np.testing.assert_array_equal(a.h_n, b.h_n)
    assert b.valid.all() and a.valid.all() and a.lengths is None


def test_steps_generator_with_lengths():
    module = nn.GRU(2, 3, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(2, 4, 2)
    tr = rnntrace.trace(module, x, lengths=[4, 2])
    lazy = list(rnntrace.steps(module, x, lengths=[4, 2]))
    assert len(lazy) == len(tr.steps)
    for a, b in zip(lazy, tr.steps, strict=True):
        np.testing.assert_array_equal(a.h_t, b.h_t)
        np.testing.assert_array_equal(a.h_prev, b.h_prev)
