"""``backprop`` / ``validate_grads`` take what ``trace`` takes, checked against torch autograd.

Each test builds the graph torch would backpropagate through (a LoadedModel's embedding,
layer and head; a whole model's own forward; a packed batch) and compares every gradient
``backprop`` names with the ``.grad`` torch leaves after ``(y * grad_output).sum().backward()``.
Float64 throughout: the bound is the backward's, 1e-10 + 1e-9 * max|torch|.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnntrace
from rnntrace import Backprop, Trace, backprop, trace, validate_grads
from rnntrace.bptt import TOLERANCES
from rnntrace.records import FRAME_COLUMNS

ATOL, RTOL = TOLERANCES["float64"]


def close(ours: np.ndarray, ref: torch.Tensor, what: str) -> None:
    ref = ref.detach().numpy()
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != torch's {ref.shape}"
    bound = ATOL + RTOL * np.abs(ref).max(initial=0.0)
    assert np.abs(ours - ref).max(initial=0.0) <= bound, f"{what}: max diff {np.abs(ours - ref).max():.3g} > {bound:.3g}"


def layer_grads(bp: Backprop, layer: nn.RNNBase, head: nn.Linear | None = None) -> None:
    """Every parameter gradient of ``bp`` against the .grad torch left on ``layer`` and ``head``."""
    for name, p in layer.named_parameters():
        close(bp.grads[name], p.grad, name)
    for name, p in () if head is None else head.named_parameters():
        close(bp.grads[f"head.{name}"], p.grad, f"head.{name}")


class Tagger(nn.Module):
    """Token ids -> embedding -> LSTM (batch_first) -> a tag per step."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(11, 4)
        self.lstm = nn.LSTM(4, 5, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(10, 3)

    def forward(self, ids):
        return self.fc(self.lstm(self.embedding(ids))[0])


def test_loaded_model_with_embedding_and_head_matches_autograd(tmp_path):
    torch.manual_seed(0)
    model = Tagger().double().eval()
    path = tmp_path / "tagger.safetensors"
    rnntrace.save(model, path)
    lm = rnntrace.load_model(path)
    ids = torch.randint(0, 11, (2, 6))
    go = torch.randn(2, 6, 3, dtype=torch.float64)

    bp = backprop(lm, ids, grad_output=go)

    x = model.embedding(ids).detach().requires_grad_(True)  # the layer's input: what grads["x"] names
    (model.fc(model.lstm(x)[0]) * go).sum().backward()
    layer_grads(bp, model.lstm, model.fc)
    close(bp.grads["x"], x.grad, "x (embedded)")
    assert bp.config.embedding == 11
    assert validate_grads(lm, ids, grad_output=go).ok


class Classifier(nn.Module):
    """(x, lengths) -> packed GRU (two directions) -> a class from the final states."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(3, 4, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(8, 2)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        return self.fc(torch.cat([h_n[-2], h_n[-1]], dim=-1))


class LastStep(nn.Module):
    """x -> RNN (relu, two layers) -> the head on output[:, -1]."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(3, 5, num_layers=2, nonlinearity="relu", batch_first=True)
        self.fc = nn.Linear(5, 2)

    def forward(self, x):
        return self.fc(self.rnn(x)[0][:, -1])


@pytest.mark.parametrize("kind", ["final state", "last step"])
def test_whole_model_through_hooks_matches_its_own_backward(kind):
    torch.manual_seed(1)
    x = torch.randn(3, 7, 3, dtype=torch.float64, requires_grad=True)
    go = torch.randn(3, 2, dtype=torch.float64)
    if kind == "final state":
        model, args = Classifier().double().eval(), (x, torch.tensor([7, 4, 2]))
    else:
        model, args = LastStep().double().eval(), (x,)

    bp = backprop(model, args if len(args) > 1 else x, grad_output=go)

    (model(*args) * go).sum().backward()  # the model's own forward, torch's own backward
    assert bp.config.head_on == kind and bp.config.part == "rnn"
    layer_grads(bp, model.rnn, model.fc)
    grad_x = x.grad if kind == "last step" else x.grad.masked_fill(~torch.as_tensor(bp.trace.valid.T)[..., None], 0)
    close(bp.grads["x"], grad_x, "x")
    assert validate_grads(model, args if len(args) > 1 else x, grad_output=go).ok
    np.testing.assert_array_equal(backprop(model, args if len(args) > 1 else x, part="rnn", grad_output=go).grads["x"], bp.grads["x"])


@pytest.mark.parametrize("mode", ["RNN", "GRU", "LSTM"])
def test_lengths_match_autograd_on_the_packed_forward(mode):
    torch.manual_seed(2)
    layer = getattr(nn, mode)(3, 4, num_layers=2, bidirectional=True, batch_first=True).double().eval()
    head = nn.Linear(8, 2).double()
    lengths = [6, 3, 1]
    x = torch.randn(3, 6, 3, dtype=torch.float64, requires_grad=True)
    shape = (4, 3, 4)
    states = [torch.randn(*shape, dtype=torch.float64, requires_grad=True) for _ in range(2 if mode == "LSTM" else 1)]
    hx = tuple(states) if mode == "LSTM" else states[0]
    go = torch.randn(3, 6, 2, dtype=torch.float64)
    mask = (torch.arange(6)[None, :] < torch.tensor(lengths)[:, None])[..., None]  # (N, T, 1)

    bp = backprop(
        layer, x, h0=tuple(s.detach() for s in states) if mode == "LSTM" else hx.detach(), head=head, lengths=lengths, grad_output=go
    )

    out = pad_packed_sequence(
        layer(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False), hx)[0], batch_first=True, total_length=6
    )[0]
    (head(out) * go * mask).sum().backward()  # padded steps are no part of the loss
    layer_grads(bp, layer, head)
    close(bp.grads["x"], x.grad, "x")
    for name, s in zip(("h0", "c0"), states, strict=False):
        close(bp.grads[name], s.grad, name)
    np.testing.assert_array_equal(bp.grad_output, (go * mask).numpy())

    # padded steps: NaN in every quantity, as in the trace, and left out of the table
    for name in bp.quantities:
        a = bp.quantity(name, 1, 1)
        assert np.isnan(a[~bp.trace.valid]).all() and np.isfinite(a[bp.trace.valid]).all(), name
    frame = bp.to_frame("dh_t")
    assert len(frame) == int(bp.trace.valid.sum()) * 4 * 4  # real (t, sample) x units x (layer, direction)
    assert validate_grads(layer, x.detach(), head=head, lengths=lengths, grad_output=go).ok


def test_lengths_equal_each_sample_on_its_own():
    """A padded batch's gradients are the sum of each sample backpropagated alone on its real steps."""
    torch.manual_seed(3)
    layer = nn.LSTM(3, 4, bidirectional=True).double().eval()
    x = torch.randn(5, 3, 3, dtype=torch.float64)  # (T, N, D)
    lengths = [2, 5, 4]
    go = torch.randn(5, 3, 8, dtype=torch.float64)
    batch = backprop(layer, x, lengths=lengths, grad_output=go)
    alone = [backprop(layer, x[:n, i], grad_output=go[:n, i]) for i, n in enumerate(lengths)]
    for name in dict(layer.named_parameters()):
        np.testing.assert_allclose(batch.grads[name], sum(a.grads[name] for a in alone), rtol=1e-12, atol=1e-13)
    for i, (a, n) in enumerate(zip(alone, lengths, strict=True)):
        np.testing.assert_allclose(batch.grads["x"][:n, i], a.grads["x"], rtol=1e-12, atol=1e-13)
        assert (batch.grads["x"][n:, i] == 0).all()
        np.testing.assert_allclose(batch.grads["h0"][:, i], a.grads["h0"], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(batch.grads["c0"][:, i], a.grads["c0"], rtol=1e-12, atol=1e-13)


def test_packed_sequence_is_taken_like_lengths():
    torch.manual_seed(4)
    layer = nn.GRU(3, 4).double().eval()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    packed = pack_padded_sequence(x, [5, 3], enforce_sorted=False)
    a, b = backprop(layer, packed), backprop(layer, x, lengths=[5, 3])
    for k in a.grads:
        np.testing.assert_array_equal(a.grads[k], b.grads[k])


def test_record_keeps_on_the_trace_what_trace_keeps():
    torch.manual_seed(5)
    layer = nn.LSTM(3, 4, num_layers=2).double().eval()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    full, kept = backprop(layer, x), backprop(layer, x, record=("f_t",))
    for k in full.grads:
        np.testing.assert_array_equal(full.grads[k], kept.grads[k])
    tr = trace(layer, x, record=("f_t",))
    for layer_ in range(2):
        assert set(kept.trace.arrays(layer_, 0)) == set(tr.arrays(layer_, 0))
    np.testing.assert_array_equal(kept.contributions("weight_ih_l1"), full.contributions("weight_ih_l1"))
    with pytest.raises(ValueError, match="was not recorded"):
        kept.trace.quantity("g_t")


def test_backprop_takes_traces_arguments_in_traces_order():
    traced = list(inspect.signature(trace).parameters)
    for f in (backprop, validate_grads):
        assert list(inspect.signature(f).parameters)[: len(traced)] == traced, f.__name__
    assert inspect.signature(Trace.quantity) == inspect.signature(Backprop.quantity)


def test_both_frames_come_from_one_builder():
    torch.manual_seed(6)
    bp = backprop(nn.GRU(3, 4).double(), torch.randn(5, 2, 3, dtype=torch.float64), lengths=[5, 2])
    for frame in (bp.to_frame(), bp.trace.to_frame()):
        assert list(frame.columns) == list(FRAME_COLUMNS)
        assert {c: str(t) for c, t in frame.dtypes.items()} == FRAME_COLUMNS
        assert set(zip(frame["t"], frame["sample"], strict=True)) == {(t, n) for t in range(5) for n in range(2) if t < (5, 2)[n]}
