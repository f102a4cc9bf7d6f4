"""Models written the way public tutorials write them, saved the way their authors save them, loaded back.

Each case builds the ORIGINAL model (the tutorial's own class), saves it as its author would
(``torch.save(model.state_dict(), path)``, a training checkpoint dict, DataParallel, Lightning,
safetensors), loads it with ``rnntrace.load_model`` and checks that ``lm.module``, ``lm.head``
and ``lm.embedding`` reproduce the original's own forward, computed by torch: the oracle.
Whatever the weights cannot say is listed in ``lm.assumed``; every refusal names its fix.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn
from tutorials import (
    CharRNN,
    D2LRNNModel,
    LitModel,
    LSTMTagger,
    OldCharRNN,
    SentimentGRU,
    SineRNN,
    Stacked,
    TakeOutput,
    WordLanguageModel,
    seeded,
)

import rnntrace
from rnntrace.loaders import LoadedModel, LoadError, load_model, read_sequence, save

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN:UserWarning")


def torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def exact(got: torch.Tensor, want: torch.Tensor) -> None:
    """Same weights, same kernels, same input: torch gives the very same numbers."""
    torch.testing.assert_close(got, want, rtol=0, atol=0)


# ---------------------------------------------------------------------------- oracles


def run(rnn: nn.RNNBase, x_bf: torch.Tensor):
    """Run a recurrent module on batch-first x in ITS OWN layout; return batch-first output and h_n."""
    with torch.no_grad():
        out, state = rnn(x_bf if rnn.batch_first else x_bf.transpose(0, 1))
    h_n = state[0] if isinstance(state, tuple) else state
    return (out if rnn.batch_first else out.transpose(0, 1)), h_n


def onehot(ids: torch.Tensor, V: int) -> torch.Tensor:
    return F.one_hot(ids, V).to(torch.float32)


def ids(N: int, T: int, V: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, V, size=(N, T)))


# ---------------------------------------------------------------------------- the tutorials, one by one


def test_char_rnn_tutorial_rnn_plus_h2o():
    model = seeded(lambda: CharRNN(57, 16, 18), 1)
    data = torch_bytes(model.state_dict())  # torch.save(rnn.state_dict(), "char_rnn.pt")
    lm = load_model(data, "char_rnn.pt")
    assert lm.part == "rnn" and lm.embedding is None and lm.head is not None
    assert lm.assumed == {"nonlinearity": "tanh", "batch_first": True}  # the tutorial's nn.RNN is tanh and time-major
    assert "stack 'rnn', head 'h2o'" in lm.description and "nonlinearity=tanh (assumed" in lm.description
    line = onehot(ids(1, 7, 57, seed=2), 57)  # (N=1, T=7, 57)
    with torch.no_grad():
        want = model(line.transpose(0, 1))  # the tutorial feeds (T, 1, n_letters)
        _, h_n = run(lm.module, line)
        exact(F.log_softmax(lm.head(h_n[0]), dim=1), want)
    # told the truth about the layout, the very call of the tutorial works unchanged
    lm_tm = load_model(data, "char_rnn.pt", batch_first=False, nonlinearity="tanh")
    assert lm_tm.assumed == {} and lm_tm.module.batch_first is False
    with torch.no_grad():
        _, hidden = lm_tm.module(line.transpose(0, 1))
        exact(F.log_softmax(lm_tm.head(hidden[0]), dim=1), want)


def test_old_char_rnn_tutorial_without_nn_rnn_is_refused_with_what_is_accepted():
    model = seeded(lambda: OldCharRNN(57, 16, 18))
    with pytest.raises(LoadError) as info:
        load_model(torch_bytes(model.state_dict()), "old.pt")
    message = str(info.value)
    assert "no nn.RNN / nn.GRU / nn.LSTM weights" in message and "'i2h.weight'" in message and "Accepted:" in message


def test_lstm_tagger_tutorial_embedding_lstm_hidden2tag_and_token_ids(tmp_path):
    # The tutorial's sizes: EMBEDDING_DIM = HIDDEN_DIM = 6, so word_embeddings (V, 6) also has a head's shape.
    model = seeded(lambda: LSTMTagger(6, 6, 9, 3), 3)
    path = tmp_path / "tagger.pth"
    torch.save(model.state_dict(), path)
    lm = load_model(path)
    assert lm.part == "lstm"
    assert lm.embedding is not None and lm.embedding.weight.shape == (9, 6)
    assert lm.head is not None and (lm.head.in_features, lm.head.out_features) == (6, 3)
    assert "head 'hidden2tag', embedding 'word_embeddings'" in lm.description
    assert lm.assumed == {"batch_first": True} and lm.ignored == {}
    sentence = torch.tensor([0, 1, 2, 3, 4])  # "The dog ate the apple"
    ids_path = tmp_path / "sentence.npy"
    np.save(ids_path, sentence.numpy())  # (T,) int64
    seq = read_sequence(ids_path, model=lm)
    assert seq.x.dtype == np.int64 and seq.x.shape == (1, 5) and any("token ids" in n for n in seq.notes)
    with torch.no_grad():
        out, _ = run(lm.module, lm.embedding(torch.from_numpy(seq.x)))  # (1, T, 6)
        exact(F.log_softmax(lm.head(out[0]), dim=1), model(sentence))
    # the embedding wants whole numbers in 0..V-1; floats and out-of-range ids are refused with what it needs
    with pytest.raises(LoadError, match=r"starts with an embedding \(V=9 tokens of D=6 features\)"):
        read_sequence(b"0.5\n1\n", "x.csv", model=lm)
    with pytest.raises(LoadError, match=r"token id 9, outside 0..8"):
        read_sequence(b"1\n9\n", "x.csv", model=lm)
    assert read_sequence(b"t,token\n0,4\n1,2\n", "x.csv", model=lm).x.tolist() == [[4, 2]]  # a step column is dropped


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
def test_d2l_rnn_model_rnn_plus_linear_one_hot(cell):
    V, H = 10, 8
    model = seeded(lambda: D2LRNNModel(getattr(nn, cell)(V, H), V), 4)  # d2l: nn.RNN(len(vocab), num_hiddens)
    lm = load_model(torch_bytes(model.state_dict()), "d2l.params.pt", nonlinearity="tanh" if cell == "RNN" else None)
    assert lm.part == "rnn" and lm.head is not None and lm.embedding is None and lm.assumed == {"batch_first": True}
    inputs = ids(2, 5, V, seed=5)  # (N, T)
    with torch.no_grad():
        want, _ = model(inputs, model.begin_state(batch_size=2))  # (T*N, V)
        out, _ = run(lm.module, onehot(inputs, V))  # (N, T, H)
        exact(lm.head(out.transpose(0, 1).reshape(-1, H)), want)
    # token ids for a model without an embedding: said so, with the one-hot fix d2l uses
    with pytest.raises(LoadError) as info:
        read_sequence(_npy(inputs.numpy()), "ids.npy", model=lm)
    message = str(info.value)
    assert "looks like token ids" in message and "a model with an embedding needs them" in message
    assert f"one_hot(ids, {V})" in message


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_embedding_gru_fc_classifier_bidirectional_two_layers():
    model = seeded(lambda: SentimentGRU(20, 5, 4, 3), 6)
    lm = load_model(safetensors.torch.save(dict(model.state_dict())), "sentiment.safetensors")
    assert lm.part == "rnn" and lm.module.bidirectional and lm.module.num_layers == 2
    assert lm.embedding.weight.shape == (20, 5) and (lm.head.in_features, lm.head.out_features) == (8, 3)
    text = ids(3, 6, 20, seed=7)
    with torch.no_grad():
        _, h_n = run(lm.module, lm.embedding(text))
        exact(lm.head(torch.cat((h_n[-2], h_n[-1]), dim=1)), model(text))


def test_word_language_model_encoder_decoder_names():
    model = seeded(lambda: WordLanguageModel(15, 6, 6, 2), 8)  # ninp == nhid: encoder (V, 6) has a head's shape too
    lm = load_model(torch_bytes(model.state_dict()), "model.pt", batch_first=False)
    assert "head 'decoder', embedding 'encoder'" in lm.description and lm.assumed == {}
    inputs = ids(4, 2, 15, seed=9).T  # (T=4, N=2)... time-major, as the example batches
    with torch.no_grad():
        want, _ = model(inputs, None)
        out, _ = lm.module(lm.embedding(inputs))
        exact(lm.head(out), want)


def test_dataparallel_module_prefix(tmp_path):
    net = seeded(lambda: SineRNN(), 10)
    parallel = nn.DataParallel(net)  # on CPU it just calls net; its state_dict says module.*
    path = tmp_path / "checkpoint.pth.tar"
    torch.save({"epoch": 3, "state_dict": parallel.state_dict(), "best_loss": 0.1}, path)
    lm = load_model(path, nonlinearity="relu")
    assert lm.part == "module.rnn" and set(lm.ignored) == {"epoch", "best_loss"}
    x = torch.randn(2, 9, 1)
    with torch.no_grad():
        out, _ = run(lm.module, x)
        exact(lm.head(out), net(x))


def test_lightning_checkpoint_model_prefix():
    net = seeded(lambda: SentimentGRU(12, 4, 3, 2), 11)
    lit = LitModel(net)
    optimizer = torch.optim.Adam(lit.parameters())
    ckpt = {
        "epoch": 7,
        "global_step": 700,
        "pytorch-lightning_version": "2.3.0",
        "state_dict": lit.state_dict(),
        "loops": {"fit_loop": {"state_dict": {}}},
        "callbacks": {"ModelCheckpoint{'monitor': 'val_loss'}": {"best_model_score": torch.tensor(0.3)}},
        "optimizer_states": [optimizer.state_dict()],
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": {"vocab_size": 12, "embed_dim": 4},
    }
    lm = load_model(torch_bytes(ckpt), "epoch=7-step=700.ckpt")
    assert lm.part == "model.rnn" and "optimizer_states" in lm.ignored and "callbacks" in lm.ignored
    assert lm.embedding is not None and lm.head is not None
    text = ids(2, 5, 12, seed=12)
    with torch.no_grad():
        _, h_n = run(lm.module, lm.embedding(text))
        exact(lm.head(torch.cat((h_n[-2], h_n[-1]), dim=1)), net(text))


def test_sequential_numbers_its_children():
    model = seeded(lambda: nn.Sequential(nn.Embedding(11, 4), nn.LSTM(4, 5, batch_first=True), TakeOutput(), nn.Linear(5, 3)), 13)
    lm = load_model(torch_bytes(model.state_dict()), "seq.bin")
    assert lm.part == "1" and "head '3', embedding '0'" in lm.description and lm.assumed == {"batch_first": True}
    text = ids(2, 6, 11, seed=14)
    with torch.no_grad():
        out, _ = run(lm.module, lm.embedding(text))
        exact(lm.head(out), model(text))


def test_two_stacked_recurrent_modules_part_picks_one():
    model = seeded(lambda: Stacked(8, 6), 15)
    data = torch_bytes(model.state_dict())
    first = load_model(data, "stacked.pt")
    assert first.part == "rnn1" and first.head is None  # fc takes rnn2's 6 features, not rnn1's 8
    assert any("also found 'rnn2'" in n and "pass part='rnn2'" in n for n in first.notes)
    assert first.ignored["rnn2.weight_ih_l0"] == "recurrent stack 'rnn2', not loaded (pass part='rnn2')"
    second = load_model(data, "stacked.pt", part="rnn2")
    assert second.part == "rnn2" and second.head is not None
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        y1, _ = run(first.module, x)
        y2, _ = run(second.module, y1)
        exact(second.head(y2), model(x))
    with pytest.raises(LoadError) as info:
        load_model(data, "stacked.pt", part="rnn3")
    assert "its stacks: 'rnn1', 'rnn2'" in str(info.value) and "part='rnn1'" in str(info.value)


def test_two_stacks_of_one_width_the_head_follows_the_second():
    model = seeded(lambda: Stacked(6, 6), 16)
    lm = load_model(torch_bytes(model.state_dict()), "stacked.pt")  # torch.save keeps the modules' order
    assert lm.part == "rnn1" and lm.head is None
    assert any("'fc' fits as a head but follows the stack 'rnn2'" in n and "pass head='fc'" in n for n in lm.notes)
    assert load_model(torch_bytes(model.state_dict()), "stacked.pt", part="rnn2").head is not None
    # safetensors does not keep the order: the head is taken, and the note says it may belong to rnn2
    loose = load_model(safetensors.torch.save(dict(model.state_dict())), "stacked.safetensors")
    assert loose.head is not None and any("fits the stack 'rnn2' too" in n and "head=False" in n for n in loose.notes)
    assert load_model(safetensors.torch.save(dict(model.state_dict())), "stacked.safetensors", head=False).head is None


@pytest.mark.parametrize("key", ["model", "net", "model_state_dict", "weights", "module"])
def test_training_checkpoints_hold_the_weights_under_a_key(key):
    net = seeded(lambda: SineRNN(), 17)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    ckpt = {key: net.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 12, "loss": 0.03}
    lm = load_model(torch_bytes(ckpt), "ckpt.pt", nonlinearity="relu")
    assert lm.part == "rnn" and {"optimizer", "epoch", "loss"} <= set(lm.ignored)
    x = torch.randn(1, 4, 1)
    with torch.no_grad():
        out, _ = run(lm.module, x)
        exact(lm.head(out), net(x))


def test_relu_rnn_assumed_tanh_is_visible_and_wrong_then_exact_when_told():
    net = seeded(lambda: SineRNN(), 18)
    data = torch_bytes(net.state_dict())
    x = torch.sin(torch.linspace(0, 6, 20)).reshape(1, 20, 1)
    with torch.no_grad():
        want = net(x)
        guessed = load_model(data, "sine.pt")
        assert guessed.assumed == {"nonlinearity": "tanh", "batch_first": True}
        assert any("Pass nonlinearity='relu' if your nn.RNN used relu" in n for n in guessed.notes)
        out, _ = run(guessed.module, x)
        assert (guessed.head(out) - want).abs().max() > 1e-3  # the assumption is wrong for this model, and says so
        told = load_model(data, "sine.pt", nonlinearity="relu", batch_first=True)
        assert told.assumed == {}
        out, _ = run(told.module, x)
        exact(told.head(out), want)


def test_time_major_model_assumed_batch_first_is_visible_then_exact_when_told():
    lstm = seeded(lambda: nn.LSTM(3, 4), 19)  # torch's default: batch_first=False, input (T, N, D)
    data = torch_bytes(lstm.state_dict())
    x_tm = torch.randn(6, 2, 3)  # (T, N, D), as the author feeds it
    with torch.no_grad():
        want, _ = lstm(x_tm)
        guessed = load_model(data, "lstm.pt")
        assert guessed.assumed == {"batch_first": True} and guessed.module.batch_first
        assert not torch.allclose(guessed.module(x_tm)[0], want)  # the author's tensor, read as (N, T, D): wrong
        told = load_model(data, "lstm.pt", batch_first=False)
        assert told.assumed == {} and told.module.batch_first is False
        exact(told.module(x_tm)[0], want)


def test_weight_norm_rnn_is_refused_with_the_fix():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(3, 4, batch_first=True)
            self.fc = nn.Linear(4, 2)

    for how, fix in (
        (lambda m: nn.utils.parametrizations.weight_norm(m.rnn, name="weight_hh_l0"), "parametrize.remove_parametrizations(model.rnn"),
        (lambda m: nn.utils.weight_norm(m.rnn, name="weight_hh_l0"), "torch.nn.utils.remove_weight_norm(model.rnn, 'weight_hh_l0')"),
    ):
        net = seeded(Net)
        with pytest.warns(FutureWarning) if "remove_weight_norm" in fix else _nothing():
            how(net)
        with pytest.raises(LoadError) as info:
            load_model(torch_bytes(net.state_dict()), "wn.pt")
        assert fix in str(info.value) and "before saving" in str(info.value)
        with pytest.raises(LoadError, match="weight-normalised"):
            save(net, io.BytesIO())


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_lstm_cell_is_refused_with_the_fix():
    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.LSTMCell(3, 4)
            self.out = nn.Linear(4, 1)

    with pytest.raises(LoadError) as info:
        load_model(torch_bytes(seeded(Loop).state_dict()), "loop.pt")
    assert "nn.LSTMCell" in str(info.value) and "weight_ih -> weight_ih_l0" in str(info.value)


def test_whole_pickled_model_is_refused_unread_with_the_fix():
    with pytest.raises(LoadError) as info:
        load_model(torch_bytes(seeded(lambda: CharRNN(5, 4, 3))), "whole.pt")
    message = str(info.value)
    assert "refused without running it" in message and "torch.save(model.state_dict(), 'model.pt')" in message
    with pytest.raises(LoadError, match=r"not a zip archive written by torch\.save"):
        load_model(pickle.dumps({"weight_ih_l0": 1}), "legacy.ckpt")


def test_explicit_head_and_embedding_choices_and_their_refusals():
    model = seeded(lambda: LSTMTagger(6, 6, 9, 3), 20)
    data = torch_bytes(model.state_dict())
    bare = load_model(data, "t.pt", head=False, embedding=False)
    assert bare.head is None and bare.embedding is None
    assert bare.ignored["hidden2tag.weight"] == "head=False" and bare.ignored["word_embeddings.weight"] == "embedding=False"
    with pytest.raises(LoadError) as info:
        load_model(data, "t.pt", head="lstm")
    assert "head='lstm' is not an nn.Linear" in str(info.value) and "'hidden2tag'" in str(info.value)
    with pytest.raises(LoadError, match=r"embedding='hidden2tag' is not an nn.Embedding .* \(V, 6\)"):
        load_model(data, "t.pt", embedding="hidden2tag")
    with pytest.raises(TypeError, match="part="):
        load_model(data, "t.pt", part=False)
    with pytest.raises(TypeError, match="batch_first="):
        load_model(data, "t.pt", batch_first="yes")


# ---------------------------------------------------------------------------- save: the round trip assumes nothing


@dataclass
class Case:
    name: str
    build: Callable[[], nn.Module]
    forward: Callable[[LoadedModel, nn.Module], tuple[torch.Tensor, torch.Tensor]]  # (ours, the original's)


def _char(lm, model):
    line = onehot(ids(1, 5, 8, seed=1), 8)
    _, h_n = run(lm.module, line)
    return F.log_softmax(lm.head(h_n[0]), dim=1), model(line.transpose(0, 1))


def _tagger(lm, model):
    sentence = torch.tensor([3, 1, 4, 1, 5])
    out, _ = run(lm.module, lm.embedding(sentence)[None])
    return F.log_softmax(lm.head(out[0]), dim=1), model(sentence)


def _sentiment(lm, model):
    text = ids(2, 4, 20, seed=3)
    _, h_n = run(lm.module, lm.embedding(text))
    return lm.head(torch.cat((h_n[-2], h_n[-1]), dim=1)), model(text)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _sine(lm, model):
    x = randn(2, 7, 1)
    out, _ = run(lm.module, x)
    return lm.head(out), model(x)


def _stacked2(lm, model):
    x = randn(2, 5, 3)
    y1, _ = model.rnn1(x)
    out, _ = run(lm.module, y1)
    return lm.head(out), model(x)


CASES = [
    Case("char_rnn", lambda: CharRNN(8, 6, 4), _char),
    Case("tagger", lambda: LSTMTagger(6, 6, 9, 3), _tagger),
    Case("sentiment", lambda: SentimentGRU(20, 5, 4, 3), _sentiment),
    Case("sine_relu", SineRNN, _sine),
    Case("stacked_rnn2", lambda: Stacked(6, 6), _stacked2),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_save_then_load_is_exact_and_assumes_nothing(case, tmp_path):
    model = seeded(case.build, 21)
    path = tmp_path / f"{case.name}.safetensors"
    save(model, path, part="rnn2" if case.name == "stacked_rnn2" else None)
    lm = load_model(path)
    assert lm.assumed == {}, lm.assumed
    assert not any(n.startswith("assumed") for n in lm.notes)
    own = {name: m for name, m in model.named_modules() if isinstance(m, nn.RNNBase)}[lm.part]
    assert type(lm.module) is type(own) and lm.module.batch_first == own.batch_first
    assert getattr(lm.module, "nonlinearity", None) == getattr(own, "nonlinearity", None)
    with torch.no_grad():
        ours, theirs = case.forward(lm, model)
    exact(ours, theirs)
    # and a LoadedModel saves and loads back to the same thing
    again = load_model(_saved(lm), "again.safetensors")
    assert again.assumed == {} and again.part == lm.part
    with torch.no_grad():
        exact(case.forward(again, model)[0], theirs)


def _saved(lm: LoadedModel) -> bytes:
    buffer = io.BytesIO()
    save(lm, buffer)
    return buffer.getvalue()


def test_saved_metadata_is_overridden_by_arguments_and_assumptions_stay_assumed(tmp_path):
    net = seeded(lambda: SineRNN(), 22)
    save(net, tmp_path / "sine.safetensors")
    assert load_model(tmp_path / "sine.safetensors").module.nonlinearity == "relu"
    forced = load_model(tmp_path / "sine.safetensors", nonlinearity="tanh", batch_first=False)
    assert forced.module.nonlinearity == "tanh" and forced.module.batch_first is False and forced.assumed == {}
    # a LoadedModel that had assumed something saves it as still unknown
    guessed = load_model(torch_bytes(net.state_dict()), "sine.pt")
    again = load_model(_saved(guessed), "again.safetensors")
    assert again.assumed == guessed.assumed == {"nonlinearity": "tanh", "batch_first": True}


def test_save_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(ValueError, match=r"holds no nn\.RNN"):
        save(nn.Linear(2, 2), tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match=r"must end in \.safetensors"):
        save(SineRNN(), tmp_path / "x.pt")
    with pytest.raises(TypeError, match=r"nn\.Module holding an nn\.RNN/GRU/LSTM or a LoadedModel"):
        save({"weight_ih_l0": torch.zeros(1)}, tmp_path / "x.safetensors")
    with pytest.raises(LoadError, match="float16"):
        save(nn.GRU(2, 3).half(), tmp_path / "x.safetensors")


def test_a_bare_recurrent_module_saves_too(tmp_path):
    gru = seeded(lambda: nn.GRU(3, 4, num_layers=2, bidirectional=True), 23)  # batch_first=False
    save(gru, tmp_path / "gru.safetensors")
    lm = load_model(tmp_path / "gru.safetensors")
    assert lm.part == "" and lm.assumed == {} and lm.module.batch_first is False and lm.head is None
    x = torch.randn(5, 2, 3)
    with torch.no_grad():
        exact(lm.module(x)[0], gru(x)[0])
    v = rnntrace.validate(lm.module, x.numpy())
    assert v.ok
