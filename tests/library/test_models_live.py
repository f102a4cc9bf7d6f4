"""Whole live models, written the way public tutorials write them, traced through their own forward.

``trace(model, x)`` runs ``model``'s forward with hooks, replays the recurrent layer on
what it received, and traces the ``nn.Linear`` that read its output as the head. The
oracle is each model's own computation, done here in torch by the test (the head on the
layer's output, the final states, the packed forward), never rnntrace's own numbers.
"""

from __future__ import annotations

import dataclasses
import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from test_trace_torch import TOL, assert_close
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from tutorials import CharRNN, D2LRNNModel, LSTMTagger, Stacked, TakeOutput, seeded

import rnntrace

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")


def ids(*shape: int, V: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(1, V, shape, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------- the tutorials' classes


class PackedClassifier(nn.Module):
    """embedding -> pack_padded_sequence -> recurrent layer -> a head on one of its outputs."""

    def __init__(
        self, cell: str = "GRU", V: int = 20, D: int = 4, H: int = 5, layers: int = 1, bidirectional: bool = False, on: str = "every"
    ):
        super().__init__()
        self.embedding = nn.Embedding(V, D, padding_idx=0)
        self.rnn = getattr(nn, cell)(D, H, num_layers=layers, bidirectional=bidirectional, batch_first=True)
        self.fc = nn.Linear(H * (2 if bidirectional else 1), 3)
        self.on = on

    def forward(self, text, lengths):  # (N, T) ids, (N,) lengths
        packed = pack_padded_sequence(self.embedding(text), lengths, batch_first=True, enforce_sorted=False)
        out, h = self.rnn(packed)
        h_n = h[0] if isinstance(h, tuple) else h
        if self.on == "every":  # a tagger: the head on every step
            return self.fc(pad_packed_sequence(out, batch_first=True)[0])
        if self.on == "last":  # output[:, -1] of the padded output: zeros for the shorter samples
            return self.fc(pad_packed_sequence(out, batch_first=True)[0][:, -1])
        if self.on == "h_n":
            return self.fc(h_n[-1])
        return self.fc(torch.cat((h_n[-2], h_n[-1]), dim=1))  # "final": both directions' final states


# ---------------------------------------------------------------------------- tests


def test_char_rnn_head_on_the_final_hidden_state():
    model = seeded(lambda: CharRNN(6, 8, 4))
    x = F.one_hot(ids(9, 1, V=6), 6).float()  # (T, 1, n_letters)
    with torch.no_grad():
        _, hidden = model.rnn(x)
        y = model.h2o(hidden[0])  # (1, K): the tutorial's logits, before its LogSoftmax
    v = rnntrace.validate(model, x)
    assert v.ok, v.message
    tr = v.trace
    assert_close(tr.y, y, torch.float32, "y = h2o(hidden[0])")
    assert tr.config.head_on == "last step" and tr.config.part == "rnn" and tr.config.output_size == 4
    assert tr.notes[0].startswith("part: 'rnn' = model.rnn, nn.RNN(6, 8)")
    assert tr.notes[1].startswith("head: model.h2o found by hook, applied to the last step")
    last = tr.at(-1)[0]
    np.testing.assert_array_equal(last.y_t, tr.y)  # y_t sits on the step that completes h_n
    assert np.isnan(tr.at(0)[0].y_t).all()
    assert v.torch_y.shape == (1, 4)


def test_lstm_tagger_embedding_and_head_on_every_step():
    model = seeded(lambda: LSTMTagger(5, 6, 12, 3))
    sentence = ids(7, V=12)
    with torch.no_grad():
        embeds = model.word_embeddings(sentence).view(7, 1, -1)
        out, _ = model.lstm(embeds)
        y = model.hidden2tag(out)  # (T, 1, K)
    v = rnntrace.validate(model, sentence)
    assert v.ok, v.message
    tr = v.trace
    assert_close(tr.y, y, torch.float32, "y = hidden2tag(lstm_out)")
    assert_close(tr.quantity("x_t", 0), embeds, torch.float32, "x_t of layer 0 = word_embeddings(ids)")
    assert tr.config.head_on == "every step" and tr.config.embedding == 12
    assert any(n.startswith("embedding: model.word_embeddings (V=12)") for n in tr.notes)
    assert any("model.hidden2tag found by hook, applied to every step" in n for n in tr.notes)


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
def test_d2l_model_takes_inputs_and_state(cell):
    V = 9
    model = seeded(lambda: D2LRNNModel(getattr(nn, cell)(V, 7, num_layers=2), V))
    inputs = ids(3, 5, V=V)  # (N, T)
    h = 0.3 * torch.randn(2, 3, 7, generator=torch.Generator().manual_seed(1))
    state = (h, 0.5 * h) if cell == "LSTM" else h
    with torch.no_grad():
        X = F.one_hot(inputs.T, V).float()
        Y, new_state = model.rnn(X, state)
        y = model.linear(Y)  # (T, N, V)
    v = rnntrace.validate(model, (inputs, state))  # a tuple: the forward's arguments
    assert v.ok, v.message
    tr = v.trace
    assert_close(tr.y, y, torch.float32, "y")
    h_n = new_state[0] if cell == "LSTM" else new_state
    assert_close(tr.h_n, h_n, torch.float32, "h_n from the given state")
    np.testing.assert_array_equal(tr.at(0)[0].h_prev, h[0].numpy())  # the state it was given, not zeros


def test_sequential_embedding_lstm_take_output_linear():
    model = seeded(lambda: nn.Sequential(nn.Embedding(10, 4), nn.LSTM(4, 6, batch_first=True), TakeOutput(), nn.Linear(6, 2)))
    x = ids(2, 5, V=10)
    with torch.no_grad():
        expected = model(x)  # (N, T, K): the Linear on every step
    v = rnntrace.validate(model, x)
    assert v.ok, v.message
    assert_close(v.trace.y, expected, torch.float32, "y = the model's own output")
    assert v.trace.config.part == "1"
    assert any(n.startswith("head: model[3] found by hook") for n in v.trace.notes)
    assert any(n.startswith("embedding: model[0]") for n in v.trace.notes)


@pytest.mark.parametrize(
    ("cell", "layers", "bidirectional", "on", "head_on"),
    [
        ("GRU", 2, True, "every", "every step"),
        ("LSTM", 1, False, "h_n", "last step"),
        ("RNN", 2, False, "last", "last step"),
        ("GRU", 2, True, "final", "final state"),
        ("LSTM", 1, True, "final", "final state"),
    ],
)
def test_model_that_packs_its_input(cell, layers, bidirectional, on, head_on):
    model = seeded(lambda: PackedClassifier(cell, layers=layers, bidirectional=bidirectional, on=on))
    lengths = torch.tensor([6, 2, 4, 5])
    text = ids(4, 6, V=20)
    for n, length in enumerate(lengths):
        text[n, length:] = 0  # padding token
    with torch.no_grad():
        expected = model(text, lengths)
    v = rnntrace.validate(model, (text, lengths))
    assert v.ok, v.message
    tr = v.trace
    assert tr.config.head_on == head_on and tr.config.lengths == (6, 2, 4, 5)
    if on == "every":
        valid = tr.valid.T[:, :, None]  # (N, T, 1), the model's batch_first layout
        assert_close(np.where(valid, tr.y, 0), np.where(valid, expected.numpy(), 0), torch.float32, "y on real steps")
    else:
        assert_close(tr.y, expected, torch.float32, "y = the model's own output")
    assert any("received a PackedSequence" in n for n in tr.notes)


def test_part_picks_one_of_two_layers():
    model = seeded(Stacked)
    x = torch.randn(2, 5, 3)
    with pytest.raises(ValueError, match="part='rnn1'"):
        rnntrace.trace(model, x)
    with torch.no_grad():
        a, _ = model.rnn1(x)
    first = rnntrace.validate(model, x, part="rnn1")
    assert first.ok and first.trace.config.cell == "LSTM" and first.trace.y is None
    assert_close(first.trace.output, a, torch.float32, "rnn1's output")
    assert any(n.startswith("head: none") for n in first.trace.notes)
    second = rnntrace.validate(model, x, part="rnn2")
    assert second.ok and second.trace.config.cell == "GRU"
    assert_close(second.trace.quantity("x_t", 0), a.transpose(0, 1), torch.float32, "rnn2's input is rnn1's output")
    with torch.no_grad():
        assert_close(second.trace.y, model(x), torch.float32, "y")


def test_a_linear_after_dropout_in_training_is_named_not_traced():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(3, 6, batch_first=True)
            self.drop = nn.Dropout(0.5)
            self.fc = nn.Linear(6, 2)

        def forward(self, x):
            return self.fc(self.drop(self.rnn(x)[0]))

    model = seeded(Net).train()
    v = rnntrace.validate(model, torch.randn(2, 5, 3))
    assert v.ok and v.trace.y is None
    assert any(n.startswith("not traced: model.fc") for n in v.trace.notes)
    assert any(n.startswith("head: none") for n in v.trace.notes)


def test_explicit_head_with_a_whole_model():
    model = seeded(lambda: rnntrace.SimpleRNN(3, 4, 2))
    other = seeded(lambda: nn.Linear(4, 3), seed=5)
    x = torch.randn(2, 5, 3)
    tr = rnntrace.trace(model, x, head=other)
    with torch.no_grad():
        y = other(model.rnn(x)[0])
    assert_close(tr.y, y, torch.float32, "the given head on every step")
    assert any("given as head=" in n for n in tr.notes)
    assert rnntrace.trace(model, x, head=model.fc).config.head_on == "every step"


def test_model_on_a_float64_layer_and_a_hook_free_afterwards():
    model = seeded(lambda: rnntrace.SimpleRNN(3, 4, 2, "lstm", dtype=torch.float64, bidirectional=True))
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    v = rnntrace.validate(model, x)
    assert v.ok and v.tolerance < 1e-9
    assert not model.rnn._forward_hooks and not model.fc._forward_hooks  # removed after the forward


def _loaded(module, head, embedding, notes=("part: rnn",), assumed=None):
    """A LoadedModel as load_model returns it; duck-typed, as trace() reads it."""
    return SimpleNamespace(
        module=module, head=head, embedding=embedding, description="", assumed=assumed or {}, notes=notes, ignored={}, part="rnn"
    )


def test_loaded_model_embeds_token_ids_and_keeps_its_notes():
    emb, lstm, fc = seeded(lambda: nn.Embedding(11, 4)), seeded(lambda: nn.LSTM(4, 5, batch_first=True)), seeded(lambda: nn.Linear(5, 3))
    lm = _loaded(lstm, fc, emb, assumed={"batch_first": True})
    x = ids(2, 6, V=11)
    with torch.no_grad():
        vectors = emb(x)
        y = fc(lstm(vectors)[0])
    v = rnntrace.validate(lm, x)
    assert v.ok, v.message
    assert_close(v.trace.y, y, torch.float32, "y = head(lstm(embedding(ids)))")
    assert_close(v.trace.quantity("x_t", 0), vectors.transpose(0, 1), torch.float32, "x_t = embedding(ids)")
    notes = v.trace.notes
    assert notes[0] == "part: rnn"
    assert any("assumed" in n and "batch_first=True" in n for n in notes)
    assert any(n.startswith("embedding: lm.embedding (V=11, D=4)") for n in notes)
    assert v.trace.config.embedding == 11
    # float vectors are taken as already embedded, and said so
    tr = rnntrace.trace(lm, vectors)
    assert any("already embedded" in n for n in tr.notes)
    np.testing.assert_array_equal(tr.output, v.trace.output)


def test_real_load_model_round_trip():
    loaders = rnntrace.loaders
    fields = {f.name for f in dataclasses.fields(loaders.LoadedModel)}
    if not {"embedding", "assumed", "notes"} <= fields:
        pytest.skip("load_model does not return embeddings yet")
    model = seeded(lambda: LSTMTagger(5, 6, 12, 3))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    lm = loaders.load_model(buffer.getvalue(), name="tagger.pt", batch_first=False)
    sentence = ids(7, 1, V=12)  # (T, N): time-major, as the tagger's layer takes it
    with torch.no_grad():
        y = model.hidden2tag(model.lstm(model.word_embeddings(sentence))[0])
    v = rnntrace.validate(lm, sentence)
    assert v.ok, v.message
    assert_close(v.trace.y, y, torch.float32, "y")


# ---------------------------------------------------------------------------- over the option space


class Generic(nn.Module):
    """A recurrent layer inside a model, with an optional projection in front and a head on some output."""

    def __init__(self, cell, D, H, layers, bidirectional, batch_first, on, packed, pre):
        super().__init__()
        self.pre = nn.Linear(D, D) if pre else nn.Identity()
        self.rnn = getattr(nn, cell)(D, H, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
        dirs = 2 if bidirectional else 1
        self.head = nn.Linear(H * dirs, 2)
        self.on, self.packed = on, packed

    def forward(self, x, lengths=None):
        x = self.pre(x)
        bf = self.rnn.batch_first
        if self.packed:
            x = pack_padded_sequence(x, lengths, batch_first=bf, enforce_sorted=False)
        out, h = self.rnn(x)
        if self.packed:
            out = pad_packed_sequence(out, batch_first=bf)[0]
        h_n = h[0] if isinstance(h, tuple) else h
        if self.on == "every":
            return self.head(out)
        if self.on == "last":
            return self.head(out[:, -1] if bf else out[-1])
        if self.on == "h_n":
            return self.head(h_n[-1])
        return self.head(torch.cat((h_n[-2], h_n[-1]), dim=1))


@given(data=st.data())
def test_any_layout_validates_and_y_is_the_models_output(data):
    cell = data.draw(st.sampled_from(["RNN", "GRU", "LSTM"]))
    bidirectional = data.draw(st.booleans())
    on = data.draw(st.sampled_from(["every", "last", "final" if bidirectional else "h_n"]))
    batch_first, packed = data.draw(st.booleans()), data.draw(st.booleans())
    D, H, layers = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5)), data.draw(st.integers(1, 2))
    N, T = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 5))
    dtype = data.draw(st.sampled_from([torch.float32, torch.float64]))
    seed = data.draw(st.integers(0, 2**16))
    model = seeded(lambda: Generic(cell, D, H, layers, bidirectional, batch_first, on, packed, data.draw(st.booleans())), seed).to(dtype)
    x = torch.randn((N, T, D) if batch_first else (T, N, D), dtype=dtype, generator=torch.Generator().manual_seed(seed))
    lengths = torch.tensor([T, *data.draw(st.lists(st.integers(1, T), min_size=N - 1, max_size=N - 1))]) if packed else None
    args = (x, lengths) if packed else x
    with torch.no_grad():
        expected = model(*args) if packed else model(args)
    v = rnntrace.validate(model, args)
    assert v.ok, v.message
    tr = v.trace
    assert tr.config.head_on == {"every": "every step", "last": "last step", "h_n": "last step", "final": "final state"}[on]
    y = tr.y
    if on == "every":
        valid = tr.valid.T[:, :, None] if batch_first else tr.valid[:, :, None]
        y, expected = np.where(valid, y, 0), np.where(valid, expected.numpy(), 0)
    assert_close(y, expected, dtype, "y = the model's own output")
    atol, rtol = TOL[dtype]
    assert (v.atol, v.rtol) == (atol, rtol)


def test_loaded_model_with_lengths_equals_the_packed_forward():
    emb, gru, fc = (
        seeded(lambda: nn.Embedding(9, 3)),
        seeded(lambda: nn.GRU(3, 4, batch_first=True, bidirectional=True)),
        seeded(lambda: nn.Linear(8, 2)),
    )
    lm = _loaded(gru, fc, emb)
    x, lengths = ids(3, 5, V=9), torch.tensor([5, 2, 3])
    with torch.no_grad():
        out, h_n = gru(pack_padded_sequence(emb(x), lengths, batch_first=True, enforce_sorted=False))
        out = pad_packed_sequence(out, batch_first=True)[0]
    v = rnntrace.validate(lm, x, lengths=lengths)
    assert v.ok, v.message
    assert_close(v.trace.output, out, torch.float32, "output")
    assert_close(v.trace.h_n, h_n, torch.float32, "h_n")


def test_unbatched_layer_input_inside_a_model():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(3, 5)
            self.out = nn.Linear(5, 2)

        def forward(self, x):  # (T, D): one unbatched sequence
            return self.out(self.rnn(x)[0])  # (T, K)

    model = seeded(Net)
    x = torch.randn(6, 3)
    with torch.no_grad():
        expected = model(x)
    v = rnntrace.validate(model, x)
    assert v.ok, v.message
    assert v.trace.config.unbatched and v.trace.y.shape == (6, 2)
    assert_close(v.trace.y, expected, torch.float32, "y")


def test_steps_of_a_whole_model_run_its_forward_at_the_call():
    model = seeded(lambda: rnntrace.SimpleRNN(3, 4, 2, "gru", num_layers=2))
    x = torch.randn(2, 5, 3)
    gen = rnntrace.steps(model, x)
    first = next(gen)
    assert (first.layer, first.direction, first.t) == (0, 0, 0)
    rest = list(gen)
    tops = [s for s in [first, *rest] if s.y_t is not None]
    with torch.no_grad():
        y = model(x)  # (N, T, K)
    for s in tops:
        assert_close(s.y_t, y[:, s.t], torch.float32, f"y_t at t {s.t}")
