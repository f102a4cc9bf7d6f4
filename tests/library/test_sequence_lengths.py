"""A CSV's ``length`` column: each sample's real length, read as ``pack_padded_sequence``'s lengths.

The oracle is torch's packed forward on the same padded X; the refusals name what to write.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnntrace
from rnntrace.loaders import LoadError, read_sequence


def long_csv(X: np.ndarray, lengths, header: str = "sample,t,a,b,length") -> bytes:
    N, T, _ = X.shape
    rows = [header] + [f"{n},{t},{X[n, t, 0]},{X[n, t, 1]},{lengths[n]}" for n in range(N) for t in range(T)]
    return ("\n".join(rows) + "\n").encode()


def test_length_column_gives_the_lengths_and_the_trace_equals_torchs_packed_forward():
    X = np.random.default_rng(0).normal(size=(3, 5, 2)).round(4)
    lengths = [5, 2, 4]
    seq = read_sequence(long_csv(X, lengths), "batch.csv")
    np.testing.assert_array_equal(seq.x, X)
    assert seq.lengths.dtype == np.int64 and seq.lengths.tolist() == lengths
    assert "lengths [5, 2, 4]" in seq.description
    assert any("sample 1: 2 of 5, sample 2: 4 of 5 (steps t >= length are padding)" in n for n in seq.notes), seq.notes
    gru = nn.GRU(2, 3, batch_first=True).double()
    packed = pack_padded_sequence(torch.from_numpy(X), torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        out, h_n = gru(packed)
    want = pad_packed_sequence(out, batch_first=True, total_length=5)[0].numpy()
    tr = rnntrace.trace(gru, seq.x, lengths=seq.lengths)
    np.testing.assert_allclose(tr.output, want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(tr.h_n, h_n.numpy(), rtol=1e-10, atol=1e-10)


def test_full_lengths_and_one_sample():
    X = np.arange(8.0).reshape(1, 4, 2)
    seq = read_sequence(b"a,b,length\n0,1,3\n2,3,3\n4,5,3\n6,7,3\n", "one.csv")
    np.testing.assert_array_equal(seq.x, X)
    assert seq.lengths.tolist() == [3]
    assert read_sequence(b"a,b\n0,1\n", "plain.csv").lengths is None


@pytest.mark.parametrize(
    ("lengths", "fragment"),
    [
        ([5, "2.5"], "sample 1 has length 2.5; a length is a whole number of steps in 1..5"),
        ([5, 0], "sample 1 has length 0; a length is a whole number of steps in 1..5"),
        ([6, 5], "sample 0 has length 6; a length is a whole number of steps in 1..5"),
    ],
)
def test_bad_lengths_are_refused_with_what_to_write(lengths, fragment):
    X = np.zeros((2, 5, 2))
    with pytest.raises(LoadError, match=fragment.replace(".", r"\.")):
        read_sequence(long_csv(X, lengths), "bad.csv")


def test_a_length_that_changes_within_a_sample_and_ragged_samples_name_the_fix():
    with pytest.raises(LoadError, match=r"sample 0's 'length' column holds 2 different values \(2, 3\); it must repeat"):
        read_sequence(b"sample,a,length\n0,1,3\n0,2,2\n0,3,3\n", "x.csv")
    with pytest.raises(LoadError, match=r"pad each sample to T rows \(any number\) and give its real length in a 'length' column"):
        read_sequence(b"sample,a\n0,1\n0,2\n1,3\n", "x.csv")
    with pytest.raises(LoadError, match=r"a 'length' column and no feature column"):
        read_sequence(b"length\n1\n", "x.csv")


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_an_npz_lengths_array_beside_x_gives_the_lengths_and_the_trace_equals_torchs_packed_forward():
    X = np.random.default_rng(1).normal(size=(3, 6, 2))
    lengths = [3, 6, 1]
    seq = read_sequence(npz(x=X, lengths=np.array(lengths)), "batch.npz")
    np.testing.assert_array_equal(seq.x, X)
    assert seq.lengths.dtype == np.int64 and seq.lengths.tolist() == lengths
    assert "lengths [3, 6, 1]" in seq.description
    assert any(n.startswith("lengths from the 'lengths' array: sample 0: 3 of 6, sample 2: 1 of 6") for n in seq.notes), seq.notes
    lstm = nn.LSTM(2, 3, batch_first=True).double()
    packed = pack_padded_sequence(torch.from_numpy(X), torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        out, (h_n, c_n) = lstm(packed)
    tr = rnntrace.trace(lstm, seq.x, lengths=seq.lengths)
    np.testing.assert_allclose(tr.output, pad_packed_sequence(out, batch_first=True, total_length=6)[0].numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(tr.h_n, h_n.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(tr.c_n, c_n.numpy(), rtol=1e-10, atol=1e-10)
    # a float array of whole numbers named 'length' reads the same; one (T, D) sample takes one length
    assert read_sequence(npz(x=X, length=np.array([3.0, 6.0, 1.0])), "b.npz").lengths.tolist() == lengths
    assert read_sequence(npz(x=X[0], lengths=np.array([4])), "b.npz").lengths.tolist() == [4]


@pytest.mark.parametrize(
    ("lengths", "fragment"),
    [
        ([6, 2], "has shape (2,); the sequence has N=3 sample(s), so save one whole number in 1..6 per sample"),
        ([6, 2, 4, 1], "has shape (4,); the sequence has N=3 sample(s)"),
        ([[6, 2, 4]], "has shape (1, 3); the sequence has N=3 sample(s)"),
        ([6, 0, 4], "sample 1 has length 0; a length is a whole number of steps in 1..6"),
        ([6, 7, 4], "sample 1 has length 7; a length is a whole number of steps in 1..6"),
        ([6, 2.5, 4], "sample 1 has length 2.5; a length is a whole number of steps in 1..6"),
    ],
)
def test_bad_npz_lengths_name_the_fix(lengths, fragment):
    X = np.zeros((3, 6, 2))
    with pytest.raises(LoadError, match=re.escape(fragment)) as err:
        read_sequence(npz(x=X, lengths=np.array(lengths)), "bad.npz")
    assert "np.savez(path, x=x, lengths=" in str(err.value)
