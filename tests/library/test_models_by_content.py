"""``load_model`` reads bytes and file objects by their content, as ``torch.load`` and safetensors do.

The three layouts a new user hit ("pass name=... with the bytes"): the d2l model as bytes, the
seq2seq tutorial's encoder through a file object, a bidirectional tagger as bytes. Each loads
with no name at all and is checked against the ORIGINAL model's forward (torch is the oracle),
both as the rebuilt torch modules (exactly) and as rnntrace's replay (float32 tolerance).
"""

from __future__ import annotations

import io
from functools import partial

import numpy as np
import pytest
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn
from tutorials import BiLSTMTagger, D2LRNNModel, EncoderRNN, seeded

import rnntrace
from rnntrace.loaders import LoadError, load_model

RTOL = ATOL = 1e-5  # float32 replay of non-expanding dynamics (STYLE.md)


def torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def ids(N: int, T: int, V: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, V, size=(N, T)))


def close(got: np.ndarray, want: torch.Tensor) -> None:
    want = want.detach().numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= ATOL + RTOL * np.abs(want).max()


class Unnamed(io.RawIOBase):
    """A binary stream with no ``name``: what a socket, a pipe or a wrapper hands over."""

    def __init__(self, data: bytes):
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_d2l_model_as_bytes_without_a_name():
    V, H = 10, 8
    model = seeded(lambda: D2LRNNModel(nn.GRU(V, H), V), 4).eval()
    lm = load_model(torch_bytes(model.state_dict()), batch_first=False)  # bytes only: it is a zip, so torch.save's
    assert lm.part == "rnn" and lm.head is not None and lm.embedding is None and lm.assumed == {}
    assert "bytes given" in lm.description  # the label says what it read
    inputs = ids(2, 5, V, seed=5)  # (N, T)
    x = F.one_hot(inputs.T, V).to(torch.float32)  # (T, N, V), as d2l feeds it
    with torch.no_grad():
        want, _ = model(inputs, model.begin_state(batch_size=2))  # (T*N, V)
        out, _ = lm.module(x)  # (T, N, H)
        torch.testing.assert_close(lm.head(out.reshape(-1, H)), want, rtol=0, atol=0)
    tr = rnntrace.trace(lm, x.numpy())
    close(tr.y.reshape(-1, V), want)  # y: (T, N, V) in the module's time-major layout


def test_seq2seq_encoder_through_a_file_object(tmp_path):
    V, H = 12, 6
    encoder = seeded(lambda: EncoderRNN(V, H), 7).eval()
    path = tmp_path / "encoder_weights"  # no extension: the tutorial's own path names often have none
    torch.save(encoder.state_dict(), path)
    source = ids(3, 4, V, seed=8)  # (N, T)
    with torch.no_grad():
        want_out, want_hidden = encoder(source)  # (N, T, H), (1, N, H)
    for opened in (partial(open, path, "rb"), lambda: io.BytesIO(path.read_bytes()), lambda: io.BufferedReader(Unnamed(path.read_bytes()))):
        with opened() as handle:
            lm = load_model(handle)
        assert lm.part == "gru" and lm.embedding is not None and lm.head is None
        with torch.no_grad():
            out, hidden = lm.module(lm.embedding(source))
        torch.testing.assert_close(out, want_out, rtol=0, atol=0)
        torch.testing.assert_close(hidden, want_hidden, rtol=0, atol=0)
        tr = rnntrace.trace(lm, source)  # int token ids through lm.embedding
        close(tr.output, want_out)
        close(tr.h_n, want_hidden)


def test_bidirectional_tagger_as_bytes_without_a_name():
    V, E, H, K = 15, 5, 8, 4
    tagger = seeded(lambda: BiLSTMTagger(V, E, H, K), 9).eval()
    sentences = ids(2, 7, V, seed=10)  # (N, T)
    with torch.no_grad():
        want = tagger(sentences)  # (N, T, K)
    for data in (torch_bytes(tagger.state_dict()), safetensors.torch.save(dict(tagger.state_dict()))):
        lm = load_model(data)
        assert lm.part == "lstm" and lm.module.bidirectional and lm.assumed == {"batch_first": True}
        assert (lm.head.in_features, lm.head.out_features) == (H, K) and lm.embedding.weight.shape == (V, E)
        with torch.no_grad():
            out, _ = lm.module(lm.embedding(sentences))
            torch.testing.assert_close(lm.head(out), want, rtol=0, atol=0)
        close(rnntrace.trace(lm, sentences).y, want)


@pytest.mark.parametrize("fmt", ["torch.save", "safetensors"])
@pytest.mark.parametrize("how", ["path", "path without extension", "bytes", "bytearray", "BytesIO", "open file", "unnamed stream"])
def test_every_source_of_every_format_is_read_alike(fmt, how, tmp_path):
    gru = seeded(lambda: nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True), 11).eval()
    data = torch_bytes(gru.state_dict()) if fmt == "torch.save" else safetensors.torch.save(dict(gru.state_dict()))
    ext = ".pt" if fmt == "torch.save" else ".safetensors"
    path = tmp_path / ("model" + ("" if how == "path without extension" else ext))
    path.write_bytes(data)
    if how == "open file":
        with open(path, "rb") as handle:
            lm = load_model(handle)
    else:
        lm = load_model(
            {
                "path": path,
                "path without extension": str(path),
                "bytes": data,
                "bytearray": bytearray(data),
                "BytesIO": io.BytesIO(data),
                "unnamed stream": io.BufferedReader(Unnamed(data)),
            }[how]
        )
    assert not any("by its content" in n for n in lm.notes)  # nothing to reconcile: no name disagreed
    x = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(12))
    with torch.no_grad():
        want, want_h = gru(x)
        torch.testing.assert_close(lm.module(x)[0], want, rtol=0, atol=0)
    tr = rnntrace.trace(lm, x.numpy())
    close(tr.output, want)
    close(tr.h_n, want_h)


def test_a_name_that_disagrees_with_the_content_is_noted_not_obeyed():
    gru = seeded(lambda: nn.GRU(3, 4, batch_first=True), 13)
    as_zip = load_model(torch_bytes(gru.state_dict()), "weights.safetensors")
    said = "'weights.safetensors' was read by its content, a zip written by torch.save, not by its extension '.safetensors'."
    assert said in as_zip.notes
    as_st = load_model(safetensors.torch.save(dict(gru.state_dict())), "model.bin")
    assert any("read by its content, a safetensors file, not by its extension '.bin'" in n for n in as_st.notes)
    for lm in (as_zip, as_st):
        torch.testing.assert_close(lm.module.weight_hh_l0, gru.weight_hh_l0, rtol=0, atol=0)


def test_content_that_is_no_model_format_names_the_fix():
    with pytest.raises(LoadError) as info:
        load_model(b"hello, this is text and no model at all\n")
    message = str(info.value)
    assert "the 40 bytes given" in message and "68 65 6c 6c 6f" in message  # the first bytes, shown
    assert "torch.save(model.state_dict(), 'model.pt')" in message and "safetensors.torch.save_file" in message
    with pytest.raises(LoadError, match=r"a raw pickle \(protocol 4\).*refused unread.*torch\.save\(model\.state_dict\(\)"):
        load_model(__import__("pickle").dumps({"weight_ih_l0": [1.0]}, protocol=4))  # never unpickled
    with pytest.raises(LoadError, match="empty"):
        load_model(io.BytesIO(b""))
